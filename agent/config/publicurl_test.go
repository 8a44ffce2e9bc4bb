package config

import (
	"strings"
	"testing"
)

func TestConsoleBaseURL(t *testing.T) {
	tests := []struct {
		name   string
		c      Config
		want   string
		errors bool
	}{
		{"explicit", Config{PublicURL: "https://xen1.example.net:8443/", Listen: "0.0.0.0:8080"}, "https://xen1.example.net:8443", false},
		{"from listen", Config{Listen: "10.0.0.5:8080"}, "http://10.0.0.5:8080", false},
		{"from listen with tls", Config{Listen: "10.0.0.5:8443", TLS: TLS{Cert: "c", Key: "k"}}, "https://10.0.0.5:8443", false},
		{"a path is refused", Config{PublicURL: "https://h/x", Listen: "1.2.3.4:1"}, "https://h/x", true},
		{"no scheme is refused", Config{PublicURL: "h:8080", Listen: "1.2.3.4:1"}, "h:8080", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.ConsoleBaseURL(); got != tt.want {
				t.Errorf("ConsoleBaseURL() = %q, want %q", got, tt.want)
			}
			errs := tt.c.publicURLErrs()
			if (len(errs) > 0) != tt.errors || (tt.errors && !strings.Contains(errs[0], "public_url")) {
				t.Errorf("errors %v, want some: %v", errs, tt.errors)
			}
		})
	}
	if got := (Config{Listen: "0.0.0.0:8080"}).ConsoleBaseURL(); strings.Contains(got, "0.0.0.0") {
		t.Errorf("a wildcard listen address stays in %q", got)
	}
}

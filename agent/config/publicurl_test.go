package config

import (
	"strings"
	"testing"
)

func TestPublicURL(t *testing.T) {
	for _, tt := range []struct {
		name   string
		url    string
		errors bool
	}{
		{"explicit", "https://xen1.example.net:8443/", false},
		{"unset: the bound address", "", false},
		{"a path is refused", "https://h/x", true},
		{"no scheme is refused", "h:8080", true},
		{"a query is refused", "https://h?x=1", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := Config{PublicURL: tt.url}.publicURLErrs()
			if (len(errs) > 0) != tt.errors || (tt.errors && !strings.Contains(errs[0], "public_url")) {
				t.Errorf("errors %v, want some: %v", errs, tt.errors)
			}
		})
	}
}

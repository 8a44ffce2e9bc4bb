package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const operatorHash = "0000000000000000000000000000000000000000000000000000000000000001"

func TestMetricsConfig(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // in the error; "" accepts
	}{
		{"default", "", ""},
		{"separate address", "[metrics]\nlisten = \"127.0.0.1:9100\"\n", ""},
		{"any port, for tests", "[metrics]\nlisten = \"127.0.0.1:0\"\n", ""},
		{"operator only", "[operator]\nkey_sha256 = \"" + operatorHash + "\"\n[metrics]\noperator_only = true\n", ""},
		{"not host:port", "[metrics]\nlisten = \"9100\"\n", "metrics.listen: \"9100\" is not host:port"},
		{"bad port", "[metrics]\nlisten = \"127.0.0.1:http\"\n", "metrics.listen: port \"http\""},
		{"port too big", "[metrics]\nlisten = \"127.0.0.1:70000\"\n", "metrics.listen: port \"70000\""},
		{"the API's address", "listen = \"127.0.0.1:8080\"\n[metrics]\nlisten = \"127.0.0.1:8080\"\n", "metrics.listen: 127.0.0.1:8080 is the API's address"},
		{"operator only without a key", "[metrics]\noperator_only = true\n", "metrics.operator_only: needs operator.key_sha256"},
		{"unknown key", "[metrics]\nlisten_address = \"x\"\n", "unknown key \"metrics.listen_address\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			case tt.want == "" && tt.name == "default" && (c.Metrics != Metrics{}):
				t.Fatalf("default [metrics] = %+v, want none: no second address, /metrics open", c.Metrics)
			}
		})
	}
}

// The example states the defaults.
func TestExampleMetricsIsDefault(t *testing.T) {
	c, err := Load("../../deploy/xenagent.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != Default().Metrics {
		t.Fatalf("example [metrics] = %+v, defaults %+v", c.Metrics, Default().Metrics)
	}
}

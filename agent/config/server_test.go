package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example documents the defaults it states.
func TestExampleServerIsDefault(t *testing.T) {
	c, err := Load("../../deploy/xenagent.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != DefaultServer() {
		t.Fatalf("example [server] = %+v, defaults %+v", c.Server, DefaultServer())
	}
}

func TestServerRejects(t *testing.T) {
	tests := map[string]string{
		"no connections":       "max_connections = 0",
		"negative connections": "max_connections = -5",
		"per source above max": "max_connections = 10\nmax_connections_per_source = 11",
		"per source zero":      "max_connections_per_source = 0",
		"tiny reserve":         "fd_reserve = 10",
		"zero idle":            "idle_timeout = \"0s\"",
		"negative header wait": "read_header_timeout = \"-1s\"",
		"tiny headers":         "max_header_bytes = 100",
		"no burst":             "bad_key_burst = 0",
		"zero refill":          "bad_key_every = \"0s\"",
		"long delay":           "bad_key_delay = \"2m\"",
		"negative delay":       "bad_key_delay = \"-1s\"",
		// The body deadline: slow bodies held connections for the fixed minute.
		"zero read":          "read_timeout = \"0s\"",
		"long read":          "read_timeout = \"1h\"",
		"header wait > read": "read_timeout = \"5s\"\nread_header_timeout = \"10s\"",
		"zero write":         "write_timeout = \"0s\"",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			os.WriteFile(p, []byte("[server]\n"+body+"\n"), 0o644)
			_, err := Load(p)
			field := map[string]string{"zero read": "server.read_timeout", "long read": "server.read_timeout",
				"header wait > read": "server.read_header_timeout", "zero write": "server.write_timeout"}[name]
			if field == "" {
				field = "server"
			}
			if err == nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("got %v, want an error naming the server section", err)
			}
		})
	}
}

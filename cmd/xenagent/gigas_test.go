package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/metrics"
)

// TestMountGigasLogs: mounting the Gigas face logs one Info line naming
// its path pattern and its OpenAPI document, as the v1 face's mount
// does, so the startup log says where every face is.
func TestMountGigasLogs(t *testing.T) {
	var out bytes.Buffer
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "next") })
	mountGigas(next, config.Config{}, nil, nil, metrics.NewRegistry(), slog.New(slog.NewTextHandler(&out, nil)))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), out.String())
	}
	for _, want := range []string{"level=INFO", `msg="gigas REST face served"`, "paths=/account/{account_id}/...", "openapi=/gigas/openapi.json"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q lacks %q", lines[0], want)
		}
	}
}

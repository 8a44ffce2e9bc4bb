package store

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A truncated state file is refused with a message, not a panic.
func TestOpenRefusesATruncatedFile(t *testing.T) {
	src, err := os.ReadFile("testdata/state-v1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, src[:16<<10], 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		st.Close()
		t.Fatal("a truncated file opened")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

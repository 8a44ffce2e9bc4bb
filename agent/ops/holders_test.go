package ops

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// Holders lists every operation queued on a key in id order, the one
// that runs first included, and hands out its own copy.
func TestHolders(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := New(st, log, Config{}) // never started: what is queued stays queued
	for _, o := range []store.Operation{
		{ID: 1, Keys: []string{"vm:1"}}, {ID: 2, Keys: []string{"disk:2"}}, {ID: 3, Keys: []string{"vm:1", "disk:2"}},
	} {
		o.Step = store.StepWait
		if err := st.Update(func(tx *store.Tx) error { e.Create(tx, o); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		key  string
		want []int64
	}{
		{"vm:1", []int64{1, 3}}, {"disk:2", []int64{2, 3}}, {"iface:1", nil},
	}
	for _, tt := range tests {
		got := e.Holders(tt.key)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Holders(%q) = %v, want %v", tt.key, got, tt.want)
		}
		if len(got) > 0 {
			if got[0] = 99; e.Holder(tt.key) != tt.want[0] {
				t.Errorf("changing Holders(%q)'s answer changed the queue", tt.key)
			}
		}
	}
}

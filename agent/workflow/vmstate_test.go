package workflow

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

func TestRecordVMState(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tt := range []struct {
		name        string
		state       string
		fresh       bool
		wantPending bool
	}{
		{"observed: a pending change stays pending", store.VMRunning, false, true},
		{"stopped by an operation", store.VMHalted, false, true},
		{"started afresh: the change is applied", store.VMRunning, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got store.VM
			var ok bool
			if err := st.Update(func(tx *store.Tx) error {
				tx.PutVM(store.VM{ID: 1, State: store.VMPaused, RestartPending: true})
				got, ok = RecordVMState(tx, 1, tt.state, tt.fresh)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var stored store.VM
			st.View(func(tx *store.Tx) { stored, _ = tx.VM(1) })
			if !ok || stored.State != tt.state || stored.RestartPending != tt.wantPending || stored.DateUpdated.IsZero() || got.State != stored.State {
				t.Fatalf("recorded %+v (returned %+v, %v)", stored, got, ok)
			}
		})
	}
	_ = st.Update(func(tx *store.Tx) error {
		if _, ok := RecordVMState(tx, 2, store.VMRunning, false); ok {
			t.Error("a VM without a record was recorded")
		}
		if tx.HasVM(2) {
			t.Error("recording the state of a VM without a record made one")
		}
		return nil
	})
}

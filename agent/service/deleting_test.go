package service

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// bareService is a service over a fresh store and an engine that is never
// started: the operations it is given stay queued on their keys, as if
// they waited or ran, and nothing runs them. There are no workflows.
func bareService(t *testing.T) *Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	cfg := Config{Datacenter: Datacenter{ID: 1}}
	return &Service{cfg: cfg, st: st, eng: ops.New(st, log, ops.Config{}), log: log}
}

// queueOps submits operations in order, as the service does: each takes
// its place in its keys' queues. A finished one is recorded so in the
// same write, and stays queued (as until the engine drops it).
func queueOps(t *testing.T, s *Service, list []testOp) {
	t.Helper()
	for _, o := range list {
		var op store.Operation
		if err := s.st.Update(func(tx *store.Tx) error {
			op = s.newOp(tx, 1, opSpec{typ: o.typ, keys: o.keys})
			if o.finished {
				op.Step = store.StepDone
				tx.PutOperation(op)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

type testOp struct {
	typ      string
	keys     []string
	finished bool
}

func TestDeleting(t *testing.T) {
	tests := []struct {
		name string
		ops  []testOp
		key  string
		want bool
	}{
		{"nothing queued", nil, "vm:1", false},
		{"a deletion holds the key", []testOp{{typ: "vm_delete", keys: []string{"vm:1"}}}, "vm:1", true},
		// The engine's Holder is the vm_stop: the deletion behind it counts too.
		{"a deletion waits behind a stop", []testOp{{typ: "vm_stop", keys: []string{"vm:1"}}, {typ: "vm_delete", keys: []string{"vm:1"}}}, "vm:1", true},
		{"no deletion queued", []testOp{{typ: "vm_stop", keys: []string{"vm:1"}}, {typ: "vm_start", keys: []string{"vm:1"}}}, "vm:1", false},
		{"a vm deletion holds its disks", []testOp{{typ: "vm_delete", keys: []string{"vm:1", "disk:2"}}}, "disk:2", true},
		{"a deletion of another disk", []testOp{{typ: "disk_delete", keys: []string{"disk:3"}}}, "disk:2", false},
		{"a finished deletion", []testOp{{typ: "disk_delete", keys: []string{"disk:2"}, finished: true}}, "disk:2", false},
		{"an iface deletion", []testOp{{typ: "disk_attach", keys: []string{"vm:1", "iface:4"}}, {typ: "iface_delete", keys: []string{"iface:4"}}}, "iface:4", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := bareService(t)
			queueOps(t, s, tt.ops)
			var got bool
			s.st.View(func(tx *store.Tx) { got = s.deleting(tx, tt.key) })
			if got != tt.want {
				t.Errorf("deleting(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

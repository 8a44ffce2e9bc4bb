package gandi

import (
	"os"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// A device whose attach to a VM is queued when the operator locks the VM
// is the VM's: a call changing it (or its address) is refused like one
// on the VM's attached devices, or it would change the locked VM once
// the attach runs.
func TestLockRefusesDeviceBeingAttached(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "lkpend")
	ifaceID := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))[0]["iface_id"].(int64)
	ipID := a.mustCall(a.alice, "hosting.iface.info", ifaceID).(map[string]any)["ips_id"].([]int64)[0]
	disk := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a = a.reopen(false) // the attaches stay queued
	a.mustCall(a.alice, "hosting.vm.iface_attach", vmID, ifaceID)
	a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, disk, map[string]any{})
	a.mustCall(a.op, "hosting.vm.lock", vmID, "legal hold")
	for _, tt := range []struct {
		method string
		params []any
	}{
		{"hosting.ip.update", []any{ipID, map[string]any{"reverse": "www.example.org."}}},
		{"hosting.iface.update", []any{ifaceID, map[string]any{"bandwidth": 5e6}}},
		{"hosting.disk.update", []any{disk, map[string]any{"name": "renamed"}}},
	} {
		before := a.snapshot()
		if _, f := a.call(a.alice, tt.method, tt.params...); f == nil || f.Cause != CauseConflict || !strings.Contains(f.Msg, `"legal hold"`) {
			t.Errorf("%s of a device being attached to a locked VM: fault %v, want the lock's", tt.method, f)
		}
		if a.snapshot() != before {
			t.Errorf("%s: a refused call changed records", tt.method)
		}
	}
}

// A lock placed on a VM being created goes with the VM when the creation
// fails: it is not left behind on an id the operator can no longer name
// (unlock answers "not found") and a later VM of that id would inherit.
func TestLockGoesWithFailedCreation(t *testing.T) {
	a := newAgent(t, true)
	src := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(32)}))[0]["disk_id"].(int64)
	a = a.reopen(false)
	ops := a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("doomed"), map[string]any{}, src).([]any)
	vmID := ops[len(ops)-1].(map[string]any)["vm_id"].(int64)
	a.mustCall(a.op, "hosting.vm.lock", vmID, "fraud check")
	// The source's volume vanishes: the copy fails, the VM is abandoned.
	if err := os.Remove(a.vols.Path(workflow.VolumeName(src))); err != nil {
		t.Fatal(err)
	}
	a = a.reopen(true)
	if o := a.wait(a.alice, ops)[len(ops)-1]; o["step"] == "DONE" {
		t.Fatalf("vm_create ended DONE with the source gone")
	}
	if _, f := a.call(a.op, "hosting.vm.info", vmID); f == nil || f.Cause != CauseNotFound {
		t.Fatalf("vm %d after its failed creation: %v, want not found", vmID, f)
	}
	n := 0
	a.st.View(func(tx *store.Tx) { n = tx.LockCount() })
	if n != 0 {
		t.Errorf("%d locks left after the locked VM's creation failed", n)
	}
}

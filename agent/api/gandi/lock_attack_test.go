package gandi

import (
	"strings"
	"testing"
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

package gandi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// The operator lock through the face, on a VM the workflows made: only
// the operator places and removes it; while it is on, every Gandi call
// that would change the VM, its disks, ifaces or addresses is refused
// with the lock named and records nothing, the state shows "locked", a
// snapshot of its disk is still taken; unlocked, the VM obeys again.
func TestVMLock(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "lk")
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	sys := info["disks_id"].([]int64)[0]
	ifaceID := info["ifaces_id"].([]int64)[0]
	ipID := a.mustCall(a.alice, "hosting.iface.info", ifaceID).(map[string]any)["ips_id"].([]int64)[0]
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	snap := a.takeSnapshot(a.alice, sys)
	attached := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, attached, map[string]any{}))

	for _, tt := range []struct {
		name   string
		c      *service.Caller
		method string
		params []any
		cause  int
		msg    string
	}{
		{"account key locks", a.alice, "hosting.vm.lock", []any{vmID, "mine"}, CauseNoRight, "hosting.vm.lock: the operator key only"},
		{"no description", a.op, "hosting.vm.lock", []any{vmID}, CauseMissing, "description: missing parameter"},
		{"description not a string", a.op, "hosting.vm.lock", []any{vmID, int64(3)}, CauseBadParam, "description: must be a string"},
		{"empty description", a.op, "hosting.vm.lock", []any{vmID, ""}, CauseMissing, "description: missing parameter"},
		{"too many arguments", a.op, "hosting.vm.lock", []any{vmID, "x", "y"}, CauseBadParam, "too many arguments"},
		{"no vm", a.op, "hosting.vm.lock", []any{int64(999), "x"}, CauseNotFound, "vm 999 does not exist"},
		{"unlock not locked", a.op, "hosting.vm.unlock", []any{vmID}, CauseConflict, "vm_id: vm "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := a.snapshot()
			_, f := a.call(tt.c, tt.method, tt.params...)
			if f == nil || f.Cause != tt.cause || !strings.Contains(f.Msg, tt.msg) {
				t.Fatalf("fault = %v, want cause %d saying %q", f, tt.cause, tt.msg)
			}
			if locks := a.mustCall(a.op, "hosting.vm.locks", vmID).([]any); len(locks) != 0 || a.snapshot() != before {
				t.Errorf("a refused call left locks %v or changed records", locks)
			}
		})
	}

	l := a.mustCall(a.op, "hosting.vm.lock", vmID, "legal hold #42").(map[string]any)
	if l["vm_id"] != vmID || l["lock_type"] != "admin" || l["description"] != "legal hold #42" || l["operation_id"] != nil {
		t.Fatalf("lock = %v", l)
	}
	lockID := l["id"].(int64)
	if st := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; st != "locked" {
		t.Errorf("state of the locked vm = %v", st)
	}
	if n := a.mustCall(a.alice, "hosting.vm.count", map[string]any{"state": "locked"}); fmt.Sprint(n) != "1" {
		t.Errorf("vm.count state locked = %v", n)
	}
	locks := a.mustCall(a.alice, "hosting.vm.locks", vmID).([]any)
	if len(locks) != 1 || locks[0].(map[string]any)["id"] != lockID {
		t.Errorf("vm.locks for the owner = %v", locks)
	}
	if _, f := a.call(a.bob, "hosting.vm.locks", vmID); f == nil || f.Cause != CauseNotFound {
		t.Errorf("vm.locks for another account: %v", f)
	}

	refused := []struct {
		method string
		params []any
	}{
		{"hosting.vm.stop", []any{vmID}},
		{"hosting.vm.reboot", []any{vmID}},
		{"hosting.vm.start", []any{vmID}},
		{"hosting.vm.update", []any{vmID, map[string]any{"memory": int64(1024)}}},
		{"hosting.vm.update", []any{vmID, map[string]any{"password": "while-locked-1"}}},
		{"hosting.vm.reset_password", []any{vmID}},
		{"hosting.vm.delete", []any{vmID}},
		{"hosting.vm.disk_attach", []any{vmID, data, map[string]any{}}},
		{"hosting.vm.disk_detach", []any{vmID, attached}},
		{"hosting.vm.iface_detach", []any{vmID, ifaceID}},
		{"hosting.vm.disk_rollback", []any{snap}},
		{"hosting.disk.update", []any{attached, map[string]any{"name": "renamed"}}},
		{"hosting.iface.update", []any{ifaceID, map[string]any{"bandwidth": 5e6}}},
		{"hosting.iface.firewall_apply", []any{ifaceID, map[string]any{"policy": "drop"}}},
		{"hosting.ip.update", []any{ipID, map[string]any{"reverse": "www.example.org."}}},
	}
	for _, tt := range refused {
		for _, c := range []*service.Caller{a.alice, a.op} {
			t.Run(tt.method+"/"+c.Handle, func(t *testing.T) {
				before := a.snapshot()
				_, f := a.call(c, tt.method, tt.params...)
				if f == nil || f.Cause != CauseConflict || !strings.Contains(f.Msg, `locked by the operator (lock `) || !strings.Contains(f.Msg, `"legal hold #42"`) {
					t.Fatalf("fault = %v, want a conflict naming the lock", f)
				}
				if a.snapshot() != before {
					t.Error("a refused call changed records")
				}
			})
		}
	}
	// Reading the disk is not changing the VM.
	a.takeSnapshot(a.alice, sys)

	// Locking again changes the description only.
	again := a.mustCall(a.op, "hosting.vm.lock", vmID, "legal hold #43").(map[string]any)
	if again["id"] != lockID || again["description"] != "legal hold #43" {
		t.Errorf("locking again = %v", again)
	}
	removed := a.mustCall(a.op, "hosting.vm.unlock", vmID).(map[string]any)
	if removed["id"] != lockID {
		t.Errorf("unlock returned %v", removed)
	}
	if st := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; st != "running" {
		t.Errorf("state after the unlock = %v", st)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	if st := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; st != "halted" {
		t.Errorf("state after the stop = %v", st)
	}
}

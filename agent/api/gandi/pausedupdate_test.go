package gandi

import (
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// A paused VM's domain is live, as a running one's: a disk update that a
// running guest sees only through a fresh start (size, kernel, command
// line) leaves it a restart pending, so the next vm.reboot applies it.
func TestDiskUpdateOfPausedVM(t *testing.T) {
	a := newAgent(t, true, withKernels(t, "6.1-amd64"))
	vmID := a.createVM(a.alice, "pdu")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.pause", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.update", sys, map[string]any{"size": int64(128)}))
	var v store.VM
	a.st.View(func(tx *store.Tx) { v, _ = tx.VM(vmID) })
	if v.State != store.VMPaused || !v.RestartPending {
		t.Fatalf("after growing a paused vm's disk: state %s, restart pending %v (the guest sees the old size until a fresh start)", v.State, v.RestartPending)
	}
	if info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any); info["restart_pending"] != true {
		t.Errorf("vm.info restart_pending = %v", info["restart_pending"])
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reboot", vmID))
	a.st.View(func(tx *store.Tx) { v, _ = tx.VM(vmID) })
	if v.State != store.VMRunning || v.RestartPending {
		t.Fatalf("after the reboot: state %s, restart pending %v", v.State, v.RestartPending)
	}
}

// vm.start of a VM whose domain runs (paused: the start resumes it; or
// running: nothing to do) starts nothing afresh: a change waiting for a
// fresh start (new credentials, whose seed a running QEMU does not
// reread) is still waiting, and the next vm.reboot applies it.
func TestStartOfALiveVMKeepsTheRestartPending(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "sl")
	pending := func() bool { return a.vmRecord(vmID).RestartPending }
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"password": "new-password-1"}))
	if !pending() {
		t.Fatal("no restart pending after new credentials")
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.start", vmID))
	if !pending() {
		t.Error("vm.start of a running vm cleared the restart pending")
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.pause", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.start", vmID))
	if v := a.vmRecord(vmID); v.State != store.VMRunning || !v.RestartPending {
		t.Errorf("after vm.start resumed the paused vm: state %s, restart pending %v", v.State, v.RestartPending)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reboot", vmID))
	if pending() {
		t.Error("restart still pending after the reboot")
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"password": "new-password-2"}))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.start", vmID))
	if pending() {
		t.Error("restart still pending after the start of a halted vm")
	}
}

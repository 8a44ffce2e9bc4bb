package workflow

import (
	"context"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
)

func StateOf(st host.State) string {
	switch {
	case st.Paused:
		return store.VMPaused
	case st.Running:
		return store.VMRunning
	}
	return store.VMHalted
}

// RecordVMState is the one place a VM's recorded state changes, in tx:
//   - the last step of vm_create, vm_start, vm_stop and vm_reboot, and
//     vm_start's Recover in a rollback chain (finishWithState);
//   - disk_update's last step, after the reboot that applied it started
//     the domain afresh (finishDiskUpdate);
//   - what the hypervisor says of a VM no operation holds
//     (RefreshVMState: after each operation and at lifecycle events);
//   - reconciliation at start (agent/reconcile).
//
// freshStart says the domain was started from its definition, which
// applied every change waiting for a fresh start (RestartPending). It
// returns the VM as recorded, and false when it has no record.
func RecordVMState(tx *store.Tx, vmID int64, state string, freshStart bool) (store.VM, bool) {
	v, ok := tx.VM(vmID)
	if !ok {
		return v, false
	}
	v.State, v.DateUpdated = state, now()
	if state == store.VMRunning || state == store.VMPaused {
		v.SeedUnbooted = false // the guest booted its seed
	}
	if freshStart {
		v.RestartPending = false
	}
	tx.PutVM(v)
	return v, true
}

// RefreshVMState records what the hypervisor says of a VM that no
// operation is working on.
func (s *Workflows) RefreshVMState(ctx context.Context, vmID int64) {
	if s.eng.Busy(VMKey(vmID)) {
		return
	}
	var v store.VM
	var ok bool
	s.st.View(func(tx *store.Tx) { v, ok = tx.VM(vmID) })
	if !ok || v.State == store.VMBeingCreated || v.State == store.VMLocked || v.State == store.VMBeingMigrated {
		return
	}
	st, err := s.hv.State(ctx, v.Domain)
	if err != nil {
		s.log.Warn("reading domain state", "vm_id", vmID, "err", err)
		return
	}
	want := StateOf(st)
	if want == v.State {
		return
	}
	s.log.Info("vm state changed outside the agent", "vm_id", vmID, "from", v.State, "to", want)
	err = s.st.Update(func(tx *store.Tx) error {
		if !s.eng.Busy(VMKey(vmID)) {
			RecordVMState(tx, vmID, want, false)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("recording vm state", "vm_id", vmID, "state", want, "err", err)
	}
}

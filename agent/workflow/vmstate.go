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

// refreshVMState records what the hypervisor says of a VM that no
// operation is working on.
func (s *Workflows) RefreshVMState(ctx context.Context, vmID int64) {
	if s.eng.Busy(VMKey(vmID)) {
		return
	}
	var v store.VM
	var ok bool
	s.st.View(func(tx *store.Tx) { v, ok = tx.VM(vmID) })
	if !ok || v.State == store.VMBeingCreated || v.State == store.VMLocked {
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
	_ = s.st.Update(func(tx *store.Tx) error {
		cur, ok := tx.VM(vmID)
		if !ok || s.eng.Busy(VMKey(vmID)) {
			return nil
		}
		cur.State, cur.DateUpdated = want, now()
		tx.PutVM(cur)
		return nil
	})
}

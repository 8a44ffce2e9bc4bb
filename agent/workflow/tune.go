package workflow

import (
	"context"
	"errors"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// tuneRecord sets on the VM's record the free texts and the CPU weight
// vm_update names.
func tuneRecord(v *store.VM, in VMUpdate) {
	for _, f := range []struct {
		dst *string
		v   *string
	}{{&v.Description, in.Description}, {&v.Label, in.Label}, {&v.Note, in.Note}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if in.CPUShares != nil {
		v.CPUShares = *in.CPUShares
	}
}

// applyCPUShares gives a running domain the weight vm_update names, live
// where the hypervisor allows (the definition, already written, has it
// for the next start). Where it does not (a QEMU host without the CPU
// cgroup controller), the VM's next reboot becomes a fresh start, as
// for cores. Setting the weight again is harmless, so a resumed step
// does it again.
func (s *Workflows) applyCPUShares(ctx context.Context, r *ops.Run, name string, in VMUpdate) error {
	if in.CPUShares == nil {
		return nil
	}
	st, err := s.hv.State(ctx, name)
	if err != nil || !st.Running {
		return err
	}
	err = s.hv.SetCPUShares(ctx, name, *in.CPUShares)
	if !errors.Is(err, host.ErrUnsupported) {
		return err
	}
	s.log.Info("cpu shares not changeable live; applied at the next start", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "err", err)
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return nil
		}
		v.RestartPending = true
		tx.PutVM(v)
		return nil
	})
}

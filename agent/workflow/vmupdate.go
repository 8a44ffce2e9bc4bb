package workflow

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) applyVMUpdate(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[VMUpdate](r)
	if err != nil {
		return err
	}
	var oldMax int64
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		p, err := ops.ProgressOf[VMUpdateProgress](*op)
		if err != nil {
			return err
		}
		if p.OldMax == nil {
			m := v.MaxMemory
			p.OldMax = &m
			if err := ops.PutProgress(op, p); err != nil {
				return err
			}
		}
		oldMax = *p.OldMax
		oldCores := v.Cores
		setIf(&v.Memory, in.Memory)
		setIf(&v.MaxMemory, in.MaxMemory)
		setIf(&v.Cores, in.Cores)
		if in.Console != nil {
			v.Console = 0
			if *in.Console {
				v.Console = 1
			}
		}
		commitCredentials(&v, op, in, p.SeedGen) // credentials.go
		tuneRecord(&v, in)
		if in.Hostname != nil {
			v.Hostname = *in.Hostname
		}
		if v.MaxMemory != oldMax || v.Cores != oldCores {
			v.RestartPending = true
		}
		v.DateUpdated = now()
		tx.PutVM(v)
		return nil
	})
	if err != nil {
		return err
	}
	// The definition takes every change at the next start; memory within
	// the running maximum is also ballooned now.
	spec, err := s.DomainSpec(r.Op().VMID)
	if err != nil {
		return err
	}
	if err := s.hv.Define(ctx, spec); err != nil {
		return err
	}
	if err := s.applyCPUShares(ctx, r, spec.Name, in); err != nil {
		return err
	}
	if in.Memory != nil {
		mem := *in.Memory
		st, err := s.hv.State(ctx, spec.Name)
		if err != nil {
			return err
		}
		if st.Running && mem <= oldMax {
			return s.hv.SetMemory(ctx, spec.Name, mem)
		}
	}
	return nil
}

package workflow

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) applyDiskUpdate(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[DiskUpdate](r)
	if err != nil {
		return err
	}
	d, ok := s.diskOf(r.Op().DiskID)
	if !ok {
		return fmt.Errorf("disk %d has no record", r.Op().DiskID)
	}
	if in.SizeMB != nil {
		if err := s.vols.Resize(ctx, d.Volume, *in.SizeMB); err != nil {
			return err
		}
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		d, ok := tx.Disk(op.DiskID)
		if !ok {
			return fmt.Errorf("disk %d has no record", op.DiskID)
		}
		setIf(&d.Name, in.Name)
		setIf(&d.SizeMB, in.SizeMB)
		setIf(&d.KernelVersion, in.Kernel)
		setIf(&d.Cmdline, in.Cmdline)
		setIf(&d.SnapshotProfile, in.SnapshotProfile)
		d.DateUpdated = now()
		tx.PutDisk(d)
		// A new kernel, command line or size reaches a running guest only
		// through a fresh start; a paused one's domain is as live (the
		// service asks no reboot of it: that would resume it).
		if vm, ok := tx.VM(d.VMID); ok && (nonEmpty(in.Kernel) || nonEmpty(in.Cmdline) || in.SizeMB != nil) && (vm.State == store.VMRunning || vm.State == store.VMPaused) {
			vm.RestartPending = true
			tx.PutVM(vm)
		}
		return nil
	})
}

// rebootIfAsked reboots the VM a disk update said to reboot.
func (s *Workflows) rebootIfAsked(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[DiskUpdate](r)
	if err != nil || !in.Reboot {
		return err
	}
	return s.rebootDomain(ctx, r)
}

// finishDiskUpdate records that a fresh start applied the disk's changes.
func finishDiskUpdate(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		p, err := ops.ProgressOf[RebootProgress](*op)
		if err != nil || !p.FreshStart {
			return err
		}
		RecordVMState(tx, op.VMID, store.VMRunning, true)
		return nil
	})
}

// setIf sets *dst to *v when an update names it.
func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func nonEmpty(s *string) bool { return s != nil && *s != "" }

package workflow

import (
	"context"
	"fmt"
	"strconv"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) applyDiskUpdate(ctx context.Context, r *ops.Run) error {
	p := r.Op().Params
	d, ok := s.diskOf(r.Op().DiskID)
	if !ok {
		return fmt.Errorf("disk %d has no record", r.Op().DiskID)
	}
	if raw, ok := p["size"]; ok {
		size, _ := strconv.ParseInt(raw, 10, 64)
		if err := s.vols.Resize(ctx, d.Volume, size); err != nil {
			return err
		}
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		d, ok := tx.Disk(op.DiskID)
		if !ok {
			return fmt.Errorf("disk %d has no record", op.DiskID)
		}
		if v, ok := p["name"]; ok {
			d.Name = v
		}
		if v, ok := p["size"]; ok {
			d.SizeMB, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := p["kernel"]; ok {
			d.KernelVersion = v
		}
		if v, ok := p["cmdline"]; ok {
			d.Cmdline = v
		}
		if v, ok := p["snapshot_profile"]; ok {
			d.SnapshotProfile, _ = strconv.ParseInt(v, 10, 64)
		}
		d.DateUpdated = now()
		tx.PutDisk(d)
		if vm, ok := tx.VM(d.VMID); ok && (p["kernel"] != "" || p["cmdline"] != "" || p["size"] != "") && vm.State == store.VMRunning {
			vm.RestartPending = true
			tx.PutVM(vm)
		}
		return nil
	})
}

// rebootIfAsked reboots the VM a disk update said to reboot.
func (s *Workflows) rebootIfAsked(ctx context.Context, r *ops.Run) error {
	if r.Op().Params["reboot"] != "1" {
		return nil
	}
	return s.rebootDomain(ctx, r)
}

// finishDiskUpdate records that a fresh start applied the disk's changes.
func finishDiskUpdate(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		if op.Data["fresh_start"] != "1" {
			return nil
		}
		if v, ok := tx.VM(op.VMID); ok {
			v.RestartPending, v.State, v.DateUpdated = false, store.VMRunning, now()
			tx.PutVM(v)
		}
		return nil
	})
}

package workflow

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) registerRollback() {
	s.eng.Register("disk_rollback", ops.Workflow{
		Steps: []ops.Step{
			{Name: "clone", Do: s.cloneSnapshot, Undo: s.undoVolume},
			{Name: "swap", Do: swapRolledBack, Atomic: true, NoReturn: true},
			{Name: "delete_old_volume", Do: s.deleteOldVolume},
			{Name: "forget_old", Do: forgetOldDisk, Atomic: true},
		},
		Abandon: s.abandonRollback,
	})
}

// oldDiskID is the disk a rollback replaces.
func oldDiskID(op store.Operation) (int64, error) {
	in, err := ops.InputOf[DiskRollback](op)
	return in.OldDiskID, err
}

func (s *Workflows) cloneSnapshot(ctx context.Context, r *ops.Run) error {
	// The swap after the clone cannot be undone and reads the input: one
	// that does not decode must fail here, where the rollback still can.
	if _, err := ops.Input[DiskRollback](r); err != nil {
		return err
	}
	d, ok := s.diskOf(r.Op().DiskID)
	if !ok {
		return fmt.Errorf("disk %d has no record", r.Op().DiskID)
	}
	snap, ok := s.diskOf(d.Source)
	if !ok {
		return fmt.Errorf("snapshot %d is gone", d.Source)
	}
	return s.madeVolume(d.Volume, s.vols.Clone(ctx, snap.Volume, d.Volume, d.SizeMB, s.ownMark(r.Op().ID)))
}

// swapRolledBack makes the new disk the one in use: created, owner of the
// old disk's snapshots, and the old one on its way out.
func swapRolledBack(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		oldID, err := oldDiskID(*op)
		if err != nil {
			return err
		}
		return swapDisk(tx, op.DiskID, oldID)
	})
}

// swapDisk is the point of no return of a rollback and of a rebuild, in
// one record write: the new disk is created and takes the old one's
// snapshots (a vm.disk_rollback can still return to what was before), and
// the old one is deleted, its volume next.
func swapDisk(tx *store.Tx, newID, oldID int64) error {
	d, ok := tx.Disk(newID)
	if !ok {
		return fmt.Errorf("disk %d has no record", newID)
	}
	d.State, d.DateUpdated = store.DiskCreated, now()
	tx.PutDisk(d)
	var moved []store.Disk
	tx.EachDisk(func(x *store.Disk) bool {
		if x.IsSnapshot() && x.Source == oldID {
			moved = append(moved, *x)
		}
		return true
	})
	for _, x := range moved {
		x.Source = d.ID
		tx.PutDisk(x)
	}
	if old, ok := tx.Disk(oldID); ok {
		old.State, old.DateUpdated = store.DiskDeleted, now()
		tx.PutDisk(old)
	}
	return nil
}

func (s *Workflows) deleteOldVolume(ctx context.Context, r *ops.Run) error {
	oldID, err := oldDiskID(r.Op())
	if err != nil {
		return err
	}
	if old, ok := s.diskOf(oldID); ok {
		return s.notOurs(r.Op().ID, s.vols.Delete(ctx, old.Volume, s.ownMark(0)), old.Volume)
	}
	return nil
}

func forgetOldDisk(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		oldID, err := oldDiskID(*op)
		if err == nil {
			tx.DeleteDisk(oldID)
		}
		return err
	})
}

func (s *Workflows) abandonRollback(tx *store.Tx, op store.Operation) {
	if d, ok := tx.Disk(op.DiskID); ok && d.State == store.DiskBeingCreated {
		tx.DeleteDisk(d.ID)
	}
	oldID, err := oldDiskID(op)
	if err != nil {
		// The old disk stays in state rollback, which an operator sees
		// (disk.info) and fixes; the error says which operation.
		s.log.Error("abandoning a rollback: the old disk is unknown", "op_id", op.ID, "err", err)
		return
	}
	if old, ok := tx.Disk(oldID); ok && old.State == store.DiskRollback {
		old.State, old.DateUpdated = store.DiskCreated, now()
		tx.PutDisk(old)
	}
}

// restoreOldDisk is the rollback chain's attach when the rollback did not
// happen: the old disk goes back where it was.
func (s *Workflows) restoreOldDisk(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[DiskAttach](r)
	if err != nil {
		return err
	}
	oldID := in.RestoreDiskID
	old, ok := s.diskOf(oldID)
	if oldID == 0 || !ok || old.State != store.DiskCreated || (old.VMID != 0 && old.VMID != r.Op().VMID) {
		return nil
	}
	return s.attachDiskID(ctx, r, oldID)
}

// restoreRunning is the rollback chain's start when a step before it
// failed: a VM that was running before the chain runs again.
func (s *Workflows) restoreRunning(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[VMStart](r)
	if err != nil || !in.Restore {
		return err
	}
	v, err := s.vmOf(r)
	if err != nil || len(v.DiskIDs) == 0 {
		return err
	}
	running, err := s.IsRunning(ctx, DomainName(v.ID))
	if err != nil {
		return err
	}
	if !running {
		if err := s.defineDomain(ctx, r); err != nil {
			return err
		}
		if err := s.startFresh(ctx, r); err != nil {
			return err
		}
	}
	// The record says so before the operation ends: a client that sees the
	// CANCEL must not read a state the lifecycle event has yet to correct.
	return s.finishWithState(store.VMRunning)(ctx, r)
}

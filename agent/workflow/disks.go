package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) createVolume(ctx context.Context, r *ops.Run) error {
	d, ok := s.diskOf(r.Op().DiskID)
	if !ok {
		return fmt.Errorf("disk %d has no record", r.Op().DiskID)
	}
	if d.Source == 0 {
		if err := s.madeVolume(d.Volume, s.vols.Create(ctx, d.Volume, d.SizeMB, s.ownMark(r.Op().ID))); err != nil {
			return err
		}
		return s.formatVolume(ctx, r, d.Volume) // format.go
	}
	src, ok := s.diskOf(d.Source)
	if !ok {
		return fmt.Errorf("source disk %d is gone", d.Source)
	}
	return s.madeVolume(d.Volume, s.vols.Clone(ctx, src.Volume, d.Volume, d.SizeMB, s.ownMark(r.Op().ID)))
}

// madeVolume remembers a volume name found taken by another maker, so
// that the next disk id skips it.
func (s *Workflows) madeVolume(name string, err error) error {
	if errors.Is(err, host.ErrExists) {
		s.taken.Set([]string{name}, true)
	}
	return err
}

// deleteDiskVolume deletes the disk's volume, if this agent made it.
func (s *Workflows) deleteDiskVolume(ctx context.Context, r *ops.Run) error {
	if d, ok := s.diskOf(r.Op().DiskID); ok {
		return s.notOurs(r.Op().ID, s.vols.Delete(ctx, d.Volume, s.ownMark(0)), d.Volume)
	}
	return nil
}

// undoVolume deletes the disk's volume only if this operation made it:
// a name found taken by someone else is never undone.
func (s *Workflows) undoVolume(ctx context.Context, r *ops.Run) error {
	if d, ok := s.diskOf(r.Op().DiskID); ok {
		return s.notOurs(r.Op().ID, s.vols.Delete(ctx, d.Volume, s.ownMark(r.Op().ID)), d.Volume)
	}
	return nil
}

func (s *Workflows) finishDisk(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		d, ok := tx.Disk(op.DiskID)
		if !ok {
			return fmt.Errorf("disk %d has no record", op.DiskID)
		}
		d.State, d.DateUpdated = store.DiskCreated, now()
		tx.PutDisk(d)
		return nil
	})
}

func abandonDisk(tx *store.Tx, op store.Operation) { tx.DeleteDisk(op.DiskID) }

func forgetDisk(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		tx.DeleteDisk(op.DiskID)
		return nil
	})
}

// deleteCreatedVolumes deletes the volumes of the disks a failed VM
// creation made for it; their records go in abandonVM.
func (s *Workflows) deleteCreatedVolumes(ctx context.Context, r *ops.Run) error {
	var vols []string
	s.st.View(func(tx *store.Tx) {
		disks, _ := madeForVM(tx, r.Op())
		for _, id := range disks {
			if d, ok := tx.Disk(id); ok && (d.VMID == 0 || d.VMID == r.Op().VMID) {
				vols = append(vols, d.Volume)
			}
		}
	})
	for _, v := range vols {
		if err := s.notOurs(r.Op().ID, s.vols.Delete(ctx, v, s.ownMark(0)), v); err != nil {
			return err
		}
	}
	// abandonVM forgets the disks only once their volumes are gone (an
	// operation cancelled before it ran deletes nothing).
	p, err := ops.Progress[VMCreateProgress](r)
	if err != nil {
		return err
	}
	p.MadeVolumesDeleted = true
	return ops.SetProgress(r, p)
}

func (s *Workflows) deleteSystemVolume(ctx context.Context, r *ops.Run) error {
	v, err := s.vmOf(r)
	if err != nil {
		return nil // already forgotten
	}
	if err := s.removeSeed(ctx, r); err != nil {
		return err
	}
	if len(v.DiskIDs) == 0 {
		return nil
	}
	if d, ok := s.diskOf(v.DiskIDs[0]); ok {
		return s.notOurs(r.Op().ID, s.vols.Delete(ctx, d.Volume, s.ownMark(0)), d.Volume)
	}
	return nil
}

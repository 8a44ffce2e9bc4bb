package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) attachDisk(ctx context.Context, r *ops.Run) error {
	return s.attachDiskID(ctx, r, r.Op().DiskID)
}

// attachDiskID attaches a disk as the operation's parameters say: at a
// position (0 swaps with the system disk unless "insert" asks to shift
// the others), read-only or read/write.
func (s *Workflows) attachDiskID(ctx context.Context, r *ops.Run, diskID int64) error {
	name := DomainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	in, err := ops.Input[DiskAttach](r)
	if err != nil {
		return err
	}
	pos, insert, readOnly := in.Position, in.Insert, in.ReadOnly
	var at int
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		if d, ok := tx.Disk(diskID); ok && d.VMID != v.ID {
			d.VMID = v.ID
			tx.PutDisk(d)
		}
		if i := slices.Index(v.DiskIDs, diskID); i >= 0 {
			at = i // already recorded before a restart
			return nil
		}
		switch {
		case running && pos >= 0 && pos < len(v.DiskIDs):
			// The service refuses this; the VM was started since.
			return fmt.Errorf("position %d: vm %d is running with %d disks, and a running guest's disks cannot move to other devices; attach it at position %d or stop the VM", pos, v.ID, len(v.DiskIDs), len(v.DiskIDs))
		case pos == 0 && !running && len(v.DiskIDs) > 0 && !insert:
			// Position 0 swaps with the current system disk.
			v.DiskIDs = append(v.DiskIDs, v.DiskIDs[0])
			v.DiskIDs[0] = diskID
			at = 0
		case pos < 0 || pos >= len(v.DiskIDs) || running:
			// At the end (all a running guest can take: its devices cannot shift).
			v.DiskIDs = append(v.DiskIDs, diskID)
			at = len(v.DiskIDs) - 1
		default:
			v.DiskIDs = slices.Insert(v.DiskIDs, pos, diskID)
			at = pos
		}
		if readOnly && !slices.Contains(v.ReadOnly, diskID) {
			v.ReadOnly = append(v.ReadOnly, diskID)
		}
		v.DateUpdated = now()
		tx.PutVM(v)
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	d, _ := s.diskOf(diskID)
	return s.hv.AttachDisk(ctx, name, at, host.DiskSpec{Path: s.vols.Path(d.Volume), Block: s.vols.IsBlock(), ReadOnly: readOnly})
}

func (s *Workflows) detachDisk(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		if v, ok := tx.VM(op.VMID); ok {
			if i := slices.Index(v.DiskIDs, op.DiskID); i >= 0 {
				if i == 0 && running {
					return errors.New("the system disk can be detached only from a halted VM")
				}
				v.DiskIDs = slices.Delete(v.DiskIDs, i, i+1)
				v.ReadOnly = slices.DeleteFunc(v.ReadOnly, func(x int64) bool { return x == op.DiskID })
				v.DateUpdated = now()
				tx.PutVM(v)
			}
		}
		if d, ok := tx.Disk(op.DiskID); ok && d.VMID == op.VMID {
			d.VMID = 0
			tx.PutDisk(d)
		}
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	d, _ := s.diskOf(r.Op().DiskID)
	return s.hv.DetachDisk(ctx, name, s.vols.Path(d.Volume))
}

// redefineUnless finishes a device change on a halted VM: the records
// changed, so the definition is rendered again from them. A running VM
// gets its device hot-plugged by the caller instead.
func (s *Workflows) redefineUnless(ctx context.Context, r *ops.Run, err error, running bool) error {
	if err != nil || running {
		return err
	}
	spec, err := s.DomainSpec(r.Op().VMID)
	if err != nil {
		return err
	}
	return s.hv.Define(ctx, spec)
}

func abandonDiskAttach(tx *store.Tx, op store.Operation) {
	v, _ := tx.VM(op.VMID)
	if d, ok := tx.Disk(op.DiskID); ok && d.VMID == op.VMID && !slices.Contains(v.DiskIDs, d.ID) {
		d.VMID = 0
		tx.PutDisk(d)
	}
}

func (s *Workflows) attachIface(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	in, err := ops.Input[IfaceAttach](r)
	if err != nil {
		return err
	}
	var iface store.Iface
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		if !slices.Contains(v.IfaceIDs, op.IfaceID) { // else recorded before a restart
			switch {
			case in.First && running:
				// The service refuses this; the VM was started since.
				return fmt.Errorf("primary: vm %d is running, and a running guest's interfaces cannot move; add it as the last or stop the VM", v.ID)
			case in.First:
				v.IfaceIDs = slices.Insert(v.IfaceIDs, 0, op.IfaceID)
			default:
				v.IfaceIDs = append(v.IfaceIDs, op.IfaceID)
			}
			v.DateUpdated = now()
			tx.PutVM(v)
		}
		iface, _ = tx.Iface(op.IfaceID)
		iface.State = store.IfaceUsed
		tx.PutIface(iface)
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	return s.hv.AttachIface(ctx, name, s.ifaceSpec(iface))
}

func (s *Workflows) detachIface(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	var iface store.Iface
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		if v, ok := tx.VM(op.VMID); ok && slices.Contains(v.IfaceIDs, op.IfaceID) {
			v.IfaceIDs = slices.DeleteFunc(v.IfaceIDs, func(x int64) bool { return x == op.IfaceID })
			v.DateUpdated = now()
			tx.PutVM(v)
		}
		var ok bool
		if iface, ok = tx.Iface(op.IfaceID); ok && iface.VMID == op.VMID {
			iface.VMID, iface.State = 0, store.IfaceFree
			tx.PutIface(iface)
		}
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	return s.hv.DetachIface(ctx, name, iface.MAC)
}

func abandonIfaceAttach(tx *store.Tx, op store.Operation) {
	v, _ := tx.VM(op.VMID)
	if i, ok := tx.Iface(op.IfaceID); ok && i.VMID == op.VMID && !slices.Contains(v.IfaceIDs, i.ID) {
		i.VMID, i.State = 0, store.IfaceFree
		tx.PutIface(i)
	}
}

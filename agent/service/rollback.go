package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// A rollback replaces a disk by a new one made from its snapshot, as the
// seed describes: the new disk gets a new id, the old one is in state
// rollback while it runs (nothing else may change it) and is deleted at
// the end; the snapshots of the old disk become the new disk's.

// rollbackPair resolves a snapshot id to the snapshot and the disk it
// rolls back.
func rollbackPair(tx *store.Tx, c *Caller, snapID int64) (snap, old store.Disk, err error) {
	snap, err = diskFor(tx, c, snapID, false)
	if err != nil {
		return snap, old, notFound(ObjDisk, "snapshot", snapID)
	}
	if !snap.IsSnapshot() {
		return snap, old, Invalid(ObjDisk, "snapshot_id", "disk %d is a %s disk, not a snapshot", snapID, snap.Type)
	}
	if snap.State != store.DiskCreated {
		return snap, old, Errorf(ObjDisk, KindConflict, "snapshot_id: snapshot %d is %s", snapID, snap.State)
	}
	old, ok := tx.Disk(snap.Source)
	if !ok {
		return snap, old, Errorf(ObjDisk, KindConflict, "snapshot_id: the disk snapshot %d was taken of is gone; make a new disk from it with hosting.disk.create_from", snapID)
	}
	if old.State != store.DiskCreated {
		return snap, old, Errorf(ObjDisk, KindConflict, "snapshot_id: disk %d is %s", old.ID, old.State)
	}
	// A copy of old asked before would run after the swap and read the new disk (rebuild.go).
	if c, ok := copyPending(tx, old.ID); ok {
		return snap, old, Errorf(ObjDisk, KindConflict, "snapshot_id: disk %d, a snapshot or copy of disk %d, is being made; roll back once it is done", c.ID, old.ID)
	}
	return snap, old, nil
}

// reserveRollback records the new disk and puts the old one in state
// rollback. The new disk replaces the old one, so the quota is not
// charged twice (usedDiskMB skips disks in rollback).
func (s *Service) reserveRollback(tx *store.Tx, snap, old store.Disk, vmID int64) (store.Disk, opSpec) {
	d := old
	d.ID = tx.NextID("disk", s.wf.Taken().DiskIDFree(tx))
	d.Volume = workflow.VolumeName(d.ID)
	d.State, d.Source, d.VMID = store.DiskBeingCreated, snap.ID, vmID
	d.SizeMB, d.KernelVersion, d.Cmdline = snap.SizeMB, snap.KernelVersion, snap.Cmdline
	d.DateCreated, d.DateUpdated = now(), now()
	tx.PutDisk(d)
	old.State, old.DateUpdated = store.DiskRollback, now()
	tx.PutDisk(old)
	return d, opSpec{typ: "disk_rollback", diskID: d.ID, keys: []string{workflow.DiskKey(d.ID), workflow.DiskKey(old.ID), workflow.DiskKey(snap.ID)},
		params: map[string]string{"old_disk_id": strconv.FormatInt(old.ID, 10), "snapshot_id": strconv.FormatInt(snap.ID, 10)}, eta: 10,
		input: workflow.DiskRollback{OldDiskID: old.ID, SnapshotID: snap.ID}}
}

// DiskRollback asks to roll a disk back to one of its snapshots, named
// by the snapshot's id.
type DiskRollback struct {
	SnapshotID int64
	Options    CallOptions
}

// rollbackCall checks a rollback's options (obj: what the call is about)
// and returns the function that resolves the snapshot's account for the
// caller (another account's snapshot is "not found").
func (s *Service) rollbackCall(c *Caller, req DiskRollback, obj Object) (o callOpts, owner func(tx *store.Tx) (int64, error), err error) {
	snapID := req.SnapshotID
	if o, err = s.checkOptions(c, req.Options, obj); err != nil {
		return
	}
	owner = func(tx *store.Tx) (int64, error) {
		d, err := diskFor(tx, c, snapID, false)
		if err != nil {
			return 0, notFound(ObjDisk, "snapshot", snapID)
		}
		return d.AccountID, nil
	}
	return
}

// RollbackDisk rolls a disk attached to no VM back to its snapshot
// (hosting.disk.rollback_from); an attached disk takes RollbackVMDisk.
func (s *Service) RollbackDisk(ctx context.Context, c *Caller, req DiskRollback) (Operation, error) {
	snapID := req.SnapshotID
	o, owner, err := s.rollbackCall(c, req, ObjDisk)
	if err != nil {
		return Operation{}, err
	}
	return s.submitOneOf(c, o, owner, func(tx *store.Tx) (opSpec, error) {
		snap, old, err := rollbackPair(tx, c, snapID)
		if err != nil {
			return opSpec{}, err
		}
		if old.VMID != 0 {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "snapshot_id: disk %d is attached to vm %d; hosting.vm.disk_rollback stops, detaches and reattaches it", old.ID, old.VMID)
		}
		_, sp := s.reserveRollback(tx, snap, old, 0)
		return sp, nil
	})
}

// RollbackVMDisk is the seed's helper (hosting.vm.disk_rollback): for a
// disk attached to a VM it creates the whole sequence at once, each
// operation after the one before (stop, detach, rollback, attach at the
// same position, start). If one fails, the later ones put the old disk
// and the VM's state back (their Recover) before they are cancelled. A
// disk attached to no VM gets the rollback alone.
func (s *Service) RollbackVMDisk(ctx context.Context, c *Caller, req DiskRollback) ([]Operation, error) {
	snapID := req.SnapshotID
	o, owner, err := s.rollbackCall(c, req, ObjVM)
	if err != nil {
		return nil, err
	}
	var acct int64
	s.st.View(func(tx *store.Tx) { acct, err = owner(tx) })
	if err != nil {
		return nil, err
	}
	list, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		snap, old, err := rollbackPair(tx, c, snapID)
		if err != nil {
			return nil, err
		}
		if old.VMID == 0 {
			_, sp := s.reserveRollback(tx, snap, old, 0)
			return []int64{s.newOp(tx, acct, sp).ID}, nil
		}
		v, ok := tx.VM(old.VMID)
		if !ok {
			return nil, fmt.Errorf("disk %d is attached to vm %d, which has no record", old.ID, old.VMID)
		}
		if v.State == store.VMLocked || s.deleting(tx, workflow.VMKey(v.ID)) {
			return nil, Errorf(ObjVM, KindConflict, "snapshot_id: vm %d, which disk %d is attached to, is %s", v.ID, old.ID, v.State)
		}
		pos := slices.Index(v.DiskIDs, old.ID)
		access := "read/write"
		if slices.Contains(v.ReadOnly, old.ID) {
			access = "read"
		}
		running := v.State != store.VMHalted
		var chain []int64
		add := func(sp opSpec) {
			sp.after = slices.Clone(chain[max(len(chain)-1, 0):])
			chain = append(chain, s.newOp(tx, acct, sp).ID)
		}
		if running {
			add(opSpec{typ: "vm_stop", vmID: v.ID, keys: []string{workflow.VMKey(v.ID)}, eta: 10})
		}
		add(opSpec{typ: "disk_detach", vmID: v.ID, diskID: old.ID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(old.ID)}, eta: 5})
		nd, sp := s.reserveRollback(tx, snap, old, v.ID)
		add(sp)
		add(opSpec{typ: "disk_attach", vmID: v.ID, diskID: nd.ID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(nd.ID)}, eta: 5,
			params: map[string]string{"position": strconv.Itoa(pos), "access": access, "insert": "1", "restore_disk_id": strconv.FormatInt(old.ID, 10)},
			input:  workflow.DiskAttach{Position: pos, Insert: true, ReadOnly: access == "read", RestoreDiskID: old.ID}})
		if running {
			add(opSpec{typ: "vm_start", vmID: v.ID, keys: []string{workflow.VMKey(v.ID)}, eta: 20, params: map[string]string{"restore": "1"},
				input: workflow.VMStart{Restore: true}})
		}
		return chain, nil
	})
	if err != nil {
		return nil, err
	}
	return operationsOf(list), nil
}

package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// RebuildRequest asks to reinstall a VM's system disk (Gigas rebuild,
// Gandi extension hosting.vm.rebuild).
type RebuildRequest struct {
	// SourceDiskID is what the new system disk is copied from: an image's
	// disk (Gigas template_id resolves to it) or a disk of the account.
	SourceDiskID int64
	// StartAfter nil is Gigas's default, true: the VM runs at the end
	// whether or not it ran before. False leaves it halted.
	StartAfter *bool
	// SourceField is the caller's name for the source in faults
	// (image_id, disk_id, template_id); "source" when empty.
	SourceField string
	Options     CallOptions
}

// RebuildVM reinstalls a VM's system disk from an image, keeping its id,
// ifaces, addresses and data disks: one chain of operations, each after
// the one before (vm_stop if the VM runs, disk_detach of the system disk,
// vm_rebuild, disk_attach of the new disk at position 0, vm_start unless
// StartAfter is false). The new disk gets a new id and the old disk's
// name, snapshot profile and snapshots; it is at least as large as the
// old one. A VM created with first-boot data gets a fresh seed under a new
// instance-id, so the new system applies it again. If vm_rebuild fails,
// the operations after it put the old system disk back and start the VM
// again if it ran before (their Recover) before they are cancelled.
func (s *Service) RebuildVM(ctx context.Context, c *Caller, vmID int64, req RebuildRequest) ([]Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjVM)
	if err != nil {
		return nil, err
	}
	var acct int64
	s.st.View(func(tx *store.Tx) { acct, err = vmOwner(c, vmID)(tx) })
	if err != nil {
		return nil, err
	}
	field := req.SourceField
	if field == "" {
		field = "source"
	}
	if req.SourceDiskID <= 0 {
		return nil, Invalid(ObjVM, field, "must name an image or a disk to rebuild from")
	}
	start := req.StartAfter == nil || *req.StartAfter
	list, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		return s.reserveRebuild(tx, acct, vmID, req.SourceDiskID, field, start)
	})
	if err != nil {
		return nil, err
	}
	return operationsOf(list), nil
}

// reserveRebuild checks the VM and the source, records the new system
// disk (being created; the old one in state rollback, so the quota is
// not charged twice) and creates the chain.
func (s *Service) reserveRebuild(tx *store.Tx, acct, vmID, srcID int64, field string, start bool) ([]int64, error) {
	v, ok := tx.VM(vmID)
	if !ok {
		return nil, notFound(ObjVM, "vm", vmID)
	}
	if s.deleting(tx, workflow.VMKey(v.ID)) {
		return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d is being deleted", v.ID)
	}
	if v.State != store.VMRunning && v.State != store.VMHalted {
		return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d is %s; a rebuild needs a running or halted VM", v.ID, v.State)
	}
	if len(v.DiskIDs) == 0 {
		return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d has no system disk", v.ID)
	}
	old, ok := tx.Disk(v.DiskIDs[0])
	if !ok {
		return nil, fmt.Errorf("vm %d's system disk %d has no record", v.ID, v.DiskIDs[0])
	}
	if old.State != store.DiskCreated {
		return nil, Errorf(ObjVM, KindConflict, "vm_id: the system disk %d of vm %d is %s", old.ID, v.ID, old.State)
	}
	// The system disk is the first of the VM's list when the chain runs,
	// not only now: while an attach, a detach or another rebuild or
	// rollback chain is pending, the first disk may be a data disk (its
	// system disk detached), which the rebuild would replace. And the new
	// disk's size is the system disk's now: a growth of it pending would
	// leave the new disk smaller than the one it replaces.
	if o, ok := s.diskListPending(tx, v.ID, old.ID); ok {
		return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d's disks are changing (operation %d, %s, is not finished); rebuild once it ends", v.ID, o.ID, o.Type)
	}
	// A copy of the system disk asked before (a snapshot, maybe from a
	// profile) reads it when it runs: after the swap it would read the
	// new disk (the old one's snapshots move to it) or a deleted volume.
	// Copies asked after are refused (the old disk is in state rollback).
	if c, ok := copyPending(tx, old.ID); ok {
		return nil, Errorf(ObjVM, KindConflict, "vm_id: disk %d, a snapshot or copy of the system disk %d, is being made; rebuild once it is done", c.ID, old.ID)
	}
	if srcID == old.ID {
		return nil, Invalid(ObjVM, field, "disk %d is the system disk the rebuild replaces", srcID)
	}
	// The account's own disks or an image, as disk.create_from takes.
	src, ok := tx.Disk(srcID)
	if !ok || (src.AccountID != acct && src.Type != store.DiskTypeImage) {
		return nil, notFound(ObjDisk, field+": disk", srcID)
	}
	if src.State != store.DiskCreated || s.deleting(tx, workflow.DiskKey(src.ID)) {
		return nil, Errorf(ObjVM, KindConflict, "%s: disk %d is %s or being deleted; a rebuild copies a created disk", field, src.ID, src.State)
	}
	// Past the swap the old disk is gone: a kernel the VM cannot be
	// defined with would leave it with no system disk at all.
	if src.KernelVersion != "" && s.cfg.KernelsDir != "" && !slices.Contains(s.kernels(), src.KernelVersion) {
		return nil, Invalid(ObjVM, field, "disk %d boots kernel %q, which this host does not have (see hosting.disk.list_kernels)", src.ID, src.KernelVersion)
	}
	if src.DatacenterID != v.DatacenterID {
		return nil, Invalid(ObjVM, field, "disk %d is in datacenter %d, the VM in %d", src.ID, src.DatacenterID, v.DatacenterID)
	}
	d := old
	d.ID = tx.NextID("disk", s.wf.Taken().DiskIDFree(tx))
	d.Volume = workflow.VolumeName(d.ID)
	d.State, d.Source, d.VMID = store.DiskBeingCreated, src.ID, v.ID
	d.SizeMB = max(old.SizeMB, src.SizeMB)
	d.KernelVersion, d.Cmdline, d.Label = src.KernelVersion, src.Cmdline, src.Label
	d.DateCreated, d.DateUpdated = now(), now()
	if d.SizeMB > s.cfg.Limits.MaxDiskMB {
		return nil, Invalid(ObjVM, field, "disk %d's %d MB exceed the %d MB a disk may have", src.ID, src.SizeMB, s.cfg.Limits.MaxDiskMB)
	}
	if used, quota, more := s.usedDiskMB(tx, acct), s.quotaMB(tx, acct), s.chargedMB(d)-s.chargedMB(old); more > 0 && used+more > quota {
		return nil, quotaErr(ObjVM, "disk", "%s: the new system disk needs %d MB more, which would exceed the account's disk quota (%d of %d MB used)", field, more, used, quota)
	}
	tx.PutDisk(d)
	old.State, old.DateUpdated = store.DiskRollback, now()
	tx.PutDisk(old)

	running := v.State == store.VMRunning
	var chain []int64
	add := func(sp opSpec) {
		sp.after = slices.Clone(chain[max(len(chain)-1, 0):])
		chain = append(chain, s.newOp(tx, acct, sp).ID)
	}
	if running {
		add(opSpec{typ: "vm_stop", vmID: v.ID, keys: []string{workflow.VMKey(v.ID)}, eta: 10})
	}
	add(opSpec{typ: "disk_detach", vmID: v.ID, diskID: old.ID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(old.ID)}, eta: 5})
	add(opSpec{typ: "vm_rebuild", vmID: v.ID, diskID: d.ID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(d.ID), workflow.DiskKey(old.ID), workflow.DiskKey(src.ID)},
		params: map[string]string{"old_disk_id": strconv.FormatInt(old.ID, 10), "source": strconv.FormatInt(src.ID, 10)}, eta: 20,
		input: workflow.VMRebuild{OldDiskID: old.ID, Source: src.ID}})
	add(opSpec{typ: "disk_attach", vmID: v.ID, diskID: d.ID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(d.ID)}, eta: 5,
		params: map[string]string{"position": "0", "access": "read/write", "insert": "1", "restore_disk_id": strconv.FormatInt(old.ID, 10)},
		input:  workflow.DiskAttach{Position: 0, Insert: true, RestoreDiskID: old.ID}})
	if start {
		// Restore: a VM that ran before runs again even if the rebuild
		// fails; a halted one asked to start starts only on success.
		sp := opSpec{typ: "vm_start", vmID: v.ID, keys: []string{workflow.VMKey(v.ID)}, eta: 20}
		if running {
			sp.params, sp.input = map[string]string{"restore": "1"}, workflow.VMStart{Restore: true}
		}
		add(sp)
	}
	return chain, nil
}

// diskListPending returns an unfinished operation queued on VM vmID that
// changes its list of disks, or system disk sysID.
func (s *Service) diskListPending(tx *store.Tx, vmID, sysID int64) (store.Operation, bool) {
	for _, id := range s.eng.Holders(workflow.VMKey(vmID)) {
		o, ok := tx.Operation(id)
		if !ok || o.Finished() {
			continue
		}
		switch o.Type {
		case "disk_attach", "disk_detach", "disk_rollback", "vm_rebuild":
			return o, true
		case "disk_update":
			if o.DiskID == sysID {
				return o, true
			}
		}
	}
	return store.Operation{}, false
}

// copyPending returns a disk being made from disk id.
func copyPending(tx *store.Tx, id int64) (store.Disk, bool) {
	var out store.Disk
	tx.EachDisk(func(d *store.Disk) bool {
		if d.Source == id && d.State == store.DiskBeingCreated {
			out = *d
			return false
		}
		return true
	})
	return out, out.ID != 0
}

package service

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// DestroyVM deletes one of the caller's VMs with everything attached to
// it, as the Gigas document's DELETE does ("It also deletes any other
// resource attached to the virtual machine: Disk Volumes, Network
// Interfaces, IP Addresses, and associated Backups"): vm_delete, which
// deletes the system disk and the first iface and detaches the others,
// then, after it, a disk_delete for each other disk, for each manual
// snapshot of a disk it deletes (the backups; snapshotsOf) and an
// iface_delete for each other iface, all in one call. DeleteVM (Gandi's
// vm.delete) keeps the detached ones and refuses while snapshots would
// outlive the system disk: Gandi's documents do not say they go. Every
// disk is checked as DeleteDisk checks it before anything is submitted;
// if vm_delete fails, the operations after it are cancelled and the VM
// keeps its devices and its snapshots.
func (s *Service) DestroyVM(ctx context.Context, c *Caller, id int64, opts CallOptions) ([]Operation, error) {
	o, err := s.checkOptions(c, opts, ObjVM)
	if err != nil {
		return nil, err
	}
	var acct int64
	s.st.View(func(tx *store.Tx) { acct, err = vmOwner(c, id)(tx) })
	if err != nil {
		return nil, err
	}
	list, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		v, err := vmFor(tx, c, id)
		if err != nil {
			return nil, err
		}
		if s.deleting(tx, workflow.VMKey(id)) {
			return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d is already being deleted", id)
		}
		keys := []string{workflow.VMKey(id)}
		var disks, snaps, ifaces []int64
		for n, did := range v.DiskIDs {
			keys = append(keys, workflow.DiskKey(did))
			d, ok := tx.Disk(did)
			if !ok {
				continue
			}
			if n > 0 && (s.deleting(tx, workflow.DiskKey(did)) || d.State == store.DiskRollback || d.State == store.DiskDeleted) {
				return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d's disk %d is %s or being deleted; destroy the VM once it is done", id, did, d.State)
			}
			// A locked VM is left to the lock's fault (as keptSnapshotsOfVM
			// does): its snapshots' state is not what stops the call.
			if !isLocked(tx, id) {
				list, err := s.snapshotsOf(tx, id, d)
				if err != nil {
					return nil, err
				}
				snaps = append(snaps, list...)
			}
			if n > 0 {
				disks = append(disks, did)
			}
		}
		for n, iid := range v.IfaceIDs {
			keys = append(keys, workflow.IfaceKey(iid))
			if n > 0 {
				if s.deleting(tx, workflow.IfaceKey(iid)) {
					return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d's iface %d is being deleted; destroy the VM once it is done", id, iid)
				}
				ifaces = append(ifaces, iid)
			}
		}
		// vm_delete holds the snapshots' keys too: the engine runs an
		// operation once its keys are free, and `after` only checks, when
		// it runs, that vm_delete ended DONE; without them a snapshot's
		// disk_delete would run at once and be cancelled.
		for _, sid := range snaps {
			keys = append(keys, workflow.DiskKey(sid))
		}
		vop := s.newOp(tx, acct, opSpec{typ: "vm_delete", vmID: id, keys: keys, eta: 15})
		ids := []int64{vop.ID}
		for _, did := range disks {
			op := s.newOp(tx, acct, opSpec{typ: "disk_delete", diskID: did, keys: []string{workflow.DiskKey(did)}, after: []int64{vop.ID}, eta: 5})
			ids = append(ids, op.ID)
		}
		for _, sid := range snaps {
			op := s.newOp(tx, acct, opSpec{typ: "disk_delete", diskID: sid, keys: []string{workflow.DiskKey(sid)}, after: []int64{vop.ID}, eta: 5})
			ids = append(ids, op.ID)
		}
		for _, iid := range ifaces {
			op := s.newOp(tx, acct, opSpec{typ: "iface_delete", ifaceID: iid, keys: []string{workflow.IfaceKey(iid)}, after: []int64{vop.ID}, eta: 5})
			ids = append(ids, op.ID)
		}
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return operationsOf(list), nil
}

// snapshotsOf answers the manual snapshots of d, a disk of VM vm that
// DestroyVM deletes, for it to delete with it: the Gigas document's
// "associated Backups". One whose disk_delete is queued already is left
// to it. One that cannot be deleted now (being made, in a rollback,
// attached to a VM, with snapshots of its own) refuses the whole call,
// naming it, as DeleteDisk would refuse it: deleting the VM and leaving
// the snapshot behind would break the document's promise, and nothing is
// submitted yet. Automatic snapshots stay the snapshot scheduler's,
// which deletes those of a disk that is gone.
func (s *Service) snapshotsOf(tx *store.Tx, vm int64, d store.Disk) ([]int64, error) {
	var ids []int64
	var err error
	tx.EachDisk(func(x *store.Disk) bool {
		if x.Type != store.DiskTypeSnapshot || x.Source != d.ID || s.deleting(tx, workflow.DiskKey(x.ID)) {
			return true
		}
		if x.VMID == vm {
			return true // one of the VM's own disks, deleted as such
		}
		what := fmt.Sprintf("snapshot %d of disk %d of vm %d, deleted with it,", x.ID, d.ID, vm)
		switch {
		case x.State != store.DiskCreated:
			err = Errorf(ObjVM, KindConflict, "vm_id: %s is %s; destroy the VM once it is done", what, x.State)
		case x.VMID != 0:
			err = Errorf(ObjVM, KindConflict, "vm_id: %s is attached to vm %d; detach it first", what, x.VMID)
		default:
			err = s.keptSnapshots(tx, ObjVM, "vm_id", what, *x)
		}
		if err != nil {
			return false
		}
		ids = append(ids, x.ID)
		return true
	})
	return ids, err
}

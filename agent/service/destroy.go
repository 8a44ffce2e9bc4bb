package service

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// DestroyVM deletes one of the caller's VMs with everything attached to
// it, as the Gigas document's DELETE does ("freeing its resources ...
// disk volumes, network interfaces, IP addresses"): vm_delete, which
// deletes the system disk and the first iface and detaches the others,
// then, after it, a disk_delete for each other disk and an iface_delete
// for each other iface, all in one call. DeleteVM (Gandi's vm.delete)
// keeps the detached ones. Every disk is checked as DeleteDisk checks
// it before anything is submitted; if vm_delete fails, the operations
// after it are cancelled and the VM keeps its devices.
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
		if err := s.keptSnapshotsOfVM(tx, v); err != nil {
			return nil, err
		}
		keys := []string{workflow.VMKey(id)}
		var disks, ifaces []int64
		for n, did := range v.DiskIDs {
			keys = append(keys, workflow.DiskKey(did))
			if n == 0 {
				continue
			}
			d, ok := tx.Disk(did)
			if !ok {
				continue
			}
			if s.deleting(tx, workflow.DiskKey(did)) || d.State == store.DiskRollback || d.State == store.DiskDeleted {
				return nil, Errorf(ObjVM, KindConflict, "vm_id: vm %d's disk %d is %s or being deleted; destroy the VM once it is done", id, did, d.State)
			}
			if err := s.keptSnapshots(tx, ObjVM, "vm_id", fmt.Sprintf("disk %d of vm %d, deleted with it,", did, id), d); err != nil {
				return nil, err
			}
			disks = append(disks, did)
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
		vop := s.newOp(tx, acct, opSpec{typ: "vm_delete", vmID: id, keys: keys, eta: 15})
		ids := []int64{vop.ID}
		for _, did := range disks {
			op := s.newOp(tx, acct, opSpec{typ: "disk_delete", diskID: did, keys: []string{workflow.DiskKey(did)}, after: []int64{vop.ID}, eta: 5})
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

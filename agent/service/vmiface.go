package service

import (
	"context"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// firstParams are the params of an iface_attach that puts the iface
// first: position 0, as a client reads it back.
func firstParams(first bool) map[string]string {
	if !first {
		return nil
	}
	return map[string]string{"position": "0"}
}

// AddIface creates an iface with one address for one of the caller's
// VMs and attaches it, in one call (the Gigas document's POST
// network_interface): iface_create, then iface_attach after it. The
// iface is reserved for the VM at once. If the attach fails, the iface
// stays the account's, free; if the creation fails, the attach is
// cancelled.
func (s *Service) AddIface(ctx context.Context, c *Caller, vmID int64, req NewIface) ([]Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjVM)
	if err != nil {
		return nil, err
	}
	var acct int64
	s.st.View(func(tx *store.Tx) { acct, err = vmOwner(c, vmID)(tx) })
	if err != nil {
		return nil, err
	}
	r := ifaceReq{obj: ObjIface, accountID: acct, id: o.ifaceID, ipID: o.ipID, bandwidth: s.cfg.Network.Bandwidth()}
	if r.version, err = ipVersion(ObjIface, "ip_version", req.IPVersion); err != nil {
		return nil, err
	}
	if req.Bandwidth != nil {
		r.bandwidth = *req.Bandwidth
	}
	list, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		v, err := vmFor(tx, c, vmID)
		if err != nil {
			return nil, err
		}
		if v.State == store.VMBeingCreated || s.deleting(tx, workflow.VMKey(vmID)) {
			return nil, Errorf(ObjVM, KindBusy, "vm_id: vm %d is %s; try again when it is done", vmID, map[bool]string{true: "being created", false: "being deleted"}[v.State == store.VMBeingCreated])
		}
		if req.Sole && len(v.IfaceIDs) > 0 {
			return nil, hasIfaceErr(v)
		}
		if req.First && v.State != store.VMHalted {
			return nil, Errorf(ObjVM, KindConflict, "primary: vm %d is %s; a new interface goes before the others only while the VM is halted (a running guest's interfaces cannot move)", vmID, v.State)
		}
		r.dc = v.DatacenterID
		i, ip, err := s.reserveIface(tx, r)
		if err != nil {
			return nil, err
		}
		i.VMID = v.ID
		tx.PutIface(i)
		cop := s.newOp(tx, acct, opSpec{typ: "iface_create", ifaceID: i.ID, ip: ip.ID, keys: []string{workflow.IfaceKey(i.ID)}, eta: 5})
		aop := s.newOp(tx, acct, opSpec{typ: "iface_attach", vmID: v.ID, ifaceID: i.ID, keys: []string{workflow.VMKey(v.ID), workflow.IfaceKey(i.ID)},
			after: []int64{cop.ID}, eta: 5, params: firstParams(req.First), input: workflow.IfaceAttach{First: req.First}})
		return []int64{cop.ID, aop.ID}, nil
	})
	if err != nil {
		return nil, err
	}
	return operationsOf(list), nil
}

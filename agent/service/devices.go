package service

import (
	"context"
	"slices"
	"strconv"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// deviceCall reads (vm_id, device_id) and resolves both for the caller.
func (s *Service) vmDeviceArgs(c *Caller, a args, devName string, optsIdx int) (vmID, devID int64, o callOpts, err error) {
	a.obj = ObjVM
	if vmID, err = a.int(0, "vm_id"); err != nil {
		return
	}
	if devID, err = a.int(1, devName); err != nil {
		return
	}
	o, err = s.callOpts(c, a, optsIdx)
	return
}

func (s *Service) vmDiskAttach(ctx context.Context, c *Caller, a args) (any, error) {
	vmID, diskID, o, err := s.vmDeviceArgs(c, a, "disk_id", 3)
	if err != nil {
		return nil, err
	}
	sp, err := args{obj: ObjVM, vals: a.vals}.spec(2, "options", true)
	if err != nil {
		return nil, err
	}
	pos, err := sp.int("position", -1, false)
	if err != nil {
		return nil, err
	}
	if sp.has("position") && pos < 0 {
		return nil, invalid(ObjVM, "position", "must be 0 or more")
	}
	access, err := sp.str("access", "read/write", false)
	if err != nil {
		return nil, err
	}
	if access != "read" && access != "read/write" {
		return nil, invalid(ObjVM, "access", "must be read or read/write")
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	return s.vmDeviceOp(c, o, a, vmID, "hosting.vm.disk_attach", func(tx *store.Tx, v store.VM) (opSpec, error) {
		d, ok := tx.Disk(diskID)
		if !ok || d.AccountID != v.AccountID {
			return opSpec{}, notFound(ObjDisk, "disk", diskID)
		}
		if d.VMID != 0 {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is attached to vm %d; a disk attaches to one VM only", diskID, d.VMID)
		}
		if d.State != store.DiskCreated || d.Type != store.DiskTypeData {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is %s %s, not a created data disk (snapshots are not attached; create a disk from one)", diskID, d.State, d.Type)
		}
		if d.DatacenterID != v.DatacenterID {
			return opSpec{}, invalid(ObjVM, "disk_id", "disk %d is in datacenter %d, vm %d in %d", diskID, d.DatacenterID, v.ID, v.DatacenterID)
		}
		if pos == 0 && v.State != store.VMHalted {
			return opSpec{}, fault(ObjVM, KindConflict, "position: the system disk (position 0) of vm %d can change only while it is halted", v.ID)
		}
		d.VMID = v.ID // reserved now, so no second attach can pass
		tx.PutDisk(d)
		return opSpec{typ: "disk_attach", vmID: v.ID, diskID: diskID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(diskID)},
			params: map[string]string{"position": strconv.FormatInt(pos, 10), "access": access}, eta: 5}, nil
	})
}

func (s *Service) vmDiskDetach(ctx context.Context, c *Caller, a args) (any, error) {
	vmID, diskID, o, err := s.vmDeviceArgs(c, a, "disk_id", 2)
	if err != nil {
		return nil, err
	}
	return s.vmDeviceOp(c, o, a, vmID, "hosting.vm.disk_detach", func(tx *store.Tx, v store.VM) (opSpec, error) {
		pos := -1
		for i, id := range v.DiskIDs {
			if id == diskID {
				pos = i
			}
		}
		if pos < 0 {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is not attached to vm %d", diskID, v.ID)
		}
		if pos == 0 && v.State != store.VMHalted {
			return opSpec{}, fault(ObjVM, KindConflict, "disk_id: disk %d is the system disk of vm %d, which must be halted to detach it", diskID, v.ID)
		}
		return opSpec{typ: "disk_detach", vmID: v.ID, diskID: diskID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(diskID)}, eta: 5}, nil
	})
}

func (s *Service) vmIfaceAttach(ctx context.Context, c *Caller, a args) (any, error) {
	vmID, ifaceID, o, err := s.vmDeviceArgs(c, a, "iface_id", 2)
	if err != nil {
		return nil, err
	}
	return s.vmDeviceOp(c, o, a, vmID, "hosting.vm.iface_attach", func(tx *store.Tx, v store.VM) (opSpec, error) {
		i, ok := tx.Iface(ifaceID)
		if !ok || i.AccountID != v.AccountID {
			return opSpec{}, notFound(ObjIface, "iface", ifaceID)
		}
		if i.VMID != 0 {
			return opSpec{}, fault(ObjIface, KindConflict, "iface_id: iface %d is attached to vm %d", ifaceID, i.VMID)
		}
		if i.State != store.IfaceFree {
			return opSpec{}, fault(ObjIface, KindConflict, "iface_id: iface %d is %s, not free", ifaceID, i.State)
		}
		if i.DatacenterID != v.DatacenterID {
			return opSpec{}, invalid(ObjVM, "iface_id", "iface %d is in datacenter %d, vm %d in %d", ifaceID, i.DatacenterID, v.ID, v.DatacenterID)
		}
		i.VMID = v.ID
		tx.PutIface(i)
		return opSpec{typ: "iface_attach", vmID: v.ID, ifaceID: ifaceID, keys: []string{workflow.VMKey(v.ID), workflow.IfaceKey(ifaceID)}, eta: 5}, nil
	})
}

func (s *Service) vmIfaceDetach(ctx context.Context, c *Caller, a args) (any, error) {
	vmID, ifaceID, o, err := s.vmDeviceArgs(c, a, "iface_id", 2)
	if err != nil {
		return nil, err
	}
	return s.vmDeviceOp(c, o, a, vmID, "hosting.vm.iface_detach", func(tx *store.Tx, v store.VM) (opSpec, error) {
		if !slices.Contains(v.IfaceIDs, ifaceID) {
			return opSpec{}, fault(ObjIface, KindConflict, "iface_id: iface %d is not attached to vm %d", ifaceID, v.ID)
		}
		return opSpec{typ: "iface_detach", vmID: v.ID, ifaceID: ifaceID, keys: []string{workflow.VMKey(v.ID), workflow.IfaceKey(ifaceID)}, eta: 5}, nil
	})
}

func (s *Service) vmDeviceOp(c *Caller, o callOpts, a args, vmID int64, method string, reserve func(tx *store.Tx, v store.VM) (opSpec, error)) (any, error) {
	return s.submitOne(c, o, method, a.vals, vmOwner(c, vmID), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(vmID)
		if v.State == store.VMBeingCreated || s.deleting(tx, workflow.VMKey(vmID)) {
			return opSpec{}, fault(ObjVM, KindBusy, "vm_id: vm %d is %s; try again when it is done", vmID, map[bool]string{true: "being created", false: "being deleted"}[v.State == store.VMBeingCreated])
		}
		return reserve(tx, v)
	})
}

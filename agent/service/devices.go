package service

import (
	"context"
	"slices"
	"strconv"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// DiskAttach asks to attach one of the account's data disks to a VM.
type DiskAttach struct {
	VMID, DiskID int64
	// Position is the disk's place among the VM's disks, 0 being the
	// system disk (only while the VM is halted); nil puts it after the
	// others. An explicit negative position is refused.
	Position *int64
	// Access is "read" or "read/write"; nil is read/write.
	Access  *string
	Options CallOptions
}

// DiskDetach asks to detach a disk from the VM it is attached to.
type DiskDetach struct {
	VMID, DiskID int64
	Options      CallOptions
}

// IfaceAttach asks to attach a free iface to a VM.
type IfaceAttach struct {
	VMID, IfaceID int64
	// First puts the iface before the VM's others, as NewIface.First.
	First bool
	// Sole refuses a VM that has an iface already, as NewIface.Sole.
	Sole    bool
	Options CallOptions
}

// IfaceDetach asks to detach an iface from the VM it is attached to.
type IfaceDetach struct {
	VMID, IfaceID int64
	Options       CallOptions
}

// AttachDisk attaches a created data disk of the VM's account, in its
// datacenter and attached nowhere else, to the VM. The disk is reserved
// for the VM at once, so no second attach can pass.
func (s *Service) AttachDisk(ctx context.Context, c *Caller, req DiskAttach) (Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	pos, access := int64(-1), "read/write"
	if req.Position != nil {
		if pos = *req.Position; pos < 0 {
			return Operation{}, Invalid(ObjVM, "position", "must be 0 or more")
		}
	}
	if req.Access != nil {
		access = *req.Access
	}
	if access != "read" && access != "read/write" {
		return Operation{}, Invalid(ObjVM, "access", "must be read or read/write")
	}
	diskID := req.DiskID
	return s.vmDeviceOp(c, o, req.VMID, func(tx *store.Tx, v store.VM) (opSpec, error) {
		d, ok := tx.Disk(diskID)
		if !ok || d.AccountID != v.AccountID {
			return opSpec{}, notFound(ObjDisk, "disk", diskID)
		}
		if d.VMID != 0 {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is attached to vm %d; a disk attaches to one VM only", diskID, d.VMID)
		}
		if d.State != store.DiskCreated || d.Type != store.DiskTypeData {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is %s %s, not a created data disk (snapshots are not attached; create a disk from one)", diskID, d.State, d.Type)
		}
		if d.DatacenterID != v.DatacenterID {
			return opSpec{}, Invalid(ObjVM, "disk_id", "disk %d is in datacenter %d, vm %d in %d", diskID, d.DatacenterID, v.ID, v.DatacenterID)
		}
		if pos == 0 && v.State != store.VMHalted {
			return opSpec{}, Errorf(ObjVM, KindConflict, "position: the system disk (position 0) of vm %d can change only while it is halted", v.ID)
		}
		if err := livePosition(v, pos); err != nil {
			return opSpec{}, err
		}
		d.VMID = v.ID // reserved now, so no second attach can pass
		tx.PutDisk(d)
		return opSpec{typ: "disk_attach", vmID: v.ID, diskID: diskID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(diskID)},
			params: map[string]string{"position": strconv.FormatInt(pos, 10), "access": access}, eta: 5,
			input: workflow.DiskAttach{Position: int(pos), ReadOnly: access == "read"}}, nil
	})
}

// DetachDisk detaches a disk from its VM; the system disk (position 0)
// only while the VM is halted.
func (s *Service) DetachDisk(ctx context.Context, c *Caller, req DiskDetach) (Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	diskID := req.DiskID
	return s.vmDeviceOp(c, o, req.VMID, func(tx *store.Tx, v store.VM) (opSpec, error) {
		pos := -1
		for i, id := range v.DiskIDs {
			if id == diskID {
				pos = i
			}
		}
		if pos < 0 {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is not attached to vm %d", diskID, v.ID)
		}
		if pos == 0 && v.State != store.VMHalted {
			return opSpec{}, Errorf(ObjVM, KindConflict, "disk_id: disk %d is the system disk of vm %d, which must be halted to detach it", diskID, v.ID)
		}
		return opSpec{typ: "disk_detach", vmID: v.ID, diskID: diskID, keys: []string{workflow.VMKey(v.ID), workflow.DiskKey(diskID)}, eta: 5}, nil
	})
}

// AttachIface attaches a free iface of the VM's account, in its
// datacenter, to the VM; the iface is reserved for the VM at once.
func (s *Service) AttachIface(ctx context.Context, c *Caller, req IfaceAttach) (Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	ifaceID := req.IfaceID
	return s.vmDeviceOp(c, o, req.VMID, func(tx *store.Tx, v store.VM) (opSpec, error) {
		i, ok := tx.Iface(ifaceID)
		if !ok || i.AccountID != v.AccountID {
			return opSpec{}, notFound(ObjIface, "iface", ifaceID)
		}
		if i.VMID != 0 {
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is attached to vm %d", ifaceID, i.VMID)
		}
		if i.State != store.IfaceFree {
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is %s, not free", ifaceID, i.State)
		}
		if i.DatacenterID != v.DatacenterID {
			return opSpec{}, Invalid(ObjVM, "iface_id", "iface %d is in datacenter %d, vm %d in %d", ifaceID, i.DatacenterID, v.ID, v.DatacenterID)
		}
		if req.Sole && len(v.IfaceIDs) > 0 {
			return opSpec{}, hasIfaceErr(v)
		}
		if req.First && v.State != store.VMHalted {
			return opSpec{}, Errorf(ObjVM, KindConflict, "primary: vm %d is %s; an interface goes before the others only while the VM is halted (a running guest's interfaces cannot move)", v.ID, v.State)
		}
		i.VMID = v.ID
		tx.PutIface(i)
		return opSpec{typ: "iface_attach", vmID: v.ID, ifaceID: ifaceID, keys: []string{workflow.VMKey(v.ID), workflow.IfaceKey(ifaceID)}, eta: 5,
			params: firstParams(req.First), input: workflow.IfaceAttach{First: req.First}}, nil
	})
}

// DetachIface detaches an iface from its VM.
func (s *Service) DetachIface(ctx context.Context, c *Caller, req IfaceDetach) (Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	ifaceID := req.IfaceID
	return s.vmDeviceOp(c, o, req.VMID, func(tx *store.Tx, v store.VM) (opSpec, error) {
		if !slices.Contains(v.IfaceIDs, ifaceID) {
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is not attached to vm %d", ifaceID, v.ID)
		}
		return opSpec{typ: "iface_detach", vmID: v.ID, ifaceID: ifaceID, keys: []string{workflow.VMKey(v.ID), workflow.IfaceKey(ifaceID)}, eta: 5}, nil
	})
}

// vmDeviceOp submits one operation on one of the caller's VMs, refused
// while the VM is being created or deleted; reserve checks the rest.
func (s *Service) vmDeviceOp(c *Caller, o callOpts, vmID int64, reserve func(tx *store.Tx, v store.VM) (opSpec, error)) (Operation, error) {
	return s.submitOneOf(c, o, vmOwner(c, vmID), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(vmID)
		if v.State == store.VMBeingCreated || s.deleting(tx, workflow.VMKey(vmID)) {
			return opSpec{}, Errorf(ObjVM, KindBusy, "vm_id: vm %d is %s; try again when it is done", vmID, map[bool]string{true: "being created", false: "being deleted"}[v.State == store.VMBeingCreated])
		}
		return reserve(tx, v)
	})
}

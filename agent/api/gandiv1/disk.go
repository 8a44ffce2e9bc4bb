package gandiv1

import (
	"context"
	"slices"

	"github.com/xenagent/xenagent/agent/service"
)

// FSTypes are the filesystems disk_create names.
var FSTypes = []string{"ext3", "reiserfs", "xfs", "jfs"}

// diskCreate is disk_create(session, {size, name, fstype}): a data disk
// of size MB, formatted with fstype when given (one of the document's
// four that this host has the mkfs of); it answers the disk's id at once.
func (s *Server) diskCreate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjDisk
	if err := a.count(1, 1); err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "specs")
	if err != nil {
		return nil, err
	}
	size, err := sp.intPtr("size")
	if err != nil {
		return nil, err
	}
	if size == nil {
		return nil, dataFault(ObjDisk, CauseMissing, "specs.size", "specs.size: missing parameter (the size in MB)")
	}
	name, hasName, err := sp.str("name")
	if err != nil {
		return nil, err
	}
	if !hasName {
		return nil, dataFault(ObjDisk, CauseMissing, "specs.name", "specs.name: missing parameter")
	}
	fstype, hasFS, err := sp.str("fstype")
	if err != nil {
		return nil, err
	}
	if hasFS && !slices.Contains(FSTypes, fstype) {
		f := dataFault(ObjDisk, CauseValue, "specs.fstype", "specs.fstype: must be one of ext3, reiserfs, xfs, jfs")
		f.Value, f.ShowValue = shown(fstype), true
		return nil, f
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := s.svc.CreateDisk(ctx, c, service.NewDisk{DatacenterID: s.datacenterID(), Name: name, SizeMB: size, FSType: fstype})
	if err != nil {
		// The account's disk quota is about the size asked for.
		return nil, inParams(err, map[string]string{"size": "specs.size", "name": "specs.name", "fstype": "specs.fstype", "disk": "specs.size"},
			param{"specs.size", service.ObjUnknown, *size}, param{"specs.name", service.ObjUnknown, shown(name)},
			param{"specs.fstype", service.ObjUnknown, shown(fstype)})
	}
	if op.DiskID == 0 {
		return nil, errInternal
	}
	return op.DiskID, nil
}

// diskInfo is disk_info(session, disk_id); fstype is the filesystem the
// disk was created with, "" when none (a system disk's is its image's
// business, not recorded).
func (s *Server) diskInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjDisk
	if err := a.count(1, 1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "disk_id")
	if err != nil {
		return nil, err
	}
	d, err := s.svc.Disk(c, id)
	if err != nil {
		return nil, inParams(err, nil, diskParam(id))
	}
	vmID := int64(0)
	if len(d.VMIDs) > 0 {
		vmID = d.VMIDs[0]
	}
	return map[string]any{
		"id": d.ID, "name": d.Name, "size": d.SizeMB, "state": d.State, "type": d.Type,
		"vm_id": vmID, "is_boot_disk": d.IsBootDisk, "os_id": s.osOf(d.Source),
		"datacenter_id": d.DatacenterID, "fstype": d.FSType,
		"date_created": d.DateCreated, "date_updated": d.DateUpdated,
	}, nil
}

// diskDelete is disk_delete(session, disk_id): an unattached disk.
func (s *Server) diskDelete(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjDisk
	if err := a.count(1, 1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "disk_id")
	if err != nil {
		return nil, err
	}
	op, err := s.svc.DeleteDisk(ctx, c, id, service.CallOptions{})
	if err != nil {
		return nil, inParams(err, nil, diskParam(id))
	}
	return op.ID, nil
}

// diskAttach is disk_attach(session, disk_id, vm_id): after the VM's
// other disks, read/write.
func (s *Server) diskAttach(ctx context.Context, c *service.Caller, a args) (any, error) {
	diskID, vmID, err := diskAndVM(a)
	if err != nil {
		return nil, err
	}
	op, err := s.svc.AttachDisk(ctx, c, service.DiskAttach{VMID: vmID, DiskID: diskID})
	if err != nil {
		return nil, inParams(err, nil, diskParam(diskID), vmParam(vmID))
	}
	return op.ID, nil
}

// diskDetach is disk_detach(session, disk_id, vm_id).
func (s *Server) diskDetach(ctx context.Context, c *service.Caller, a args) (any, error) {
	diskID, vmID, err := diskAndVM(a)
	if err != nil {
		return nil, err
	}
	op, err := s.svc.DetachDisk(ctx, c, service.DiskDetach{VMID: vmID, DiskID: diskID})
	if err != nil {
		return nil, inParams(err, nil, diskParam(diskID), vmParam(vmID))
	}
	return op.ID, nil
}

// diskParam is the disk_id parameter of a call about an existing disk.
func diskParam(id int64) param { return param{"disk_id", service.ObjDisk, id} }

func diskAndVM(a args) (diskID, vmID int64, err error) {
	a.obj = ObjDisk
	if err := a.count(2, 2); err != nil {
		return 0, 0, err
	}
	if diskID, err = a.id(0, "disk_id"); err != nil {
		return 0, 0, err
	}
	a.obj = ObjVM
	vmID, err = a.id(1, "vm_id")
	return diskID, vmID, err
}

// diskList is disk_list(session): the ids of the account's disks
// (snapshots and images aside).
func (s *Server) diskList(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjDisk
	if err := a.count(0, 0); err != nil {
		return nil, err
	}
	return allIDs(func(p service.Page) ([]int64, error) {
		disks, err := s.svc.Disks(c, service.DiskFilter{Type: "data"}, p)
		ids := make([]int64, len(disks))
		for i, d := range disks {
			ids[i] = d.ID
		}
		return ids, err
	})
}

// osList is os_list(session): the OS images a VM can be made from.
func (s *Server) osList(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjOS
	if err := a.count(0, 0); err != nil {
		return nil, err
	}
	out := []any{}
	for _, im := range s.svc.Images(service.ImageFilter{}) {
		out = append(out, map[string]any{"id": im.ID, "name": im.Label, "arch": im.OSArch, "datacenter_id": im.DatacenterID,
			"date_created": im.DateCreated})
	}
	return out, nil
}

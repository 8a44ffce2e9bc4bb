package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// The CD-ROM extensions (service/iso.go): ISOs the operator registered,
// one attached to a VM read-only, and the boot device. The Gigas document
// has them (its iso and boot_type); the Gandi v3 one does not.

// isoList is the extension hosting.iso.list(apikey, {id, label}): the
// registered ISOs, everyone's, as hosting.image.list lists images.
func (f *Face) isoList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.ISOFilter
	err := countOptions(a, service.ObjImage, func(sp *spec) (err error) {
		if filter.IDs, err = sp.ints("id"); err != nil {
			return err
		}
		filter.Labels, err = sp.strs("label")
		return err
	})
	if err != nil {
		return nil, err
	}
	return renderAll(f.svc.ISOs(filter), func(i service.ISO) any {
		return map[string]any{"id": i.ID, "label": i.Label, "size": i.SizeMB, "datacenter_id": i.DatacenterID,
			"date_created": i.DateCreated, "date_updated": i.DateUpdated}
	}), nil
}

// vmISOAttach is the extension hosting.vm.iso_attach(apikey, vm_id,
// iso_id, call_options) → operation vm_iso_attach.
func (f *Face) vmISOAttach(ctx context.Context, c *service.Caller, a args) (any, error) {
	vmID, isoID, o, err := vmDevice(a, "iso_id", 2, "hosting.vm.iso_attach")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.AttachISO(ctx, c, service.ISOAttach{VMID: vmID, ISOID: isoID, Options: o})
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// vmISODetach is the extension hosting.vm.iso_detach(apikey, vm_id,
// call_options) → operation vm_iso_detach; the VM boots from its disk again.
func (f *Face) vmISODetach(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	vmID, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	o, err := callOptions(a, 1, "hosting.vm.iso_detach")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.DetachISO(ctx, c, service.ISODetach{VMID: vmID, Options: o})
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// vmBootType is the extension hosting.vm.boot_type(apikey, vm_id,
// "default"|"cdrom", call_options) → operation vm_boot_type.
func (f *Face) vmBootType(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	vmID, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	bt, err := a.str(1, "boot_type")
	if err != nil {
		return nil, err
	}
	o, err := callOptions(a, 2, "hosting.vm.boot_type")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.SetBootType(ctx, c, service.BootTypeChange{VMID: vmID, BootType: bt, Options: o})
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

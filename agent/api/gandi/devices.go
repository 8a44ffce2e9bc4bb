package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// vmDevice reads a device call's (vm_id, device id) and its call options
// at argument optsIdx.
func vmDevice(a args, devName string, optsIdx int, method string) (vmID, devID int64, o service.CallOptions, err error) {
	a.obj = service.ObjVM
	if vmID, err = a.int(0, "vm_id"); err != nil {
		return
	}
	if devID, err = a.int(1, devName); err != nil {
		return
	}
	o, err = callOptions(a, optsIdx, method)
	return
}

// vmDiskAttach is hosting.vm.disk_attach(vm_id, disk_id, options, call_options).
func (f *Face) vmDiskAttach(ctx context.Context, c *service.Caller, a args) (any, error) {
	vmID, diskID, o, err := vmDevice(a, "disk_id", 3, "hosting.vm.disk_attach")
	if err != nil {
		return nil, err
	}
	req := service.DiskAttach{VMID: vmID, DiskID: diskID, Options: o}
	sp, err := args{obj: service.ObjVM, vals: a.vals}.spec(2, "options", true)
	if err != nil {
		return nil, err
	}
	pos, err := sp.int("position", -1, false)
	if err != nil {
		return nil, err
	}
	if sp.has("position") {
		req.Position = &pos
	}
	access, err := sp.str("access", "", false)
	if err != nil {
		return nil, err
	}
	if sp.has("access") {
		req.Access = &access
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.AttachDisk(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// vmDiskDetach is hosting.vm.disk_detach(vm_id, disk_id, call_options).
func (f *Face) vmDiskDetach(ctx context.Context, c *service.Caller, a args) (any, error) {
	vmID, diskID, o, err := vmDevice(a, "disk_id", 2, "hosting.vm.disk_detach")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.DetachDisk(ctx, c, service.DiskDetach{VMID: vmID, DiskID: diskID, Options: o})
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// vmIfaceAttach is hosting.vm.iface_attach(vm_id, iface_id, call_options).
func (f *Face) vmIfaceAttach(ctx context.Context, c *service.Caller, a args) (any, error) {
	vmID, ifaceID, o, err := vmDevice(a, "iface_id", 2, "hosting.vm.iface_attach")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.AttachIface(ctx, c, service.IfaceAttach{VMID: vmID, IfaceID: ifaceID, Options: o})
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// vmIfaceDetach is hosting.vm.iface_detach(vm_id, iface_id, call_options).
func (f *Face) vmIfaceDetach(ctx context.Context, c *service.Caller, a args) (any, error) {
	vmID, ifaceID, o, err := vmDevice(a, "iface_id", 2, "hosting.vm.iface_detach")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.DetachIface(ctx, c, service.IfaceDetach{VMID: vmID, IfaceID: ifaceID, Options: o})
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

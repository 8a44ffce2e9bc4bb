package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// decodeVMSpec decodes a VMCreateFromDescription, or with sysDisk a
// VMDescription (vm.create's, whose sys_disk_id it reads into sysDisk).
func decodeVMSpec(sp *spec, sysDisk *int64) (v service.VMSpec, err error) {
	if v.DatacenterID, err = sp.int("datacenter_id", 0, true); err != nil {
		return v, err
	}
	if v.Hostname, err = sp.str("hostname", "", true); err != nil {
		return v, err
	}
	if err = service.GandiHostname(v.Hostname); err != nil {
		return v, err
	}
	for key, dst := range map[string]**int64{"memory": &v.Memory, "vm_max_memory": &v.MaxMemory, "cores": &v.Cores} {
		if *dst, err = sp.intPtr(key); err != nil {
			return v, err
		}
	}
	if v.AIActive, err = sp.int("ai_active", 0, false); err != nil {
		return v, err
	}
	if v.Bandwidth, err = bandwidth(sp); err != nil { // or "unlimited" (tune.go)
		return v, err
	}
	if v.IPVersion, err = sp.intPtr("ip_version"); err != nil {
		return v, err
	}
	if v.IfaceID, err = sp.int("iface_id", 0, false); err != nil {
		return v, err
	}
	if sysDisk != nil {
		if *sysDisk, err = sp.int("sys_disk_id", 0, true); err != nil {
			return v, err
		}
	}
	if v.Keys, err = sp.ints("keys"); err != nil {
		return v, err
	}
	for key, dst := range map[string]*string{"login": &v.Login, "password": &v.Password, "ssh_key": &v.SSHKey, "run": &v.Run} {
		if *dst, err = sp.str(key, "", false); err != nil {
			return v, err
		}
	}
	if err = vmTune(sp, &v.VMTune); err != nil { // extensions (tune.go)
		return v, err
	}
	sp.ignore("shares")
	return v, sp.done()
}

// decodeVMDiskSpec decodes vm.create_from's disk_spec, a DiskCopyDescription.
func decodeVMDiskSpec(sp *spec) (d service.VMDiskSpec, err error) {
	if d.DatacenterID, err = sp.intPtr("datacenter_id"); err != nil {
		return d, err
	}
	if d.Name, err = sp.str("name", "", false); err != nil {
		return d, err
	}
	if d.Size, err = sp.intPtr("size"); err != nil {
		return d, err
	}
	if d.Type, err = sp.strPtr("type"); err != nil {
		return d, err
	}
	if d.SnapshotProfile, err = snapshotProfile(sp); err != nil {
		return d, err
	}
	if _, err := sp.ints("repulse_from"); err != nil {
		return d, err // one host: every disk is on the same storage anyway
	}
	return d, sp.done()
}

func (f *Face) vmCreate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	opts, err := callOptions(a, 1, "hosting.vm.create")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "vm_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.VMCreate{Options: opts}
	if req.VMSpec, err = decodeVMSpec(sp, &req.SysDiskID); err != nil {
		return nil, err
	}
	ops, err := f.svc.CreateVM(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOps(ops), nil
}

func (f *Face) vmCreateFrom(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	opts, err := callOptions(a, 3, "hosting.vm.create_from")
	if err != nil {
		return nil, err
	}
	req := service.VMCreateFrom{Options: opts}
	vsp, err := a.spec(0, "vm_spec", false)
	if err != nil {
		return nil, err
	}
	if req.VMSpec, err = decodeVMSpec(vsp, nil); err != nil {
		return nil, err
	}
	dsp, err := a.spec(1, "disk_spec", false)
	if err != nil {
		return nil, err
	}
	dsp.obj = service.ObjDisk
	if req.Disk, err = decodeVMDiskSpec(dsp); err != nil {
		return nil, err
	}
	if req.SrcDiskID, err = a.int(2, "src_disk_id"); err != nil {
		return nil, err
	}
	ops, err := f.svc.CreateVMFrom(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOps(ops), nil
}

// vmAction makes vm.start, vm.stop and vm.reboot: a VM id, then options.
func (f *Face) vmAction(name string, do func(ctx context.Context, c *service.Caller, id int64, opts service.CallOptions) (service.Operation, error)) method {
	return func(ctx context.Context, c *service.Caller, a args) (any, error) {
		a.obj = service.ObjVM
		id, err := a.int(0, "vm_id")
		if err != nil {
			return nil, err
		}
		opts, err := callOptions(a, 1, name)
		if err != nil {
			return nil, err
		}
		op, err := do(ctx, c, id, opts)
		if err != nil {
			return nil, err
		}
		return renderOp(op), nil
	}
}

func (f *Face) vmUpdate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	id, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "update_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.VMUpdate{}
	if req.Options, err = callOptions(a, 2, "hosting.vm.update"); err != nil {
		return nil, err
	}
	for key, dst := range map[string]**int64{"memory": &req.Memory, "vm_max_memory": &req.MaxMemory, "cores": &req.Cores} {
		if *dst, err = sp.intPtr(key); err != nil {
			return nil, err
		}
	}
	if req.Console, err = sp.boolPtr("console"); err != nil {
		return nil, err
	}
	for key, dst := range map[string]**string{"ssh_key": &req.SSHKey, "password": &req.Password} {
		if *dst, err = sp.strPtr(key); err != nil {
			return nil, err
		}
	}
	if err = vmTune(sp, &req.VMTune); err != nil { // extensions (tune.go)
		return nil, err
	}
	sp.ignore("shares")
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.UpdateVM(ctx, c, id, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

func (f *Face) vmInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "vm_id", service.ObjVM)
	if err != nil {
		return nil, err
	}
	v, err := f.svc.VM(c, id)
	if err != nil {
		return nil, err
	}
	out := renderVMInfo(v)
	withOwner(c, out, v.AccountID)
	out["console_url"] = f.consoleURL(c, v.VM)
	// extension (credentials.go): a change waits for the next start
	out["restart_pending"] = v.RestartPending
	f.renderGraphs(c, id, out) // graph_urls, probes (stats.go)
	return out, nil
}

// vmFilter decodes VMListOptions' and VMCountOptions' filters.
func vmFilter(sp *spec) (f service.VMFilter, err error) {
	for key, dst := range map[string]*[]int64{"id": &f.IDs, "cores": &f.Cores, "datacenter_id": &f.DatacenterIDs, "memory": &f.Memory} {
		if *dst, err = sp.ints(key); err != nil {
			return f, err
		}
	}
	if f.Hostnames, err = sp.strs("hostname"); err != nil {
		return f, err
	}
	if f.HostnameLike, err = sp.str("~hostname", "", false); err != nil {
		return f, err
	}
	f.State, err = sp.str("state", "", false)
	return f, err
}

func (f *Face) vmList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.VMFilter
	p, err := listOptions(a, service.ObjVM, func(sp *spec) (err error) { filter, err = vmFilter(sp); return err })
	if err != nil {
		return nil, err
	}
	vms, err := f.svc.VMs(c, filter, p)
	if err != nil {
		return nil, err
	}
	return renderAll(vms, func(v service.VM) any { return renderVM(v) }), nil
}

func (f *Face) vmCount(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.VMFilter
	if err := countOptions(a, service.ObjVM, func(sp *spec) (err error) { filter, err = vmFilter(sp); return err }); err != nil {
		return nil, err
	}
	return f.svc.CountVMs(c, filter)
}

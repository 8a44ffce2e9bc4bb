package gandi

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

// renderDisk is the seed's DiskReturn as disk.list (and vm.info) render
// it; info renders disk.info's, which shows kernel_cmdline and the whole
// snapshot_profile in place of snapshot_profile_id.
func renderDisk(d service.Disk, info bool) map[string]any {
	out := renderVMDisk(d.VMDisk)
	if !info {
		return out
	}
	delete(out, "snapshot_profile_id")
	out["kernel_cmdline"] = kernelCmdline(d.Cmdline)
	out["snapshot_profile"] = nil
	if d.SnapshotProfile != nil {
		out["snapshot_profile"] = renderProfile(*d.SnapshotProfile)
	}
	return out
}

// kernelCmdline turns "root=/dev/xvda1 ro console=hvc0" into the seed's
// struct; none is nil, as the recorded disk.info of a data disk has it.
func kernelCmdline(cmdline string) any {
	if strings.TrimSpace(cmdline) == "" {
		return nil
	}
	out := map[string]any{}
	for _, f := range strings.Fields(cmdline) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		} else {
			out[f] = true
		}
	}
	return out
}

func renderProfile(p service.SnapshotProfile) map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "kept_total": p.KeptTotal, "quota_factor": p.QuotaFactor,
		"every": int64(p.Every / time.Second)}
}

func diskFilter(sp *spec) (f service.DiskFilter, err error) {
	for key, dst := range map[string]*[]int64{"id": &f.IDs, "datacenter_id": &f.DatacenterIDs, "size": &f.Sizes, "source": &f.Sources, "vm_id": &f.VMIDs} {
		if *dst, err = sp.ints(key); err != nil {
			return f, err
		}
	}
	if f.Names, err = sp.strs("name"); err != nil {
		return f, err
	}
	for key, dst := range map[string]*string{"~name": &f.NameLike, "state": &f.State, "type": &f.Type} {
		if *dst, err = sp.str(key, "", false); err != nil {
			return f, err
		}
	}
	if f.CanSnapshot, err = sp.boolPtr("can_snapshot"); err != nil {
		return f, err
	}
	return f, diskDates(sp, &f)
}

func (f *Face) diskList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.DiskFilter
	p, err := listOptions(a, service.ObjDisk, func(sp *spec) (err error) { filter, err = diskFilter(sp); return err })
	if err != nil {
		return nil, err
	}
	disks, err := f.svc.Disks(c, filter, p)
	return renderAll(disks, func(d service.Disk) any { return renderDisk(d, false) }), err
}

func (f *Face) diskCount(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.DiskFilter
	if err := countOptions(a, service.ObjDisk, func(sp *spec) (err error) { filter, err = diskFilter(sp); return err }); err != nil {
		return nil, err
	}
	return f.svc.CountDisks(c, filter), nil
}

func (f *Face) diskInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "disk_id", service.ObjDisk)
	if err != nil {
		return nil, err
	}
	d, err := f.svc.Disk(c, id)
	if err != nil {
		return nil, err
	}
	out := renderDisk(d, true)
	withOwner(c, out, d.AccountID)
	return out, nil
}

// snapshotProfile reads snapshot_profile: a profile id, or 0, nil, "" or
// "none" for none (nil: absent).
func snapshotProfile(sp *spec) (*int64, error) {
	if !sp.has("snapshot_profile") {
		return nil, nil
	}
	var id int64
	raw := sp.raw("snapshot_profile")
	if str, ok := raw.(string); raw == nil || ok && (strings.TrimSpace(str) == "" || strings.EqualFold(str, "none")) {
		return &id, nil // nil is "none", as Gandi takes it
	}
	id, err := asInt(service.ObjDisk, "snapshot_profile", raw)
	return &id, err
}

func (f *Face) diskCreate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjDisk
	opts, err := callOptions(a, 1, "hosting.disk.create")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "disk_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.NewDisk{Options: opts}
	if req.DatacenterID, err = sp.int("datacenter_id", 0, true); err != nil {
		return nil, err
	}
	if req.Name, err = sp.str("name", "", false); err != nil {
		return nil, err
	}
	if req.SizeMB, err = sp.intPtr("size"); err != nil {
		return nil, err
	}
	if req.Type, err = sp.strPtr("type"); err != nil {
		return nil, err
	}
	profile, err := snapshotProfile(sp)
	if err != nil {
		return nil, err
	}
	if profile != nil {
		req.SnapshotProfile = *profile
	}
	if _, err := sp.ints("repulse_from"); err != nil {
		return nil, err // one host: every disk is on the same storage anyway
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.CreateDisk(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

func (f *Face) diskCreateFrom(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjDisk
	opts, err := callOptions(a, 2, "hosting.disk.create_from")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "disk_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.NewDiskFrom{Options: opts}
	if req.Disk, err = decodeVMDiskSpec(sp); err != nil {
		return nil, err
	}
	if req.SrcDiskID, err = a.int(1, "src_disk_id"); err != nil {
		return nil, err
	}
	op, err := f.svc.CreateDiskFrom(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

func (f *Face) diskDelete(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjDisk
	id, err := a.int(0, "disk_id")
	if err != nil {
		return nil, err
	}
	opts, err := callOptions(a, 1, "hosting.disk.delete")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.DeleteDisk(ctx, c, id, opts)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// cmdlineOptions reads cmdline_options: a struct of booleans and strings
// (which option takes which is the service's rule).
func cmdlineOptions(sp *spec) (map[string]service.CmdlineOption, error) {
	raw := sp.raw("cmdline_options")
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, wrongType(service.ObjDisk, "cmdline_options", "a struct", raw)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]service.CmdlineOption, len(m))
	for _, k := range keys {
		switch v := m[k].(type) {
		case bool:
			out[k] = service.CmdlineOption{On: v}
		case string:
			out[k] = service.CmdlineOption{IsString: true, Value: v}
		default:
			return nil, wrongType(service.ObjDisk, "cmdline_options."+k, "a boolean or a string", v)
		}
	}
	return out, nil
}

func (f *Face) diskUpdate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjDisk
	id, err := a.int(0, "disk_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "disk_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.DiskUpdate{}
	if req.Options, err = callOptions(a, 2, "hosting.disk.update"); err != nil {
		return nil, err
	}
	if req.Name, err = sp.strPtr("name"); err != nil {
		return nil, err
	}
	if req.SizeMB, err = sp.intPtr("size"); err != nil {
		return nil, err
	}
	if req.Kernel, err = sp.strPtr("kernel"); err != nil {
		return nil, err
	}
	if req.Cmdline, err = sp.strPtr("cmdline"); err != nil {
		return nil, err
	}
	if sp.has("cmdline_options") {
		if req.CmdlineOptions, err = cmdlineOptions(sp); err != nil {
			return nil, err
		}
	}
	if req.SnapshotProfile, err = snapshotProfile(sp); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.UpdateDisk(ctx, c, id, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// diskListKernels is KernelList: kernel versions by operating system.
func (f *Face) diskListKernels(ctx context.Context, c *service.Caller, a args) (any, error) {
	dc, err := a.id(0, "datacenter_id", service.ObjDisk)
	if err != nil {
		return nil, err
	}
	k, err := f.svc.Kernels(dc)
	if err != nil {
		return nil, err
	}
	strs := func(s string) any { return s }
	return map[string]any{"linux": renderAll(k.Linux, strs), "bsd": renderAll(k.BSD, strs)}, nil
}

func (f *Face) diskListOptions(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjDisk
	version, err := a.str(0, "kernel_version")
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	opts, err := f.svc.KernelOptions(version)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(opts))
	for k, o := range opts {
		out[k] = map[string]any{"type": o.Type, "description": o.Description}
	}
	return out, nil
}

func (f *Face) snapshotProfileList(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjDisk
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "options", true)
	if err != nil {
		return nil, err
	}
	var filter service.SnapshotProfileFilter
	if filter.IDs, err = sp.ints("id"); err != nil {
		return nil, err
	}
	if filter.Names, err = sp.strs("name"); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	return renderAll(f.svc.SnapshotProfiles(filter), func(p service.SnapshotProfile) any { return renderProfile(p) }), nil
}

func (f *Face) snapshotProfileInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "profile_id", service.ObjDisk)
	if err != nil {
		return nil, err
	}
	p, err := f.svc.SnapshotProfile(id)
	if err != nil {
		return nil, err
	}
	return renderProfile(p), nil
}

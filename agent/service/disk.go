package service

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// parseDiskCopySpec reads DiskCopyDescription.
func (s *Service) parseDiskCopySpec(sp *spec, defaultDC int64) (diskReq, error) {
	r := diskReq{obj: ObjDisk}
	var err error
	if r.dc, err = sp.int("datacenter_id", defaultDC, false); err != nil {
		return r, err
	}
	if r.name, err = sp.str("name", "", false); err != nil {
		return r, err
	}
	if r.sizeMB, err = sp.int("size", 0, false); err != nil {
		return r, err
	}
	if sp.has("size") && r.sizeMB <= 0 {
		return r, invalid(ObjDisk, "size", "must be a positive number of MB")
	}
	if r.typ, err = sp.str("type", store.DiskTypeData, false); err != nil {
		return r, err
	}
	switch r.typ {
	case store.DiskTypeData:
	case store.DiskTypeSnapshot:
		if sp.has("size") {
			return r, invalid(ObjDisk, "size", "a snapshot has its source disk's size")
		}
		if sp.has("snapshot_profile") {
			return r, invalid(ObjDisk, "snapshot_profile", "a snapshot takes no snapshots")
		}
	default:
		return r, invalid(ObjDisk, "type", "must be data or snapshot (snapshot_auto ones are taken by snapshot profiles)")
	}
	if sp.has("snapshot_profile") {
		if r.profile, err = s.parseProfile(sp); err != nil {
			return r, err
		}
	}
	if _, err := sp.ints("repulse_from"); err != nil {
		return r, err // one host: every disk is on the same storage anyway
	}
	return r, sp.done()
}

func (s *Service) diskCreate(ctx context.Context, c *Caller, a args) (any, error) {
	return s.diskCreateCommon(c, a, false)
}

func (s *Service) diskCreateFrom(ctx context.Context, c *Caller, a args) (any, error) {
	return s.diskCreateCommon(c, a, true)
}

func (s *Service) diskCreateCommon(c *Caller, a args, from bool) (any, error) {
	a.obj = ObjDisk
	optsIdx := 1
	if from {
		optsIdx = 2
	}
	o, acct, err := s.creator(c, a, optsIdx, ObjDisk)
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "disk_spec", false)
	if err != nil {
		return nil, err
	}
	var r diskReq
	method := "hosting.disk.create"
	if from {
		method = "hosting.disk.create_from"
		if r, err = s.parseDiskCopySpec(sp, s.cfg.Datacenter.ID); err != nil {
			return nil, err
		}
		if r.source, err = a.int(1, "src_disk_id"); err != nil {
			return nil, err
		}
	} else {
		r = diskReq{obj: ObjDisk}
		if r.dc, err = sp.int("datacenter_id", 0, true); err != nil {
			return nil, err
		}
		if r.name, err = sp.str("name", "", false); err != nil {
			return nil, err
		}
		if r.sizeMB, err = sp.int("size", 10240, false); err != nil {
			return nil, err
		}
		typ, err := sp.str("type", "data", false)
		if err != nil {
			return nil, err
		}
		if typ != "data" {
			return nil, invalid(ObjDisk, "type", "only data disks can be created here; backups are not available on this host yet")
		}
		if sp.has("snapshot_profile") {
			if r.profile, err = s.parseProfile(sp); err != nil {
				return nil, err
			}
		}
		if _, err := sp.ints("repulse_from"); err != nil {
			return nil, err
		}
		if err := sp.done(); err != nil {
			return nil, err
		}
	}
	r.accountID, r.id = acct, o.diskID
	ops, err := s.submit(acct, o, method, a.vals, func(tx *store.Tx) ([]int64, error) {
		d, err := s.reserveDisk(tx, r)
		if err != nil {
			return nil, err
		}
		params := map[string]string{}
		if d.Source != 0 {
			params["source"] = strconv.FormatInt(d.Source, 10)
		}
		op := s.newOp(tx, acct, opSpec{typ: "disk_create", diskID: d.ID, keys: []string{workflow.DiskKey(d.ID)}, params: params, eta: 10})
		return []int64{op.ID}, nil
	})
	if err != nil {
		return nil, err
	}
	return renderOp(ops[0]), nil
}

// diskFor looks up a disk the caller may see (its own, or a public image).
func diskFor(tx *store.Tx, c *Caller, id int64, allowImages bool) (store.Disk, error) {
	d, ok := tx.Disk(id)
	if !ok || !(c.owns(d.AccountID) || (allowImages && d.Type == store.DiskTypeImage)) {
		return store.Disk{}, notFound(ObjDisk, "disk", id)
	}
	return d, nil
}

func (s *Service) diskDelete(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjDisk
	id, err := a.int(0, "disk_id")
	if err != nil {
		return nil, err
	}
	o, err := s.callOpts(c, a, 1)
	if err != nil {
		return nil, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		d, err := diskFor(tx, c, id, false)
		return d.AccountID, err
	}
	return s.submitOne(c, o, "hosting.disk.delete", a.vals, owner, func(tx *store.Tx) (opSpec, error) {
		d, _ := tx.Disk(id)
		if d.VMID != 0 {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is attached to vm %d; detach it first", id, d.VMID)
		}
		if d.Type == store.DiskTypeImage {
			return opSpec{}, fault(ObjDisk, KindNoRight, "disk_id: disk %d is an image", id)
		}
		if s.deleting(tx, workflow.DiskKey(id)) {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is already being deleted", id)
		}
		if d.State == store.DiskRollback || d.State == store.DiskDeleted {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is %s", id, d.State)
		}
		return opSpec{typ: "disk_delete", diskID: id, keys: []string{workflow.DiskKey(id)}, eta: 5}, nil
	})
}

// kernelCmdline turns "root=/dev/xvda1 ro console=hvc0" into the seed's struct.
func kernelCmdline(cmdline string) map[string]any {
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

func (s *Service) renderDisk(tx *store.Tx, d store.Disk, info bool) map[string]any {
	vms := []int64{}
	boot := false
	if d.VMID != 0 {
		if v, ok := tx.VM(d.VMID); ok && slices.Contains(v.DiskIDs, d.ID) {
			vms = append(vms, v.ID)
			boot = len(v.DiskIDs) > 0 && v.DiskIDs[0] == d.ID
		}
	}
	out := map[string]any{
		"id": d.ID, "name": d.Name, "size": d.SizeMB, "total_size": s.totalSize(d), "state": d.State, "type": d.Type,
		"datacenter_id": d.DatacenterID, "kernel_version": nullStr(d.KernelVersion), "label": nullStr(d.Label),
		"source": nullable(d.Source), "visibility": d.Visibility, "vms_id": vms, "is_boot_disk": boot,
		"can_snapshot": d.Type == store.DiskTypeData, "is_migrating": false, "snapshots_id": snapshotsOf(tx, d.ID),
		"date_created": d.DateCreated, "date_updated": d.DateUpdated,
	}
	p, hasProfile := s.profile(d.SnapshotProfile)
	switch {
	case info && hasProfile:
		out["kernel_cmdline"] = kernelCmdline(d.Cmdline)
		out["snapshot_profile"] = renderProfile(p)
	case info:
		out["kernel_cmdline"] = kernelCmdline(d.Cmdline)
		out["snapshot_profile"] = nil
	default:
		out["snapshot_profile_id"] = nullable(d.SnapshotProfile)
	}
	return out
}

// snapshotsOf lists the snapshots taken of a disk.
func snapshotsOf(tx *store.Tx, id int64) []int64 {
	out := []int64{}
	tx.EachDisk(func(d *store.Disk) bool {
		if d.IsSnapshot() && d.Source == id {
			out = append(out, d.ID)
		}
		return true
	})
	return out
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) diskInfo(ctx context.Context, c *Caller, a args) (any, error) {
	lookup := func(tx *store.Tx, c *Caller, id int64) (store.Disk, error) { return diskFor(tx, c, id, true) }
	return lookupInfo(s.st, c, a, ObjDisk, "disk_id", lookup, func(tx *store.Tx, d store.Disk) map[string]any { return s.renderDisk(tx, d, true) })
}

type diskFilter struct {
	ids, dcs, sizes, sources, vms []int64
	names                         []string
	like, state, typ              string
}

func parseDiskFilter(sp *spec) (diskFilter, error) {
	var f diskFilter
	var err error
	for key, dst := range map[string]*[]int64{"id": &f.ids, "datacenter_id": &f.dcs, "size": &f.sizes, "source": &f.sources, "vm_id": &f.vms} {
		if *dst, err = sp.ints(key); err != nil {
			return f, err
		}
	}
	if f.names, err = sp.strs("name"); err != nil {
		return f, err
	}
	for key, dst := range map[string]*string{"~name": &f.like, "state": &f.state, "type": &f.typ} {
		if *dst, err = sp.str(key, "", false); err != nil {
			return f, err
		}
	}
	if _, err := sp.boolean("can_snapshot", false); err != nil {
		return f, err
	}
	sp.ignore("date_created")
	return f, nil
}

func (f diskFilter) match(d *store.Disk) bool {
	return (len(f.ids) == 0 || slices.Contains(f.ids, d.ID)) && (len(f.dcs) == 0 || slices.Contains(f.dcs, d.DatacenterID)) &&
		(len(f.sizes) == 0 || slices.Contains(f.sizes, d.SizeMB)) && (len(f.sources) == 0 || slices.Contains(f.sources, d.Source)) &&
		(len(f.vms) == 0 || slices.Contains(f.vms, d.VMID)) && (len(f.names) == 0 || slices.Contains(f.names, d.Name)) &&
		(f.like == "" || likeMatch(f.like, d.Name)) && (f.state == "" || f.state == d.State) && (f.typ == "" || f.typ == d.Type)
}

var diskSortKeys = map[string]func(a, b *store.Disk) int{
	"id":            func(a, b *store.Disk) int { return cmp64(a.ID, b.ID) },
	"datacenter_id": func(a, b *store.Disk) int { return cmp64(a.DatacenterID, b.DatacenterID) },
	"date_created":  func(a, b *store.Disk) int { return a.DateCreated.Compare(b.DateCreated) },
	"name":          func(a, b *store.Disk) int { return strings.Compare(a.Name, b.Name) },
	"size":          func(a, b *store.Disk) int { return cmp64(a.SizeMB, b.SizeMB) },
	"source":        func(a, b *store.Disk) int { return cmp64(a.Source, b.Source) },
	"state":         func(a, b *store.Disk) int { return strings.Compare(a.State, b.State) },
	"type":          func(a, b *store.Disk) int { return strings.Compare(a.Type, b.Type) },
	"vm_id":         func(a, b *store.Disk) int { return cmp64(a.VMID, b.VMID) },
	"can_snapshot":  func(a, b *store.Disk) int { return 0 },
}

func (s *Service) diskQuery() query[store.Disk] {
	return query[store.Disk]{
		obj:   ObjDisk,
		each:  (*store.Tx).EachDisk,
		owner: func(d *store.Disk) int64 { return d.AccountID },
		filter: func(sp *spec) (func(*store.Disk) bool, error) {
			f, err := parseDiskFilter(sp)
			// Images are listed by hosting.image.list, not as the caller's disks.
			return func(d *store.Disk) bool { return d.Type != store.DiskTypeImage && f.match(d) }, err
		},
		sortKeys: diskSortKeys,
		render:   func(tx *store.Tx, d store.Disk) any { return s.renderDisk(tx, d, false) },
	}
}

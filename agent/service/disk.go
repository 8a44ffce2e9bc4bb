package service

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Disk is a disk as a client sees it (the seed's DiskReturn).
type Disk struct {
	ID     int64
	Name   string
	SizeMB int64
	// TotalSizeMB is what the disk counts against the quota: its size
	// times its snapshot profile's quota factor.
	TotalSizeMB  int64
	State, Type  string
	DatacenterID int64
	// KernelVersion, Cmdline and Label are "" when the disk has none.
	KernelVersion, Cmdline, Label string
	// Source is the disk it was copied from, or 0.
	Source     int64
	Visibility string
	// VMIDs is the VM it is attached to, if any (never nil).
	VMIDs      []int64
	IsBootDisk bool
	// SnapshotIDs are the snapshots taken of it (never nil).
	SnapshotIDs              []int64
	DateCreated, DateUpdated time.Time
	// SnapshotProfileID is the disk's profile id as recorded (0: none);
	// SnapshotProfile is that profile when this host still serves it.
	SnapshotProfileID int64
	SnapshotProfile   *SnapshotProfile
}

// CanSnapshot reports whether a snapshot may be taken of the disk.
func (d Disk) CanSnapshot() bool { return d.Type == store.DiskTypeData }

func (s *Service) diskOf(tx *store.Tx, d store.Disk) Disk {
	vms := []int64{}
	boot := false
	if d.VMID != 0 {
		if v, ok := tx.VM(d.VMID); ok && slices.Contains(v.DiskIDs, d.ID) {
			vms = append(vms, v.ID)
			boot = len(v.DiskIDs) > 0 && v.DiskIDs[0] == d.ID
		}
	}
	out := Disk{ID: d.ID, Name: d.Name, SizeMB: d.SizeMB, TotalSizeMB: s.totalSize(d), State: d.State, Type: d.Type,
		DatacenterID: d.DatacenterID, KernelVersion: d.KernelVersion, Cmdline: d.Cmdline, Label: d.Label,
		Source: d.Source, Visibility: d.Visibility, VMIDs: vms, IsBootDisk: boot, SnapshotIDs: snapshotsOf(tx, d.ID),
		DateCreated: d.DateCreated, DateUpdated: d.DateUpdated, SnapshotProfileID: d.SnapshotProfile}
	if p, ok := s.profile(d.SnapshotProfile); ok {
		out.SnapshotProfile = &p
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

// renderDisk is the seed's DiskReturn, for vm.info until the VM family
// moves to the face (which renders the Disk view).
func (s *Service) renderDisk(tx *store.Tx, d store.Disk, _ bool) map[string]any {
	v := s.diskOf(tx, d)
	return map[string]any{
		"id": v.ID, "name": v.Name, "size": v.SizeMB, "total_size": v.TotalSizeMB, "state": v.State, "type": v.Type,
		"datacenter_id": v.DatacenterID, "kernel_version": nullStr(v.KernelVersion), "label": nullStr(v.Label),
		"source": nullable(v.Source), "visibility": v.Visibility, "vms_id": v.VMIDs, "is_boot_disk": v.IsBootDisk,
		"can_snapshot": v.CanSnapshot(), "is_migrating": false, "snapshots_id": v.SnapshotIDs,
		"date_created": v.DateCreated, "date_updated": v.DateUpdated, "snapshot_profile_id": nullable(v.SnapshotProfileID),
	}
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// diskFor looks up a disk the caller may see (its own, or a public image).
func diskFor(tx *store.Tx, c *Caller, id int64, allowImages bool) (store.Disk, error) {
	d, ok := tx.Disk(id)
	if !ok || !(c.owns(d.AccountID) || (allowImages && d.Type == store.DiskTypeImage)) {
		return store.Disk{}, notFound(ObjDisk, "disk", id)
	}
	return d, nil
}

// DiskFilter selects disks: each list, when not empty, and each string,
// when not "", is a match. NameLike is the "~name" pattern (likeMatch).
type DiskFilter struct {
	IDs, DatacenterIDs, Sizes, Sources, VMIDs []int64
	Names                                     []string
	NameLike, State, Type                     string
}

func (f DiskFilter) match(d *store.Disk) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, d.ID)) && (len(f.DatacenterIDs) == 0 || slices.Contains(f.DatacenterIDs, d.DatacenterID)) &&
		(len(f.Sizes) == 0 || slices.Contains(f.Sizes, d.SizeMB)) && (len(f.Sources) == 0 || slices.Contains(f.Sources, d.Source)) &&
		(len(f.VMIDs) == 0 || slices.Contains(f.VMIDs, d.VMID)) && (len(f.Names) == 0 || slices.Contains(f.Names, d.Name)) &&
		(f.NameLike == "" || likeMatch(f.NameLike, d.Name)) && (f.State == "" || f.State == d.State) && (f.Type == "" || f.Type == d.Type)
}

// listed is match without images: they are listed by hosting.image.list,
// not as the caller's disks.
func (f DiskFilter) listed(d *store.Disk) bool { return d.Type != store.DiskTypeImage && f.match(d) }

var disks = lister[store.Disk]{
	obj:   ObjDisk,
	each:  (*store.Tx).EachDisk,
	owner: func(d *store.Disk) int64 { return d.AccountID },
	sortKeys: map[string]func(a, b *store.Disk) int{
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
	},
}

// Disks lists the caller's disks (not images) that match f.
func (s *Service) Disks(c *Caller, f DiskFilter, p Page) ([]Disk, error) {
	return list(s.st, disks, c, f.listed, p, s.diskOf)
}

// CountDisks counts the caller's disks (not images) that match f.
func (s *Service) CountDisks(c *Caller, f DiskFilter) int {
	return count(s.st, disks, c, f.listed)
}

// Disk reads one of the caller's disks, or a public image's.
func (s *Service) Disk(c *Caller, id int64) (Disk, error) {
	var out Disk
	var err error
	s.st.View(func(tx *store.Tx) {
		var d store.Disk
		if d, err = diskFor(tx, c, id, true); err == nil {
			out = s.diskOf(tx, d)
		}
	})
	return out, err
}

// NewDisk is hosting.disk.create's DiskCreateDescription: an empty data
// disk.
type NewDisk struct {
	DatacenterID int64
	Name         string
	// SizeMB nil is the seed's default, 10240 MB.
	SizeMB *int64
	// Type nil is "data", the only type created here.
	Type *string
	// SnapshotProfile is a profile id, or 0 for none.
	SnapshotProfile int64
	Options         CallOptions
}

// CreateDisk creates an empty data disk for the caller (or the account
// the operator names).
func (s *Service) CreateDisk(ctx context.Context, c *Caller, req NewDisk) (Operation, error) {
	o, acct, err := s.creatorOf(c, req.Options, ObjDisk)
	if err != nil {
		return Operation{}, err
	}
	r := diskReq{obj: ObjDisk, dc: req.DatacenterID, name: req.Name, sizeMB: 10240, profile: req.SnapshotProfile}
	if req.SizeMB != nil {
		r.sizeMB = *req.SizeMB
	}
	if req.Type != nil && *req.Type != "data" {
		return Operation{}, invalid(ObjDisk, "type", "only data disks can be created here; backups are not available on this host yet")
	}
	if err := s.checkProfile(r.profile); err != nil {
		return Operation{}, err
	}
	return s.createDisk(acct, o, r)
}

// DiskCopy is the seed's DiskCopyDescription and its source: a disk
// made from another, a clone (type data) or a snapshot. hosting.vm.create_from
// makes its system disk from one too.
type DiskCopy struct {
	// Source is the disk to copy (src_disk_id): the caller's, or an image.
	Source int64
	// DatacenterID nil is the datacenter the copy's caller defaults to.
	DatacenterID *int64
	Name         string
	// SizeMB nil is the source's size; a snapshot takes no size.
	SizeMB *int64
	// Type nil is "data"; "snapshot" takes a snapshot.
	Type *string
	// SnapshotProfile nil is none; 0 is none too, but given (which a
	// snapshot refuses).
	SnapshotProfile *int64
}

// diskCopyReq checks a copy's own rules; reserveDisk checks the rest.
// defaultDC is the datacenter when the copy names none.
func (s *Service) diskCopyReq(cp DiskCopy, defaultDC int64) (diskReq, error) {
	r := diskReq{obj: ObjDisk, dc: defaultDC, name: cp.Name, typ: store.DiskTypeData, source: cp.Source}
	if cp.DatacenterID != nil {
		r.dc = *cp.DatacenterID
	}
	if cp.SizeMB != nil {
		if r.sizeMB = *cp.SizeMB; r.sizeMB <= 0 {
			return r, invalid(ObjDisk, "size", "must be a positive number of MB")
		}
	}
	if cp.Type != nil {
		r.typ = *cp.Type
	}
	switch r.typ {
	case store.DiskTypeData:
	case store.DiskTypeSnapshot:
		if cp.SizeMB != nil {
			return r, invalid(ObjDisk, "size", "a snapshot has its source disk's size")
		}
		if cp.SnapshotProfile != nil {
			return r, invalid(ObjDisk, "snapshot_profile", "a snapshot takes no snapshots")
		}
	default:
		return r, invalid(ObjDisk, "type", "must be data or snapshot (snapshot_auto ones are taken by snapshot profiles)")
	}
	if cp.SnapshotProfile != nil {
		r.profile = *cp.SnapshotProfile
		if err := s.checkProfile(r.profile); err != nil {
			return r, err
		}
	}
	return r, nil
}

// NewDiskFrom is hosting.disk.create_from: a copy for the caller (or the
// account the operator names), in this host's datacenter unless it says.
type NewDiskFrom struct {
	DiskCopy
	Options CallOptions
}

// CreateDiskFrom copies a disk: a clone, or a snapshot of a data disk.
func (s *Service) CreateDiskFrom(ctx context.Context, c *Caller, req NewDiskFrom) (Operation, error) {
	o, acct, err := s.creatorOf(c, req.Options, ObjDisk)
	if err != nil {
		return Operation{}, err
	}
	r, err := s.diskCopyReq(req.DiskCopy, s.cfg.Datacenter.ID)
	if err != nil {
		return Operation{}, err
	}
	return s.createDisk(acct, o, r)
}

// createDisk reserves the disk and submits its disk_create.
func (s *Service) createDisk(acct int64, o callOpts, r diskReq) (Operation, error) {
	r.accountID, r.id = acct, o.diskID
	ops, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
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
		return Operation{}, err
	}
	return operationOf(ops[0]), nil
}

// parseDiskCopySpec reads DiskCopyDescription, for hosting.vm.create_from
// until the VM family moves to the face (which decodes a DiskCopy).
func (s *Service) parseDiskCopySpec(sp *spec, defaultDC int64) (diskReq, error) {
	var cp DiskCopy
	if sp.has("datacenter_id") {
		dc, err := sp.int("datacenter_id", 0, false)
		if err != nil {
			return diskReq{}, err
		}
		cp.DatacenterID = &dc
	}
	var err error
	if cp.Name, err = sp.str("name", "", false); err != nil {
		return diskReq{}, err
	}
	if sp.has("size") {
		size, err := sp.int("size", 0, false)
		if err != nil {
			return diskReq{}, err
		}
		cp.SizeMB = &size
	}
	if sp.has("type") {
		typ, err := sp.str("type", "", false)
		if err != nil {
			return diskReq{}, err
		}
		cp.Type = &typ
	}
	if sp.has("snapshot_profile") {
		id, err := profileArg(sp)
		if err != nil {
			return diskReq{}, err
		}
		cp.SnapshotProfile = &id
	}
	if _, err := sp.ints("repulse_from"); err != nil {
		return diskReq{}, err // one host: every disk is on the same storage anyway
	}
	if err := sp.done(); err != nil {
		return diskReq{}, err
	}
	return s.diskCopyReq(cp, defaultDC)
}

// DeleteDisk deletes one of the caller's disks, once detached.
func (s *Service) DeleteDisk(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	o, err := s.checkOptions(c, opts, ObjDisk)
	if err != nil {
		return Operation{}, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		d, err := diskFor(tx, c, id, false)
		return d.AccountID, err
	}
	return s.submitOneOf(c, o, owner, func(tx *store.Tx) (opSpec, error) {
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

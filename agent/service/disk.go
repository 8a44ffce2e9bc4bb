package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Disk is a disk as hosting.disk.info shows it: the DiskReturn that
// disk.list and vm.info show (VMDisk), with its snapshot profile.
type Disk struct {
	VMDisk
	// SnapshotProfile is the disk's profile (SnapshotProfileID) when this
	// host still serves it.
	SnapshotProfile *SnapshotProfile
}

func (s *Service) diskOf(tx *store.Tx, d store.Disk) Disk {
	out := Disk{VMDisk: s.vmDiskOf(tx, d)}
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
	// CanSnapshot, when set, is a match on can_snapshot; Created and
	// CreatedBounds on date_created (see matchDates).
	CanSnapshot   *bool
	Created       []DateSpan
	CreatedBounds []DateBound
}

func (f DiskFilter) match(d *store.Disk) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, d.ID)) && (len(f.DatacenterIDs) == 0 || slices.Contains(f.DatacenterIDs, d.DatacenterID)) &&
		(len(f.Sizes) == 0 || slices.Contains(f.Sizes, d.SizeMB)) && (len(f.Sources) == 0 || slices.Contains(f.Sources, d.Source)) &&
		(len(f.VMIDs) == 0 || slices.Contains(f.VMIDs, d.VMID)) && (len(f.Names) == 0 || slices.Contains(f.Names, d.Name)) &&
		(f.NameLike == "" || likeMatch(f.NameLike, d.Name)) && (f.State == "" || f.State == d.State) && (f.Type == "" || f.Type == d.Type) &&
		(f.CanSnapshot == nil || *f.CanSnapshot == canSnapshot(d)) && f.matchDates(d)
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
		"can_snapshot":  func(a, b *store.Disk) int { return cmpBool(canSnapshot(a), canSnapshot(b)) },
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
	// FSType, when set, is the filesystem the disk is formatted with
	// (one of Config.FSTypes; the Gandi v1 face's fstype).
	FSType  string
	Options CallOptions
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
		return Operation{}, Invalid(ObjDisk, "type", "only data disks can be created here; backups are not available on this host yet")
	}
	if err := s.checkProfile(r.profile); err != nil {
		return Operation{}, err
	}
	if req.FSType != "" && !slices.Contains(s.cfg.FSTypes, req.FSType) {
		if len(s.cfg.FSTypes) == 0 {
			return Operation{}, Invalid(ObjDisk, "fstype", "this host makes no filesystems (no mkfs tool is installed)")
		}
		return Operation{}, Invalid(ObjDisk, "fstype", "must be one of %s on this host", strings.Join(s.cfg.FSTypes, ", "))
	}
	if min := s.cfg.FSMinMB[req.FSType]; req.FSType != "" && r.sizeMB > 0 && r.sizeMB < min {
		// Refused here, not by mkfs once the disk_create runs (an ERROR
		// operation and a rollback for what the call could have said).
		return Operation{}, Invalid(ObjDisk, "size", "an %s filesystem needs a disk of at least %d MB, got %d", req.FSType, min, r.sizeMB)
	}
	r.fstype = req.FSType
	return s.createDisk(acct, o, r)
}

// diskCopyReq applies DiskCopyDescription's defaults and rules (dc: the
// datacenter when it names none); reserveDisk checks the rest.
func (s *Service) diskCopyReq(d VMDiskSpec, dc int64) (diskReq, error) {
	r := diskReq{obj: ObjDisk, dc: valueOr(d.DatacenterID, dc), name: d.Name, sizeMB: valueOr(d.Size, 0)}
	if d.Size != nil && r.sizeMB <= 0 {
		return r, Invalid(ObjDisk, "size", "must be a positive number of MB")
	}
	r.typ = valueOr(d.Type, store.DiskTypeData)
	switch r.typ {
	case store.DiskTypeData:
	case store.DiskTypeSnapshot:
		if d.Size != nil {
			return r, Invalid(ObjDisk, "size", "a snapshot has its source disk's size")
		}
		if d.SnapshotProfile != nil {
			return r, Invalid(ObjDisk, "snapshot_profile", "a snapshot takes no snapshots")
		}
	default:
		return r, Invalid(ObjDisk, "type", "must be data or snapshot (snapshot_auto ones are taken by snapshot profiles)")
	}
	r.profile = valueOr(d.SnapshotProfile, 0)
	return r, s.checkProfile(r.profile)
}

// NewDiskFrom is hosting.disk.create_from: a copy of SrcDiskID (a disk
// of the account, or an image), a clone or a snapshot, in this host's
// datacenter unless Disk names one.
type NewDiskFrom struct {
	Disk      VMDiskSpec
	SrcDiskID int64
	Options   CallOptions
}

// CreateDiskFrom copies a disk for the caller (or the account the
// operator names).
func (s *Service) CreateDiskFrom(ctx context.Context, c *Caller, req NewDiskFrom) (Operation, error) {
	o, acct, err := s.creatorOf(c, req.Options, ObjDisk)
	if err != nil {
		return Operation{}, err
	}
	r, err := s.diskCopyReq(req.Disk, s.cfg.Datacenter.ID)
	if err != nil {
		return Operation{}, err
	}
	r.source = req.SrcDiskID
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
		if r.fstype != "" {
			params["fstype"] = r.fstype // workflow/format.go
		}
		op := s.newOp(tx, acct, opSpec{typ: "disk_create", diskID: d.ID, keys: []string{workflow.DiskKey(d.ID)}, params: params, eta: 10})
		return []int64{op.ID}, nil
	})
	if err != nil {
		return Operation{}, err
	}
	return operationOf(ops[0]), nil
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
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is attached to vm %d; detach it first", id, d.VMID)
		}
		if d.Type == store.DiskTypeImage {
			return opSpec{}, Errorf(ObjDisk, KindNoRight, "disk_id: disk %d is an image", id)
		}
		if s.deleting(tx, workflow.DiskKey(id)) {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is already being deleted", id)
		}
		if d.State == store.DiskRollback || d.State == store.DiskDeleted {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is %s", id, d.State)
		}
		if err := s.keptSnapshots(tx, ObjDisk, "disk_id", fmt.Sprintf("disk %d", d.ID), d); err != nil {
			return opSpec{}, err
		}
		return opSpec{typ: "disk_delete", diskID: id, keys: []string{workflow.DiskKey(id)}, eta: 5}, nil
	})
}

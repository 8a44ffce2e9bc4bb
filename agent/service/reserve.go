package service

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"

	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

var diskNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

type diskReq struct {
	obj       Object
	accountID int64
	id        int64 // caller-chosen, or 0
	dc        int64
	name      string
	sizeMB    int64
	source    int64  // disk to clone, or 0 for an empty disk
	typ       string // data (default), snapshot or snapshot_auto
	profile   int64  // snapshot profile id, or 0
	fstype    string // the filesystem to make on an empty disk, or ""
}

func (s *Service) checkDatacenter(obj Object, dc int64) error {
	if dc != s.cfg.Datacenter.ID {
		return Invalid(obj, "datacenter_id", "datacenter %d is not served here (this host serves %d)", dc, s.cfg.Datacenter.ID)
	}
	return nil
}

// usedDiskMB is what an account's disks count against its quota.
func (s *Service) usedDiskMB(tx *store.Tx, accountID int64) int64 {
	var used int64
	tx.EachDisk(func(d *store.Disk) bool {
		if d.AccountID == accountID {
			used += s.chargedMB(*d)
		}
		return true
	})
	return used
}

// quotaMB is the account's disk grant (quota.go).
func (s *Service) quotaMB(tx *store.Tx, accountID int64) int64 {
	a, _ := tx.Account(accountID)
	g, _, _ := s.grant(a)
	return g.DiskMB
}

// sourceDisk returns a disk the account may clone: its own, or an image.
func (s *Service) sourceDisk(tx *store.Tx, obj Object, accountID, id int64) (store.Disk, error) {
	d, ok := tx.Disk(id)
	if !ok || (d.AccountID != accountID && d.Type != store.DiskTypeImage && accountID != 0) {
		return store.Disk{}, notFound(ObjDisk, "src_disk_id: disk", id)
	}
	if d.State != store.DiskCreated {
		return store.Disk{}, Errorf(obj, KindConflict, "src_disk_id: disk %d is %s, not created", id, d.State)
	}
	return d, nil
}

// reserveDisk validates a disk request and records the disk as
// being_created, with the name of its future volume.
func (s *Service) reserveDisk(tx *store.Tx, r diskReq) (store.Disk, error) {
	if err := s.checkDatacenter(r.obj, r.dc); err != nil {
		return store.Disk{}, err
	}
	if r.name != "" && !diskNameRE.MatchString(r.name) {
		return store.Disk{}, Invalid(r.obj, "name", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	typ := r.typ
	if typ == "" {
		typ = store.DiskTypeData
	}
	d := store.Disk{AccountID: r.accountID, DatacenterID: r.dc, Name: r.name, SizeMB: r.sizeMB,
		State: store.DiskBeingCreated, Type: typ, Visibility: "private", SnapshotProfile: r.profile, FSType: r.fstype}
	if r.source != 0 {
		src, err := s.sourceDisk(tx, r.obj, r.accountID, r.source)
		if err != nil {
			return store.Disk{}, err
		}
		if src.DatacenterID != r.dc {
			return store.Disk{}, Invalid(r.obj, "datacenter_id", "source disk %d is in datacenter %d", src.ID, src.DatacenterID)
		}
		if d.IsSnapshot() && (src.Type != store.DiskTypeData || src.AccountID != r.accountID) {
			return store.Disk{}, Invalid(r.obj, "src_disk_id", "only a data disk of the account can be snapshotted (disk %d is %s)", src.ID, src.Type)
		}
		if d.SizeMB == 0 {
			d.SizeMB = src.SizeMB
		}
		if d.SizeMB < src.SizeMB {
			return store.Disk{}, Invalid(r.obj, "size", "must be at least the source disk's %d MB (disks never shrink)", src.SizeMB)
		}
		d.Source, d.KernelVersion, d.Cmdline, d.Label = src.ID, src.KernelVersion, src.Cmdline, src.Label
		d.FSType = src.FSType // a copy holds its source's filesystem
	}
	if d.SizeMB <= 0 || d.SizeMB > s.cfg.Limits.MaxDiskMB {
		return store.Disk{}, Invalid(r.obj, "size", "must be between 1 and %d MB", s.cfg.Limits.MaxDiskMB)
	}
	if used, quota, more := s.usedDiskMB(tx, r.accountID), s.quotaMB(tx, r.accountID), s.chargedMB(d); more > 0 && used+more > quota {
		return store.Disk{}, quotaErr(r.obj, "disk", "size: %d MB more would exceed the account's disk quota (%d of %d MB used)", more, used, quota)
	}
	if r.id != 0 {
		if tx.HasDisk(r.id) {
			return store.Disk{}, Errorf(ObjDisk, KindDuplicate, "disk_id: disk %d already exists", r.id)
		}
		d.ID = r.id
	} else {
		d.ID = tx.NextID("disk", s.wf.Taken().DiskIDFree(tx))
	}
	if d.IsSnapshot() && r.source == 0 {
		return store.Disk{}, Missing(r.obj, "src_disk_id")
	}
	if d.Name == "" {
		prefix := "disk"
		switch typ {
		case store.DiskTypeSnapshot:
			prefix = "snap"
		case store.DiskTypeSnapshotAuto:
			prefix = "auto"
		}
		d.Name = prefix + strconv.FormatInt(d.ID, 10)
	}
	d.Volume = workflow.VolumeName(d.ID)
	d.DateCreated, d.DateUpdated = now(), now()
	tx.PutDisk(d)
	return d, nil
}

type ifaceReq struct {
	obj       Object
	accountID int64
	id, ipID  int64
	dc        int64
	version   int64
	bandwidth float64
}

func (s *Service) checkBandwidth(obj Object, bw float64) error {
	if bw == Unlimited { // no shaping at all (tune.go)
		if !s.cfg.Limits.AllowUnlimited {
			return Invalid(obj, "bandwidth", "unlimited is not allowed on this host (limits.allow_unlimited_bandwidth is off); the most is %.0f bit/s", s.cfg.Limits.MaxBandwidth)
		}
		return nil
	}
	lo := max(s.cfg.Network.MinBandwidth, 1)
	if bw < lo || bw > s.cfg.Limits.MaxBandwidth {
		return Invalid(obj, "bandwidth", "must be from %.0f to %.0f bit/s, or 0 for unlimited, got %.0f", lo, s.cfg.Limits.MaxBandwidth, bw)
	}
	return nil
}

// reserveIface records an interface and leases its address.
func (s *Service) reserveIface(tx *store.Tx, r ifaceReq) (store.Iface, store.IP, error) {
	if err := s.checkDatacenter(r.obj, r.dc); err != nil {
		return store.Iface{}, store.IP{}, err
	}
	if err := s.checkBandwidth(r.obj, r.bandwidth); err != nil {
		return store.Iface{}, store.IP{}, err
	}
	addr, err := s.leaseAddr(tx, r.obj, r.accountID, r.version)
	if err != nil {
		return store.Iface{}, store.IP{}, err
	}
	i := store.Iface{AccountID: r.accountID, DatacenterID: r.dc, Bandwidth: r.bandwidth,
		State: store.IfaceBeingCreated, Type: "public", DateCreated: now(), DateUpdated: now()}
	if r.id != 0 {
		if tx.HasIface(r.id) {
			return store.Iface{}, store.IP{}, Errorf(ObjIface, KindDuplicate, "iface_id: iface %d already exists", r.id)
		}
		i.ID = r.id
	} else {
		i.ID = tx.NextID("iface", tx.HasIface)
	}
	i.MAC = workflow.MAC(i.ID)
	ip := store.IP{AccountID: r.accountID, DatacenterID: r.dc, IfaceID: i.ID, Addr: addr.String(), Version: r.version,
		State: "being_created", Reverse: s.reverse(addr), DateCreated: now(), DateUpdated: now()}
	if r.ipID != 0 {
		if tx.HasIP(r.ipID) {
			return store.Iface{}, store.IP{}, Errorf(ObjIP, KindDuplicate, "ip_id: ip %d already exists", r.ipID)
		}
		ip.ID = r.ipID
	} else {
		ip.ID = tx.NextID("ip", tx.HasIP)
	}
	i.IPIDs = []int64{ip.ID}
	tx.PutIface(i)
	tx.PutIP(ip)
	return i, ip, nil
}

func (s *Service) reverse(a netip.Addr) string {
	if s.cfg.Network.ReverseDomain == "" {
		return ""
	}
	return fmt.Sprintf("xvm-%s.%s", dashed(a), s.cfg.Network.ReverseDomain)
}

func dashed(a netip.Addr) string {
	out := []byte(a.String())
	for i, c := range out {
		if c == '.' || c == ':' {
			out[i] = '-'
		}
	}
	return string(out)
}

// leaseAddr picks an address as ipam.Lease does: one this account
// released before (the seeds' recycling rule), else the lowest free one
// that nobody is waiting to get back, else, when the pool is otherwise
// full, one another account released (accounts in id order).
func (s *Service) leaseAddr(tx *store.Tx, obj Object, accountID, version int64) (netip.Addr, error) {
	pool := s.cfg.Network.V4
	if version == 6 {
		pool = s.cfg.Network.V6
	}
	if pool == nil {
		return netip.Addr{}, Invalid(obj, "ip_version", "no IPv%d pool is configured in this datacenter", version)
	}
	a, err := ipam.Lease(tx, pool, accountID)
	if errors.Is(err, ipam.ErrExhausted) {
		return netip.Addr{}, Errorf(ObjIP, KindQuota, "ip_version: %v", err)
	}
	return a, err
}

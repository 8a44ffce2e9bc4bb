package service

import (
	"slices"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// VM is a virtual machine as a client sees it (the seed's VMReturn).
type VM struct {
	ID, DatacenterID int64
	// AccountID owns the VM; faces show it to the operator only.
	AccountID                    int64
	Hostname, Description, State string
	// PowerState is the record's state even while an operator lock
	// shows State "locked" (the Gigas face shows both: status and locked).
	PowerState               string
	Label, Note              string // the Gigas document's (tune.go)
	Memory, MaxMemory, Cores int64
	CPUShares                int64 // 0: the hypervisor's default
	AIActive, Console        int64
	ISOID                    int64  // the ISO attached as CD-ROM, 0: none (iso.go)
	BootType                 string // default or cdrom (iso.go)
	DiskIDs, IfaceIDs        []int64
	DateCreated, DateUpdated time.Time
}

func vmOf(v store.VM) VM {
	return VM{ID: v.ID, DatacenterID: v.DatacenterID, AccountID: v.AccountID, Hostname: v.Hostname, Description: v.Description, State: v.State, PowerState: v.State,
		Label: v.Label, Note: v.Note, CPUShares: v.CPUShares,
		Memory: v.Memory, MaxMemory: v.MaxMemory, Cores: v.Cores, AIActive: v.AIActive, Console: v.Console,
		ISOID: v.ISOID, BootType: bootTypeOf(v),
		DiskIDs: append([]int64{}, v.DiskIDs...), IfaceIDs: append([]int64{}, v.IfaceIDs...),
		DateCreated: v.DateCreated, DateUpdated: v.DateUpdated}
}

// VMInfo is what hosting.vm.info tells of a VM: the VM, its disks (the
// boot disk first) and its ifaces, in its order.
type VMInfo struct {
	VM
	Disks  []VMDisk
	Ifaces []Iface
	// RestartPending: a change waits for the VM's next start (a reboot
	// through the agent is one then): vm_max_memory, cores, or new
	// credentials (credentials.go).
	RestartPending bool
}

// VMDisk is one of a VM's disks, as vm.info shows it (the seed's
// DiskReturn, as disk.list gives it).
type VMDisk struct {
	ID, DatacenterID              int64
	AccountID                     int64 // its owner: faces show it to the operator only
	Name, State, Type, Visibility string
	KernelVersion, Label          string
	SizeMB, TotalSizeMB           int64
	Source, SnapshotProfileID     int64
	VMIDs, SnapshotIDs            []int64
	IsBootDisk, CanSnapshot       bool
	// IsMigrating: the disk is moving between hosts (the seeds'
	// is_migrating): leaving this one, or arriving (being_migrated).
	IsMigrating              bool
	DateCreated, DateUpdated time.Time
	// Cmdline is the kernel command line ("" when none); EntityID is
	// diskEntityID's.
	Cmdline, EntityID string
	// FSType is the filesystem the disk was created with ("" none; see
	// store.Disk.FSType).
	FSType string
}

func (s *Service) vmDiskOf(tx *store.Tx, d store.Disk) VMDisk {
	out := VMDisk{ID: d.ID, DatacenterID: d.DatacenterID, AccountID: d.AccountID, Name: d.Name, State: d.State, Type: d.Type, Visibility: d.Visibility,
		KernelVersion: d.KernelVersion, Label: d.Label, SizeMB: d.SizeMB, TotalSizeMB: s.totalSize(d), Source: d.Source,
		SnapshotProfileID: d.SnapshotProfile, VMIDs: []int64{}, SnapshotIDs: snapshotsOf(tx, d.ID),
		CanSnapshot: canSnapshot(&d), DateCreated: d.DateCreated, DateUpdated: d.DateUpdated,
		Cmdline: d.Cmdline, EntityID: diskEntityID(d), FSType: d.FSType, IsMigrating: s.migrating(tx, d)}
	if d.VMID != 0 {
		if v, ok := tx.VM(d.VMID); ok && slices.Contains(v.DiskIDs, d.ID) {
			out.VMIDs = append(out.VMIDs, v.ID)
			out.IsBootDisk = len(v.DiskIDs) > 0 && v.DiskIDs[0] == d.ID
		}
	}
	return out
}

// VM reads one of the caller's VMs with its disks and ifaces.
func (s *Service) VM(c *Caller, id int64) (VMInfo, error) {
	var out VMInfo
	var err error
	s.st.View(func(tx *store.Tx) {
		var v store.VM
		if v, err = vmFor(tx, c, id); err != nil {
			return
		}
		out = VMInfo{VM: vmOf(v), Disks: []VMDisk{}, Ifaces: []Iface{}, RestartPending: v.RestartPending}
		out.State = shownState(&v, isLocked(tx, v.ID)) // lock.go
		for _, did := range v.DiskIDs {
			if d, ok := tx.Disk(did); ok {
				out.Disks = append(out.Disks, s.vmDiskOf(tx, d))
			}
		}
		for _, iid := range v.IfaceIDs {
			if i, ok := tx.Iface(iid); ok {
				out.Ifaces = append(out.Ifaces, ifaceOf(tx, i))
			}
		}
	})
	return out, err
}

// VMFilter selects VMs: each field, when not empty, is a match.
type VMFilter struct {
	IDs, Cores, DatacenterIDs, Memory []int64
	Hostnames                         []string
	// HostnameLike is "~hostname": a case-insensitive SQL LIKE ('%' any
	// run, '_' one character); without wildcards, a substring.
	HostnameLike string
	State        string
}

var vmStates = []string{store.VMPaused, store.VMRunning, store.VMHalted, store.VMLocked, store.VMBeingCreated, store.VMDeleted}

func (f VMFilter) check() error {
	if f.State != "" && !slices.Contains(vmStates, f.State) {
		return Invalid(ObjVM, "state", "must be one of paused, running, halted, locked, being_created, deleted")
	}
	return nil
}

// match: locked is lockedVMs, for the state a client sees (lock.go).
func (f VMFilter) match(v *store.VM, locked map[int64]bool) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, v.ID)) &&
		(len(f.Cores) == 0 || slices.Contains(f.Cores, v.Cores)) &&
		(len(f.DatacenterIDs) == 0 || slices.Contains(f.DatacenterIDs, v.DatacenterID)) &&
		(len(f.Memory) == 0 || slices.Contains(f.Memory, v.Memory)) &&
		(len(f.Hostnames) == 0 || slices.Contains(f.Hostnames, v.Hostname)) &&
		(f.HostnameLike == "" || likeMatch(f.HostnameLike, v.Hostname)) &&
		(f.State == "" || f.State == shownState(v, locked[v.ID]))
}

var vms = lister[store.VM]{
	obj:   ObjVM,
	each:  (*store.Tx).EachVM,
	owner: func(v *store.VM) int64 { return v.AccountID },
	sortKeys: map[string]func(a, b *store.VM) int{
		"id":            func(a, b *store.VM) int { return cmp64(a.ID, b.ID) },
		"cores":         func(a, b *store.VM) int { return cmp64(a.Cores, b.Cores) },
		"datacenter_id": func(a, b *store.VM) int { return cmp64(a.DatacenterID, b.DatacenterID) },
		"memory":        func(a, b *store.VM) int { return cmp64(a.Memory, b.Memory) },
		"hostname":      func(a, b *store.VM) int { return strings.Compare(a.Hostname, b.Hostname) },
		"state":         func(a, b *store.VM) int { return strings.Compare(a.State, b.State) },
	},
}

// VMs lists the caller's VMs that match f.
func (s *Service) VMs(c *Caller, f VMFilter, p Page) ([]VM, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	// The locks read apart from the list: one placed in between may be
	// missed by the state filter, never by the state shown.
	locked := s.lockedVMs()
	return list(s.st, vms, c, func(v *store.VM) bool { return f.match(v, locked) }, p, func(tx *store.Tx, v store.VM) VM {
		out := vmOf(v)
		out.State = shownState(&v, isLocked(tx, v.ID))
		return out
	})
}

// CountVMs counts the caller's VMs that match f.
func (s *Service) CountVMs(c *Caller, f VMFilter) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	locked := s.lockedVMs()
	return count(s.st, vms, c, func(v *store.VM) bool { return f.match(v, locked) }), nil
}

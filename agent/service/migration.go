package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The target's side of a migration (issue 15): the ticket the operator
// asks for here before it asks the source to move a VM. A ticket
// reserves the ids, memory, cores, storage and addresses of what will
// arrive, checked against this host's numbers (HostInfo's) and the
// account's quota, and is refused, naming the field, when it cannot be
// honoured: before anything moves. Expired unused tickets hold nothing.

// TicketSpec is hosting.migration.ticket's spec.
type TicketSpec struct {
	AccountID int64
	// VMID is the VM that moves; 0 for a detached disk or iface.
	VMID            int64
	MemoryMB, Cores int64
	Disks           []store.TicketDisk
	Ifaces          []TicketIfaceSpec
	// Expires is how long the ticket may begin a transfer; 0 is
	// DefaultTicketFor.
	Expires time.Duration
}

// TicketIfaceSpec is an iface that moves: with SameNetwork its address
// (Addr) stays, as both hosts serve its network; else it gets one of
// this host's pool, of Version, at begin.
type TicketIfaceSpec struct {
	ID          int64
	Addr        string
	SameNetwork bool
	Version     int64
}

// TicketGrant is an issued ticket: the secret is shown this once.
type TicketGrant struct {
	ID      int64
	Ticket  string
	Expires time.Time
}

// Ticket bounds.
const (
	DefaultTicketFor = time.Hour
	MaxTicketFor     = 24 * time.Hour
	// keepTickets is how long a finished ticket is kept (state answers
	// a late source) before it is pruned.
	keepTickets = 7 * 24 * time.Hour
	// commitWait bounds how long a commit's answer waits for the VM to
	// run here: a start is seconds; beyond, the source ends its downtime
	// count at the answer.
	commitWait = 30 * time.Second
)

// reserved is what live tickets hold on this host.
type reserved struct {
	memoryMB, diskMB int64
	vms, disks       map[int64]bool
	ifaces           map[int64]bool
	addrs            map[string]bool
}

func liveTickets(tx *store.Tx, at time.Time) reserved {
	r := reserved{vms: map[int64]bool{}, disks: map[int64]bool{}, ifaces: map[int64]bool{}, addrs: map[string]bool{}}
	tx.EachTicket(func(t *store.Ticket) bool {
		if !t.Live(at) {
			return true
		}
		if t.VMID != 0 {
			r.vms[t.VMID] = true
		}
		if t.Phase == store.TicketIssued {
			// A begun transfer's records count for themselves.
			r.memoryMB += t.MemoryMB
		}
		for _, d := range t.Disks {
			r.disks[d.ID] = true
			if t.Phase == store.TicketIssued {
				r.diskMB += d.SizeMB
			}
		}
		for _, i := range t.Ifaces {
			r.ifaces[i.ID] = true
			if i.Addr != "" {
				r.addrs[i.Addr] = true
			}
		}
		return true
	})
	return r
}

// ticketUsage is what an account's live unused tickets hold, counted in
// its usage (quota.go): a ticket's reservation is a promise.
func ticketUsage(tx *store.Tx, accountID int64, at time.Time) Resources {
	var u Resources
	tx.EachTicket(func(t *store.Ticket) bool {
		if t.AccountID != accountID || t.Phase != store.TicketIssued || !t.Live(at) {
			return true
		}
		if t.VMID != 0 {
			u.Servers++
		}
		u.MemoryMB += t.MemoryMB
		u.Cores += float64(t.Cores)
		for _, d := range t.Disks {
			u.DiskMB += d.SizeMB
		}
		u.IPs += int64(len(t.Ifaces))
		return true
	})
	return u
}

// checkTicketShape applies the rules that need no state.
func (s *Service) checkTicketShape(spec TicketSpec) error {
	if spec.AccountID <= 0 {
		return Missing(ObjAccount, "account_id")
	}
	for field, v := range map[string]int64{"account_id": spec.AccountID, "vm_id": spec.VMID} {
		if v < 0 || v > MaxID {
			return Invalid(ObjVM, field, "must be from 1 to %d", int64(MaxID))
		}
	}
	if spec.VMID != 0 {
		if err := s.checkMemory("memory", spec.MemoryMB); err != nil {
			return err
		}
		if err := s.checkCores(spec.Cores); err != nil {
			return err
		}
		if len(spec.Disks) == 0 {
			return Invalid(ObjVM, "disks", "a vm moves with its system disk: list at least one")
		}
	} else {
		if spec.MemoryMB != 0 || spec.Cores != 0 {
			return Invalid(ObjVM, "memory", "only a vm (vm_id) has memory and cores")
		}
		if len(spec.Disks)+len(spec.Ifaces) != 1 {
			return Invalid(ObjVM, "vm_id", "without a vm, a ticket admits one detached disk or one detached iface")
		}
	}
	if len(spec.Disks) > MaxDataDisks+1 {
		return Invalid(ObjDisk, "disks", "must list at most %d disks", MaxDataDisks+1)
	}
	seen := map[int64]bool{}
	for n, d := range spec.Disks {
		if d.ID <= 0 || d.ID > MaxID {
			return Invalid(ObjDisk, fmt.Sprintf("disks[%d].id", n), "must be from 1 to %d", int64(MaxID))
		}
		if seen[d.ID] {
			return Invalid(ObjDisk, fmt.Sprintf("disks[%d].id", n), "disk %d is listed twice", d.ID)
		}
		seen[d.ID] = true
		if d.SizeMB <= 0 || d.SizeMB > s.cfg.Limits.MaxDiskMB {
			return Invalid(ObjDisk, fmt.Sprintf("disks[%d].size", n), "must be between 1 and %d MB", s.cfg.Limits.MaxDiskMB)
		}
	}
	seen = map[int64]bool{}
	for n, i := range spec.Ifaces {
		field := fmt.Sprintf("ifaces[%d]", n)
		if i.ID <= 0 || i.ID > MaxID {
			return Invalid(ObjIface, field+".id", "must be from 1 to %d", int64(MaxID))
		}
		if seen[i.ID] {
			return Invalid(ObjIface, field+".id", "iface %d is listed twice", i.ID)
		}
		seen[i.ID] = true
		if i.SameNetwork && i.Addr == "" {
			return Missing(ObjIface, field+".ip")
		}
		if !i.SameNetwork && i.Addr != "" {
			return Invalid(ObjIface, field+".ip", "an address is kept only on the same network (same_network)")
		}
		if !i.SameNetwork && i.Version != 4 && i.Version != 6 {
			return Invalid(ObjIface, field+".ip_version", "must be 4 or 6")
		}
	}
	if spec.Expires < 0 || spec.Expires > MaxTicketFor || (spec.Expires != 0 && spec.Expires < time.Minute) {
		return Invalid(ObjMethod, "expires", "must be from 60 to %d seconds", int64(MaxTicketFor/time.Second))
	}
	return nil
}

// hostRoom reads this host's free memory and storage, in MB, as
// HostInfo does; a number that cannot be read refuses the ticket (it
// could not be honoured knowingly).
func (s *Service) hostRoom(ctx context.Context) (memMB, diskMB int64, err error) {
	src := s.hostSrc
	if src.Node == nil || src.Pool == nil {
		return 0, 0, Errorf(ObjMethod, KindConflict, "memory: this host cannot report its free memory and storage, so it cannot honour a ticket")
	}
	sctx, cancel := context.WithTimeout(ctx, hostInfoTimeout)
	defer cancel()
	n, err := src.Node.NodeInfo(sctx)
	if err != nil {
		return 0, 0, Errorf(ObjMethod, KindConflict, "memory: reading the host's free memory: %v", err)
	}
	p, err := src.Pool.Capacity(sctx)
	if err != nil {
		return 0, 0, Errorf(ObjMethod, KindConflict, "disks: reading the storage's free room: %v", err)
	}
	free := n.MemoryFree
	if n.Hypervisor == "TEST" {
		// libvirt's test driver reports a fixed few MB free whatever
		// runs: its total less what its running VMs are given stands in.
		free = n.MemoryTotal
		s.st.View(func(tx *store.Tx) {
			tx.EachVM(func(v *store.VM) bool {
				if v.State == store.VMRunning || v.State == store.VMPaused {
					free -= v.Memory << 20
				}
				return true
			})
		})
	}
	return free >> 20, p.Free >> 20, nil
}

// IssueTicket is hosting.migration.ticket: the operator key only.
func (s *Service) IssueTicket(ctx context.Context, c *Caller, spec TicketSpec) (TicketGrant, error) {
	if err := OperatorOnly(c, "hosting.migration.ticket", "admit a migration"); err != nil {
		return TicketGrant{}, err
	}
	if err := s.checkTicketShape(spec); err != nil {
		return TicketGrant{}, err
	}
	memFree, diskFree, err := s.hostRoom(ctx)
	if err != nil {
		return TicketGrant{}, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return TicketGrant{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	at := time.Now()
	t := store.Ticket{SecretHash: HashKey(secret), AccountID: spec.AccountID, VMID: spec.VMID, MemoryMB: spec.MemoryMB,
		Cores: spec.Cores, Disks: slices.Clone(spec.Disks), Expires: now().Add(max(spec.Expires, 0)), Phase: store.TicketIssued,
		DateCreated: now(), DateUpdated: now()}
	if spec.Expires == 0 {
		t.Expires = now().Add(DefaultTicketFor)
	}
	err = s.st.Update(func(tx *store.Tx) error {
		pruneTickets(tx, at)
		if _, ok := tx.Account(spec.AccountID); !ok {
			return notFound(ObjAccount, "account_id: account", spec.AccountID)
		}
		res := liveTickets(tx, at)
		if spec.VMID != 0 && (tx.HasVM(spec.VMID) || res.vms[spec.VMID]) {
			return Errorf(ObjVM, KindDuplicate, "vm_id: vm %d exists on this host or another ticket admits it", spec.VMID)
		}
		var diskMB int64
		taken := tx.HasDisk
		if s.wf != nil {
			taken = s.wf.Taken().DiskIDFree(tx) // NextID's test: a record, or a volume of that name
		}
		for n, d := range spec.Disks {
			if taken(d.ID) || res.disks[d.ID] {
				return Errorf(ObjDisk, KindDuplicate, "disks[%d].id: disk %d exists on this host or another ticket admits it", n, d.ID)
			}
			diskMB += d.SizeMB
		}
		if t.Ifaces, err = s.ticketIfaces(tx, spec.Ifaces, res); err != nil {
			return err
		}
		if spec.MemoryMB > memFree-res.memoryMB {
			return Errorf(ObjVM, KindQuota, "memory: %d MB asked, %d MB free on this host (%d MB of it reserved by other tickets)", spec.MemoryMB, max(memFree-res.memoryMB, 0), res.memoryMB)
		}
		if diskMB > diskFree-res.diskMB {
			return Errorf(ObjDisk, KindQuota, "disks: %d MB asked, %d MB free in this host's storage (%d MB of it reserved by other tickets)", diskMB, max(diskFree-res.diskMB, 0), res.diskMB)
		}
		// The account's quota: what it holds here, what its other
		// tickets hold, and this one.
		a, _ := tx.Account(spec.AccountID)
		g, _, _ := s.grant(a)
		u := s.usage(tx, spec.AccountID)
		more := Resources{MemoryMB: spec.MemoryMB, Cores: float64(spec.Cores), DiskMB: diskMB, IPs: int64(len(spec.Ifaces))}
		if spec.VMID != 0 {
			more.Servers = 1
		}
		for _, name := range quotaNames {
			if m := more.get(name); m > 0 && u.get(name)+m > g.get(name) {
				return quotaErr(quotaObject(name), name, "%s: %s%s more would exceed the account's %s quota (%s of %s%s used)",
					name, quotaAmount(name, m), quotaUnit(name), name, quotaAmount(name, u.get(name)), quotaAmount(name, g.get(name)), quotaUnit(name))
			}
		}
		t.ID = tx.NextID("ticket", tx.HasTicket)
		tx.PutTicket(t)
		return nil
	})
	if err != nil {
		return TicketGrant{}, err
	}
	s.log.Info("migration ticket issued", "ticket_id", t.ID, "account_id", t.AccountID, "vm_id", t.VMID, "expires", t.Expires)
	return TicketGrant{ID: t.ID, Ticket: secret, Expires: t.Expires}, nil
}

// pruneTickets forgets expired unused tickets and finished old ones.
func pruneTickets(tx *store.Tx, at time.Time) {
	var gone []int64
	tx.EachTicket(func(t *store.Ticket) bool {
		switch {
		case t.Phase == store.TicketIssued && !t.Live(at):
			gone = append(gone, t.ID)
		case !t.Live(at) && at.Sub(t.DateUpdated) > keepTickets:
			gone = append(gone, t.ID)
		}
		return true
	})
	for _, id := range gone {
		tx.DeleteTicket(id)
	}
}

// MigrateSpec is hosting.vm.migrate's spec: the target agent and the
// ticket it issued for the VM.
type MigrateSpec struct {
	Target string
	Ticket string
	// TargetDC is the seed's form (a datacenter id): refused, since an
	// agent knows no other datacenter; the central tier resolves one to
	// an agent and forwards the call with a ticket.
	TargetDC int64
	// Live false asks for a cold move even where the memory could move;
	// nil: live where both hosts can (workflow/migrate_memory.go).
	Live *bool
}

// checkTarget checks the target's address.
func checkTarget(spec MigrateSpec) error {
	if spec.TargetDC != 0 {
		return Invalid(ObjVM, "target_dc", "an agent knows no other datacenter: the central tier resolves datacenter %d to an agent and calls with {target, ticket}", spec.TargetDC)
	}
	if spec.Target == "" {
		return Missing(ObjVM, "target")
	}
	u, err := url.Parse(spec.Target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return Invalid(ObjVM, "target", "must be an agent's base address, https://host:port")
	}
	if spec.Ticket == "" {
		return Missing(ObjVM, "ticket")
	}
	if len(spec.Ticket) > 128 {
		return Invalid(ObjVM, "ticket", "must be at most 128 characters")
	}
	return nil
}

// MigrateVM is hosting.vm.migrate (operator key): one vm_migrate
// operation moves the VM with its disks and ifaces to the target
// (agent/workflow migrate_out.go). The ticket goes to the operation's
// secrets, never to what a client reads back.
func (s *Service) MigrateVM(ctx context.Context, c *Caller, vmID int64, spec MigrateSpec, opts CallOptions) (Operation, error) {
	if err := OperatorOnly(c, "hosting.vm.migrate", "move a vm to another host"); err != nil {
		return Operation{}, err
	}
	if err := checkTarget(spec); err != nil {
		return Operation{}, err
	}
	o, err := s.checkOptions(c, opts, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	return s.submitOneOf(c, o, vmOwner(c, vmID), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(vmID)
		key := workflow.VMKey(vmID)
		if s.deleting(tx, key) {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is being deleted", vmID)
		}
		if l, ok := tx.Lock(vmID); ok {
			return opSpec{}, lockedFault("vm_id", vmID, vmID, l)
		}
		if v.State != store.VMRunning && v.State != store.VMHalted {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is %s; only a running or halted vm moves", vmID, v.State)
		}
		if v.ISOID != 0 {
			return opSpec{}, Errorf(ObjVM, KindConflict, "iso_id: vm %d has ISO %d attached, which is this host's; detach it first", vmID, v.ISOID)
		}
		keys := []string{key}
		for _, id := range v.DiskIDs {
			var snaps []int64
			tx.EachDisk(func(d *store.Disk) bool {
				if d.Source == id && d.IsSnapshot() {
					snaps = append(snaps, d.ID)
				}
				return true
			})
			if len(snaps) > 0 {
				return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d of vm %d has snapshots %v, which stay on this host; delete them first", id, vmID, snaps)
			}
			keys = append(keys, workflow.DiskKey(id))
		}
		for _, id := range v.IfaceIDs {
			keys = append(keys, workflow.IfaceKey(id))
		}
		sp := migrateOp("vm_migrate", spec, keys)
		sp.vmID = vmID
		return sp, nil
	})
}

// migrateOp is the source's operation moving what keys hold.
func migrateOp(typ string, spec MigrateSpec, keys []string) opSpec {
	return opSpec{typ: typ, keys: keys, input: workflow.VMMigrate{Target: spec.Target, Live: spec.Live},
		secrets: map[string]string{"ticket": spec.Ticket}, params: map[string]string{"target": spec.Target}, eta: 600}
}

// MigrateDisk is hosting.disk.migrate (operator key): a detached data
// disk moves to the target (disk_migrate), its data sent once.
func (s *Service) MigrateDisk(ctx context.Context, c *Caller, diskID int64, spec MigrateSpec, opts CallOptions) (Operation, error) {
	if err := OperatorOnly(c, "hosting.disk.migrate", "move a disk to another host"); err != nil {
		return Operation{}, err
	}
	if err := checkTarget(spec); err != nil {
		return Operation{}, err
	}
	o, err := s.checkOptions(c, opts, ObjDisk)
	if err != nil {
		return Operation{}, err
	}
	return s.submitOneOf(c, o, diskOwner(c, diskID), func(tx *store.Tx) (opSpec, error) {
		d, _ := tx.Disk(diskID)
		key := workflow.DiskKey(diskID)
		switch {
		case s.deleting(tx, key):
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is being deleted", diskID)
		case d.VMID != 0:
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is attached to vm %d; move the vm (hosting.vm.migrate)", diskID, d.VMID)
		case d.State != store.DiskCreated || d.Type != store.DiskTypeData:
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is %s %s; only a created data disk moves", diskID, d.State, d.Type)
		}
		var snaps []int64
		tx.EachDisk(func(x *store.Disk) bool {
			if x.Source == diskID && x.IsSnapshot() {
				snaps = append(snaps, x.ID)
			}
			return true
		})
		if len(snaps) > 0 {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d has snapshots %v, which stay on this host; delete them first", diskID, snaps)
		}
		sp := migrateOp("disk_migrate", spec, []string{key})
		sp.diskID = diskID
		return sp, nil
	})
}

// MigrateIface is hosting.iface.migrate (operator key): a detached iface
// moves to the target (iface_migrate), with its address when both hosts
// serve its network.
func (s *Service) MigrateIface(ctx context.Context, c *Caller, ifaceID int64, spec MigrateSpec, opts CallOptions) (Operation, error) {
	if err := OperatorOnly(c, "hosting.iface.migrate", "move an iface to another host"); err != nil {
		return Operation{}, err
	}
	if err := checkTarget(spec); err != nil {
		return Operation{}, err
	}
	o, err := s.checkOptions(c, opts, ObjIface)
	if err != nil {
		return Operation{}, err
	}
	return s.submitOneOf(c, o, ifaceOwner(c, ifaceID), func(tx *store.Tx) (opSpec, error) {
		i, _ := tx.Iface(ifaceID)
		key := workflow.IfaceKey(ifaceID)
		switch {
		case s.deleting(tx, key):
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is being deleted", ifaceID)
		case i.VMID != 0:
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is attached to vm %d; move the vm (hosting.vm.migrate)", ifaceID, i.VMID)
		case i.State != store.IfaceFree:
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is %s; only a free iface moves", ifaceID, i.State)
		}
		sp := migrateOp("iface_migrate", spec, []string{key})
		sp.ifaceID = ifaceID
		return sp, nil
	})
}

// ticketIfaces checks the ifaces a ticket admits: ids free here and in
// no other live ticket, kept addresses on this host's network (its prefix, any range: hosts
// serving one network hand out ranges of their own) and free.
func (s *Service) ticketIfaces(tx *store.Tx, ifaces []TicketIfaceSpec, res reserved) ([]store.TicketIface, error) {
	inUse := map[string]bool{}
	tx.EachIP(func(ip *store.IP) bool { inUse[ip.Addr] = true; return true })
	var out []store.TicketIface
	for n, i := range ifaces {
		field := fmt.Sprintf("ifaces[%d]", n)
		if tx.HasIface(i.ID) || res.ifaces[i.ID] {
			return nil, Errorf(ObjIface, KindDuplicate, "%s.id: iface %d exists on this host or another ticket admits it", field, i.ID)
		}
		ti := store.TicketIface{ID: i.ID, Version: i.Version}
		if i.SameNetwork {
			a, err := netip.ParseAddr(i.Addr)
			if err != nil {
				return nil, Invalid(ObjIP, field+".ip", "%q is not an address", i.Addr)
			}
			pool := s.cfg.Network.V4
			ti.Version = 4
			if a.Is6() {
				pool, ti.Version = s.cfg.Network.V6, 6
			}
			if pool == nil || !pool.OnLink(a) {
				return nil, Invalid(ObjIP, field+".ip", "%s is not a guest's address on this host's IPv%d network: not the same network", a, ti.Version)
			}
			if inUse[a.String()] || res.addrs[a.String()] {
				return nil, Errorf(ObjIP, KindConflict, "%s.ip: %s is leased on this host or reserved by another ticket", field, a)
			}
			// Held for the iface that left with it (ipam.Park): only that
			// iface brings it back.
			if owner, parked := ipam.ParkedFor(tx, a.String(), ti.Version); parked && owner != i.ID {
				return nil, Errorf(ObjIP, KindConflict, "%s.ip: %s left this host with iface %d, which uses it on another host", field, a, owner)
			}
			ti.Addr = a.String()
		} else if (i.Version == 6 && s.cfg.Network.V6 == nil) || (i.Version == 4 && s.cfg.Network.V4 == nil) {
			return nil, Invalid(ObjIP, field+".ip_version", "no IPv%d pool is configured on this host", i.Version)
		}
		out = append(out, ti)
	}
	return out, nil
}

// diskOwner and ifaceOwner resolve a disk's or an iface's account for
// submitOneOf, as vmOwner does a VM's.
func diskOwner(c *Caller, id int64) func(tx *store.Tx) (int64, error) {
	return func(tx *store.Tx) (int64, error) {
		d, err := diskFor(tx, c, id, false)
		return d.AccountID, err
	}
}

func ifaceOwner(c *Caller, id int64) func(tx *store.Tx) (int64, error) {
	return func(tx *store.Tx) (int64, error) {
		i, err := ifaceFor(tx, c, id)
		return i.AccountID, err
	}
}

// migrating reports a disk that moves between hosts: arriving here
// (being_migrated), or held by an unfinished operation moving it away.
func (s *Service) migrating(tx *store.Tx, d store.Disk) bool {
	if d.State == store.DiskBeingMigrated {
		return true
	}
	if s.eng == nil {
		return false
	}
	for _, id := range s.eng.Holders(workflow.DiskKey(d.ID)) {
		if o, ok := tx.Operation(id); ok && !o.Finished() && (o.Type == "vm_migrate" || o.Type == "disk_migrate") {
			return true
		}
	}
	return false
}

// movingVM names the unfinished move that holds vm vmID, if any: a lock
// set meanwhile would not travel (the records leave with the VM) and
// the VM would arrive unlocked.
func (s *Service) movingVM(tx *store.Tx, vmID int64) (store.Operation, bool) {
	if s.eng == nil {
		return store.Operation{}, false
	}
	for _, h := range s.eng.Holders(workflow.VMKey(vmID)) {
		if m, ok := tx.Operation(h); ok && !m.Finished() && slices.Contains(moveTypes, m.Type) {
			return m, true
		}
	}
	return store.Operation{}, false
}

// moveTypes are the operations that move something between hosts.
var moveTypes = []string{"vm_migrate", "disk_migrate", "iface_migrate", "vm_migrate_in", "disk_migrate_in", "iface_migrate_in"}

// refuseMoving refuses new operations on what an unfinished move holds:
// queued behind it, they would run on a VM, disk or iface that left this
// host, or on one not yet arrived. The fault names the object and the
// move.
func (s *Service) refuseMoving(tx *store.Tx, opIDs []int64) error {
	for _, id := range opIDs {
		o, ok := tx.Operation(id)
		if !ok || slices.Contains(moveTypes, o.Type) {
			continue
		}
		for _, key := range o.Keys {
			for _, h := range s.eng.Holders(key) {
				m, ok := tx.Operation(h)
				if !ok || m.Finished() || slices.Contains(opIDs, h) || !slices.Contains(moveTypes, m.Type) {
					continue
				}
				kind, num, _ := strings.Cut(key, ":")
				how := "is moving to another host"
				if strings.HasSuffix(m.Type, "_in") {
					how = "is arriving from another host"
				}
				obj := map[string]Object{"vm": ObjVM, "disk": ObjDisk, "iface": ObjIface}[kind]
				return Errorf(obj, KindConflict, "%s_id: %s %s %s (operation %d, %s); call again once it has", kind, kind, num, how, m.ID, m.Type)
			}
		}
	}
	return nil
}

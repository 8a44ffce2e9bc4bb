package service

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// Quotas bound what each account may hold: servers, cores, memory, disk,
// bandwidth and IP addresses. They are checked in one place, the submit
// transaction (submitCall), on every call of every face: whatever a call
// reserves or asks an operation to change, the account's resources after
// it must stay within its grant. A call that makes nothing grow always
// passes, so lowering a grant below what an account holds takes nothing
// away and refuses only what would add to it.
//
// What an account is granted, per resource, the first that is set:
//
//  1. the operator's value, set at run time (hosting.account.update),
//     kept in the account's record across restarts;
//  2. the account's own in the configuration ([[accounts]], written at
//     every start: ConfigureAccount; disk_quota_mb for disk);
//  3. in the shares model, its shares times the share definition;
//  4. the configured default (Quotas.Default, Limits.DefaultQuotaMB for
//     disk).
//
// Its model and shares: the operator's, the account's configured, then
// Quotas.Rating and Quotas.Shares.
type Quotas struct {
	// Default is an account's grant when nothing else sets it. A zero
	// field takes the built-in default (defaultGrant), DiskMB takes
	// Limits.DefaultQuotaMB.
	Default Resources
	// Share is what one share grants (the share_definition of
	// hosting.account.info); a zero field takes defaultShare's.
	Share Resources
	// Shares is the share count of an account with none set; 0: such an
	// account's grant is Default.
	Shares int64
	// Rating puts accounts with no model set in the rating model.
	Rating bool
}

// Resources are amounts of what quotas bound: as an account holds them,
// as it is granted them, or as is left of a grant.
type Resources struct {
	Servers  int64
	Cores    float64
	MemoryMB int64
	DiskMB   int64
	// Bandwidth is in bit/s, the sum of the account's ifaces'.
	Bandwidth float64
	IPs       int64
}

// The account models of the seed's overview (hosting.account.info's
// rating_enabled).
const (
	ModelShares = "shares"
	ModelRating = "rating"
)

// defaultGrant is generous: an operator who configures no quota gets an
// agent that refuses little, as before quotas existed.
var defaultGrant = Resources{Servers: 1024, Cores: 4096, MemoryMB: 4 << 20, Bandwidth: 1e12, IPs: 4096}

// defaultShare is Gandi's share (one server, 256 MB, 8 GB of disk), with
// a whole core and one iface at the default bandwidth, since this host
// counts whole cores and shapes in bit/s.
var defaultShare = Resources{Servers: 1, Cores: 1, MemoryMB: 256, DiskMB: 8192, Bandwidth: 102400, IPs: 1}

// quotaNames are the resources in the order faults and views name them.
var quotaNames = []string{"servers", "cores", "memory", "disk", "bandwidth", "ips"}

// get returns a resource by its name in quotaNames, as a float.
func (r Resources) get(name string) float64 {
	switch name {
	case "servers":
		return float64(r.Servers)
	case "cores":
		return r.Cores
	case "memory":
		return float64(r.MemoryMB)
	case "disk":
		return float64(r.DiskMB)
	case "bandwidth":
		return r.Bandwidth
	case "ips":
		return float64(r.IPs)
	}
	panic("service: unknown quota " + name)
}

// orElse fills r's zero fields from d.
func (r Resources) orElse(d Resources) Resources {
	pick := func(a, b int64) int64 {
		if a > 0 {
			return a
		}
		return b
	}
	pickF := func(a, b float64) float64 {
		if a > 0 {
			return a
		}
		return b
	}
	return Resources{Servers: pick(r.Servers, d.Servers), Cores: pickF(r.Cores, d.Cores), MemoryMB: pick(r.MemoryMB, d.MemoryMB),
		DiskMB: pick(r.DiskMB, d.DiskMB), Bandwidth: pickF(r.Bandwidth, d.Bandwidth), IPs: pick(r.IPs, d.IPs)}
}

// times is r scaled by n shares.
func (r Resources) times(n int64) Resources {
	return Resources{Servers: r.Servers * n, Cores: r.Cores * float64(n), MemoryMB: r.MemoryMB * n, DiskMB: r.DiskMB * n,
		Bandwidth: r.Bandwidth * float64(n), IPs: r.IPs * n}
}

// left is what g leaves of u, never below 0.
func (g Resources) left(u Resources) Resources {
	return Resources{Servers: max(g.Servers-u.Servers, 0), Cores: max(g.Cores-u.Cores, 0), MemoryMB: max(g.MemoryMB-u.MemoryMB, 0),
		DiskMB: max(g.DiskMB-u.DiskMB, 0), Bandwidth: max(g.Bandwidth-u.Bandwidth, 0), IPs: max(g.IPs-u.IPs, 0)}
}

// share is the share definition in force.
func (s *Service) share() Resources { return s.cfg.Quotas.Share.orElse(defaultShare) }

// grant is what account a is granted, its model and its shares (see
// Quotas for the order).
func (s *Service) grant(a store.Account) (g Resources, model string, shares int64) {
	q := overlay(a.Quota, a.Configured)
	model = q.Model
	if model == "" {
		model = map[bool]string{false: ModelShares, true: ModelRating}[s.cfg.Quotas.Rating]
	}
	shares = q.Shares
	if shares == 0 {
		shares = s.cfg.Quotas.Shares
	}
	base := s.cfg.Quotas.Default.orElse(defaultGrant)
	base.DiskMB = s.cfg.Quotas.Default.DiskMB
	if base.DiskMB == 0 {
		base.DiskMB = s.cfg.Limits.DefaultQuotaMB
	}
	if model == ModelShares && shares > 0 {
		base = s.share().times(shares)
	}
	if a.DiskQuotaMB > 0 {
		base.DiskMB = a.DiskQuotaMB
	}
	g = Resources{Servers: q.Servers, Cores: q.Cores, MemoryMB: q.MemoryMB, DiskMB: q.DiskMB, Bandwidth: q.Bandwidth, IPs: q.IPs}.orElse(base)
	return g, model, shares
}

// quotaBandwidth is what an iface's bandwidth counts against the quota:
// an unshaped one (Unlimited) counts as the most a shaped one may have,
// or it would be a way around the quota.
func (s *Service) quotaBandwidth(bw float64) float64 {
	if bw == Unlimited {
		return s.cfg.Limits.MaxBandwidth
	}
	return bw
}

// usage is what an account holds, as it will be once the operations
// queued on its resources are done: a vm_update's memory and cores, an
// iface_update's bandwidth and a disk_update's size and snapshot profile
// count from the call that asked for them (two calls each within the
// quota must not add up past it), not from when they run.
func (s *Service) usage(tx *store.Tx, accountID int64) Resources {
	p := s.pendingUpdates(tx)
	var u Resources
	tx.ScanVMs(func(v *store.VM) {
		if v.AccountID != accountID {
			return
		}
		mem, cores := v.Memory, v.Cores
		for _, params := range p.vm[v.ID] {
			setInt(&mem, params["memory"])
			setInt(&cores, params["cores"])
		}
		u.Servers++
		u.MemoryMB += mem
		u.Cores += float64(cores)
	})
	tx.ScanIfaces(func(i *store.Iface) {
		if i.AccountID != accountID {
			return
		}
		bw := i.Bandwidth
		for _, params := range p.iface[i.ID] {
			if f, err := strconv.ParseFloat(params["bandwidth"], 64); err == nil {
				bw = f
			}
		}
		u.Bandwidth += s.quotaBandwidth(bw)
		u.IPs += int64(len(i.IPIDs))
	})
	tx.ScanDisks(func(d *store.Disk) {
		if d.AccountID != accountID {
			return
		}
		pending := p.disk[d.ID]
		if len(pending) == 0 {
			u.DiskMB += s.chargedMB(*d)
			return
		}
		after := *d
		for _, params := range pending {
			setInt(&after.SizeMB, params["size"])
			setInt(&after.SnapshotProfile, params["snapshot_profile"])
		}
		u.DiskMB += s.chargedMB(after)
	})
	// Incoming migrations' unused tickets hold what they reserved
	// (migration.go).
	t := ticketUsage(tx, accountID, time.Now())
	u.Servers, u.MemoryMB, u.Cores, u.DiskMB, u.IPs = u.Servers+t.Servers, u.MemoryMB+t.MemoryMB, u.Cores+t.Cores, u.DiskMB+t.DiskMB, u.IPs+t.IPs
	return u
}

// updates are the params of unfinished updates by the id of what they
// change, oldest first: the last one asked wins, as it will when they
// run.
type updates struct{ vm, iface, disk map[int64][]map[string]string }

func (s *Service) pendingUpdates(tx *store.Tx) updates {
	ids := s.eng.Queued()
	slices.Sort(ids)
	p := updates{vm: map[int64][]map[string]string{}, iface: map[int64][]map[string]string{}, disk: map[int64][]map[string]string{}}
	for _, id := range ids {
		o, ok := tx.Operation(id)
		if !ok || o.Finished() {
			continue
		}
		switch o.Type {
		case "vm_update":
			p.vm[o.VMID] = append(p.vm[o.VMID], o.Params)
		case "iface_update":
			p.iface[o.IfaceID] = append(p.iface[o.IfaceID], o.Params)
		case "disk_update":
			p.disk[o.DiskID] = append(p.disk[o.DiskID], o.Params)
		}
	}
	return p
}

func setInt(dst *int64, raw string) {
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		*dst = n
	}
}

// errQuotaRecheck says a call left its account past a grant and
// checkQuota, without the usage before the call, cannot tell whether the
// call is why: submitCall undoes the transaction and runs the call again
// measuring first. Most calls stay within every grant, and pay for one
// usage scan instead of two.
var errQuotaRecheck = errors.New("service: over a quota; measure before the call")

// checkQuota refuses what made an account's resources grow past its
// grant, from before (its usage when the call began, in the same
// transaction) to now. A nil before: errQuotaRecheck when any resource is
// past its grant.
func (s *Service) checkQuota(tx *store.Tx, accountID int64, before *Resources) error {
	a, ok := tx.Account(accountID)
	if !ok {
		return nil // the operator's own resources (none today)
	}
	g, _, _ := s.grant(a)
	after := s.usage(tx, accountID)
	for _, name := range quotaNames {
		now, max := after.get(name), g.get(name)
		if now <= max {
			continue
		}
		if before == nil {
			return errQuotaRecheck
		}
		if was := before.get(name); now > was {
			unit := quotaUnit(name)
			return quotaErr(quotaObject(name), name, "%s: %s%s more would exceed the account's %s quota (%s of %s%s used)",
				name, quotaAmount(name, now-was), unit, name, quotaAmount(name, was), quotaAmount(name, max), unit)
		}
	}
	return nil
}

// quotaErr is a refusal by the account's grant of resource (one of
// quotaNames); the message names the call's field first.
func quotaErr(obj Object, resource, format string, args ...any) *Error {
	e := Errorf(obj, KindQuota, format, args...)
	e.Quota = resource
	return e
}

func quotaAmount(name string, v float64) string {
	if name == "cores" || name == "bandwidth" {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatInt(int64(math.Round(v)), 10)
}

func quotaUnit(name string) string {
	switch name {
	case "memory", "disk":
		return " MB"
	case "bandwidth":
		return " bit/s"
	}
	return ""
}

// quotaObject is what a quota's fault is about: the kind of record
// that holds the resource.
func quotaObject(name string) Object {
	switch name {
	case "disk":
		return ObjDisk
	case "bandwidth":
		return ObjIface
	case "ips":
		return ObjIP
	}
	return ObjVM
}

// sharesFor is how many shares cover u: the most any resource needs.
func sharesFor(u, share Resources) int64 {
	var n int64
	for _, name := range quotaNames {
		if per := share.get(name); per > 0 {
			n = max(n, int64(math.Ceil(u.get(name)/per-1e-9)))
		}
	}
	return n
}

// checkModel checks a model's name.
func checkModel(field, m string) error {
	if m != ModelShares && m != ModelRating {
		return Invalid(ObjAccount, field, "must be %q or %q, got %q", ModelShares, ModelRating, m)
	}
	return nil
}

// overlay is q with its unset fields taken from under.
func overlay(q, under store.AccountQuota) store.AccountQuota {
	out := q
	r := Resources{Servers: q.Servers, Cores: q.Cores, MemoryMB: q.MemoryMB, DiskMB: q.DiskMB, Bandwidth: q.Bandwidth, IPs: q.IPs}.orElse(
		Resources{Servers: under.Servers, Cores: under.Cores, MemoryMB: under.MemoryMB, DiskMB: under.DiskMB, Bandwidth: under.Bandwidth, IPs: under.IPs})
	out.Servers, out.Cores, out.MemoryMB, out.DiskMB, out.Bandwidth, out.IPs = r.Servers, r.Cores, r.MemoryMB, r.DiskMB, r.Bandwidth, r.IPs
	if out.Shares == 0 {
		out.Shares = under.Shares
	}
	if out.Model == "" {
		out.Model = under.Model
	}
	return out
}

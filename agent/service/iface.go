package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Iface is a network interface as a client sees it.
type Iface struct {
	ID           int64
	Bandwidth    float64 // bit/s
	DatacenterID int64
	AccountID    int64 // its owner: faces show it to the operator only
	VMID         int64 // 0 while detached
	IPIDs        []int64
	// Num is the iface's position on its VM (0 while detached).
	Num                      int64
	State, Type              string
	DateCreated, DateUpdated time.Time
	// IPs are its addresses (an info call shows them, a list does not).
	IPs []IP
}

// IP is an address as a client sees it.
type IP struct {
	ID           int64
	Addr         string
	Version      int64 // 4 or 6
	IfaceID      int64 // 0 while released
	Num          int64
	State        string
	Reverse      string
	DatacenterID int64
	DateCreated  time.Time
	DateUpdated  time.Time
}

// Traffic is what an iface counted, from the VM's point of view.
type Traffic struct {
	RxBytes, TxBytes, RxPackets, TxPackets uint64
}

// IfaceInfo is what iface.info shows: the iface and its traffic.
type IfaceInfo struct {
	Iface
	// Traffic is since the iface was created, across all its devices.
	Traffic Traffic
}

func ipOf(ip store.IP) IP {
	return IP{ID: ip.ID, Addr: ip.Addr, Version: ip.Version, IfaceID: ip.IfaceID, Num: ip.Num, State: ip.State,
		Reverse: ip.Reverse, DatacenterID: ip.DatacenterID, DateCreated: ip.DateCreated, DateUpdated: ip.DateUpdated}
}

// ifaceOf is the view of i, read in tx: its position on its VM and its
// addresses are records of their own.
func ifaceOf(tx *store.Tx, i store.Iface) Iface {
	out := Iface{ID: i.ID, Bandwidth: i.Bandwidth, DatacenterID: i.DatacenterID, AccountID: i.AccountID, VMID: i.VMID,
		IPIDs: append([]int64{}, i.IPIDs...), State: i.State, Type: i.Type,
		DateCreated: i.DateCreated, DateUpdated: i.DateUpdated, IPs: []IP{}}
	if v, ok := tx.VM(i.VMID); ok {
		for n, id := range v.IfaceIDs {
			if id == i.ID {
				out.Num = int64(n)
			}
		}
	}
	for _, id := range i.IPIDs {
		if ip, ok := tx.IP(id); ok {
			out.IPs = append(out.IPs, ipOf(ip))
		}
	}
	return out
}

func ifaceFor(tx *store.Tx, c *Caller, id int64) (store.Iface, error) {
	i, ok := tx.Iface(id)
	if !ok || !c.owns(i.AccountID) {
		return store.Iface{}, notFound(ObjIface, "iface", id)
	}
	return i, nil
}

func ipFor(tx *store.Tx, c *Caller, id int64) (store.IP, error) {
	ip, ok := tx.IP(id)
	if !ok || !c.owns(ip.AccountID) {
		return ip, notFound(ObjIP, "ip", id)
	}
	return ip, nil
}

// IfaceFilter selects ifaces: each list, when not empty, and each
// string, when not "", is a match.
type IfaceFilter struct {
	IDs, VMIDs, DatacenterIDs []int64
	State, Type               string
}

func (f IfaceFilter) match(i *store.Iface) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, i.ID)) && (len(f.VMIDs) == 0 || slices.Contains(f.VMIDs, i.VMID)) &&
		(len(f.DatacenterIDs) == 0 || slices.Contains(f.DatacenterIDs, i.DatacenterID)) &&
		(f.State == "" || f.State == i.State) && (f.Type == "" || f.Type == i.Type)
}

var ifaceLister = lister[store.Iface]{
	obj:   ObjIface,
	each:  (*store.Tx).EachIface,
	owner: func(i *store.Iface) int64 { return i.AccountID },
	sortKeys: map[string]func(a, b *store.Iface) int{
		"id":            func(a, b *store.Iface) int { return cmp64(a.ID, b.ID) },
		"vm_id":         func(a, b *store.Iface) int { return cmp64(a.VMID, b.VMID) },
		"datacenter_id": func(a, b *store.Iface) int { return cmp64(a.DatacenterID, b.DatacenterID) },
		"state":         func(a, b *store.Iface) int { return strings.Compare(a.State, b.State) },
		"bandwidth":     func(a, b *store.Iface) int { return cmpFloat(a.Bandwidth, b.Bandwidth) },
	},
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Ifaces lists the caller's ifaces that match f.
func (s *Service) Ifaces(c *Caller, f IfaceFilter, p Page) ([]Iface, error) {
	return list(s.st, ifaceLister, c, f.match, p, ifaceOf)
}

// CountIfaces counts the caller's ifaces that match f.
func (s *Service) CountIfaces(c *Caller, f IfaceFilter) int {
	return count(s.st, ifaceLister, c, f.match)
}

// Iface reads one of the caller's ifaces with its live traffic counters.
func (s *Service) Iface(ctx context.Context, c *Caller, id int64) (IfaceInfo, error) {
	var out IfaceInfo
	var err error
	s.st.View(func(tx *store.Tx) {
		var i store.Iface
		if i, err = ifaceFor(tx, c, id); err != nil {
			return
		}
		out.Iface = ifaceOf(tx, i)
		t := s.wf.Traffic(ctx, i)
		out.Traffic = Traffic{RxBytes: t.RxBytes, TxBytes: t.TxBytes, RxPackets: t.RxPackets, TxPackets: t.TxPackets}
	})
	return out, err
}

// IPFilter selects addresses: each list, when not empty, each string,
// when not "", and Version, when not nil, is a match.
type IPFilter struct {
	IDs, IfaceIDs, DatacenterIDs []int64
	// Version is 4 or 6 when given.
	Version *int64
	Addrs   []string
	State   string
}

// check refuses a filter no address could match for a wrong value.
func (f IPFilter) check() error {
	if f.Version != nil {
		if _, err := ipVersion(ObjIP, "version", f.Version); err != nil {
			return err
		}
	}
	return nil
}

func (f IPFilter) match(ip *store.IP) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, ip.ID)) && (len(f.IfaceIDs) == 0 || slices.Contains(f.IfaceIDs, ip.IfaceID)) &&
		(len(f.DatacenterIDs) == 0 || slices.Contains(f.DatacenterIDs, ip.DatacenterID)) &&
		(f.Version == nil || *f.Version == ip.Version) &&
		(len(f.Addrs) == 0 || slices.Contains(f.Addrs, ip.Addr)) && (f.State == "" || f.State == ip.State)
}

var ipLister = lister[store.IP]{
	obj:   ObjIP,
	each:  (*store.Tx).EachIP,
	owner: func(ip *store.IP) int64 { return ip.AccountID },
	sortKeys: map[string]func(a, b *store.IP) int{
		"id":       func(a, b *store.IP) int { return cmp64(a.ID, b.ID) },
		"iface_id": func(a, b *store.IP) int { return cmp64(a.IfaceID, b.IfaceID) },
		"version":  func(a, b *store.IP) int { return cmp64(a.Version, b.Version) },
		"ip":       func(a, b *store.IP) int { return strings.Compare(a.Addr, b.Addr) },
		"state":    func(a, b *store.IP) int { return strings.Compare(a.State, b.State) },
	},
}

// IPs lists the caller's addresses that match f.
func (s *Service) IPs(c *Caller, f IPFilter, p Page) ([]IP, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return list(s.st, ipLister, c, f.match, p, func(_ *store.Tx, ip store.IP) IP { return ipOf(ip) })
}

// CountIPs counts the caller's addresses that match f.
func (s *Service) CountIPs(c *Caller, f IPFilter) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return count(s.st, ipLister, c, f.match), nil
}

// IP reads one of the caller's addresses.
func (s *Service) IP(c *Caller, id int64) (IP, error) {
	var ip store.IP
	var err error
	s.st.View(func(tx *store.Tx) { ip, err = ipFor(tx, c, id) })
	return ipOf(ip), err
}

// ipVersion is the IP version a call asks for (key names its field):
// 4 unless given.
func ipVersion(obj Object, key string, v *int64) (int64, error) {
	if v == nil {
		return 4, nil
	}
	if *v != 4 && *v != 6 {
		return 0, Invalid(obj, key, "must be 4 or 6")
	}
	return *v, nil
}

// NewIface is an iface to create, with one address.
type NewIface struct {
	DatacenterID int64
	// IPVersion is 4 or 6; nil is 4.
	IPVersion *int64
	// Bandwidth is in bit/s; nil is the network's default.
	Bandwidth *float64
	// First (AddIface only) puts the iface before the VM's others: its
	// primary (workflow.IfaceAttach). The VM must be halted: a running
	// guest's interfaces cannot move.
	First bool
	// Sole (AddIface only) refuses a VM that has an iface already
	// (Error.HasIface), checked in the call's transaction: two calls at
	// once cannot both pass, and a retry with the call's idempotency key
	// still gets the first call's operations.
	Sole    bool
	Options CallOptions
}

// CreateIface records an iface, leases its address and submits the
// operation that makes it.
func (s *Service) CreateIface(ctx context.Context, c *Caller, req NewIface) (Operation, error) {
	o, acct, err := s.creatorOf(c, req.Options, ObjIface)
	if err != nil {
		return Operation{}, err
	}
	r := ifaceReq{obj: ObjIface, accountID: acct, id: o.ifaceID, ipID: o.ipID, dc: req.DatacenterID, bandwidth: s.cfg.Network.Bandwidth()}
	if r.version, err = ipVersion(ObjIface, "ip_version", req.IPVersion); err != nil {
		return Operation{}, err
	}
	if req.Bandwidth != nil {
		r.bandwidth = *req.Bandwidth
	}
	ops, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		i, ip, err := s.reserveIface(tx, r)
		if err != nil {
			return nil, err
		}
		op := s.newOp(tx, acct, opSpec{typ: "iface_create", ifaceID: i.ID, ip: ip.ID, keys: []string{workflow.IfaceKey(i.ID)}, eta: 5})
		return []int64{op.ID}, nil
	})
	if err != nil {
		return Operation{}, err
	}
	return operationOf(ops[0]), nil
}

// DeleteIface submits the deletion of a detached iface; its address goes
// back to the pool, where the account gets it first when it asks again.
func (s *Service) DeleteIface(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	o, err := s.checkOptions(c, opts, ObjIface)
	if err != nil {
		return Operation{}, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		i, err := ifaceFor(tx, c, id)
		return i.AccountID, err
	}
	return s.submitOneOf(c, o, owner, func(tx *store.Tx) (opSpec, error) {
		i, _ := tx.Iface(id)
		if i.VMID != 0 {
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is attached to vm %d; detach it first", id, i.VMID)
		}
		if s.deleting(tx, workflow.IfaceKey(id)) {
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is already being deleted", id)
		}
		return opSpec{typ: "iface_delete", ifaceID: id, keys: []string{workflow.IfaceKey(id)}, eta: 5}, nil
	})
}

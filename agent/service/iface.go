package service

import (
	"context"
	"slices"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

func (s *Service) ifaceCreate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjIface
	o, acct, err := s.creator(c, a, 1, ObjIface)
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "iface_spec", false)
	if err != nil {
		return nil, err
	}
	r := ifaceReq{obj: ObjIface, accountID: acct, id: o.ifaceID, ipID: o.ipID}
	if r.dc, err = sp.int("datacenter_id", 0, true); err != nil {
		return nil, err
	}
	if r.version, err = parseIPVersion(ObjIface, sp, "ip_version"); err != nil {
		return nil, err
	}
	if r.bandwidth, err = sp.float("bandwidth", s.cfg.Network.Bandwidth()); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	ops, err := s.submit(acct, o, "hosting.iface.create", a.vals, func(tx *store.Tx) ([]int64, error) {
		i, ip, err := s.reserveIface(tx, r)
		if err != nil {
			return nil, err
		}
		op := s.newOp(tx, acct, opSpec{typ: "iface_create", ifaceID: i.ID, ip: ip.ID, keys: []string{workflow.IfaceKey(i.ID)}, eta: 5})
		return []int64{op.ID}, nil
	})
	if err != nil {
		return nil, err
	}
	return renderOp(ops[0]), nil
}

func ifaceFor(tx *store.Tx, c *Caller, id int64) (store.Iface, error) {
	i, ok := tx.Iface(id)
	if !ok || !c.owns(i.AccountID) {
		return store.Iface{}, notFound(ObjIface, "iface", id)
	}
	return i, nil
}

func (s *Service) ifaceDelete(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjIface
	id, err := a.int(0, "iface_id")
	if err != nil {
		return nil, err
	}
	o, err := s.callOpts(c, a, 1)
	if err != nil {
		return nil, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		i, err := ifaceFor(tx, c, id)
		return i.AccountID, err
	}
	return s.submitOne(c, o, "hosting.iface.delete", a.vals, owner, func(tx *store.Tx) (opSpec, error) {
		i, _ := tx.Iface(id)
		if i.VMID != 0 {
			return opSpec{}, fault(ObjIface, KindConflict, "iface_id: iface %d is attached to vm %d; detach it first", id, i.VMID)
		}
		if s.deleting(tx, workflow.IfaceKey(id)) {
			return opSpec{}, fault(ObjIface, KindConflict, "iface_id: iface %d is already being deleted", id)
		}
		return opSpec{typ: "iface_delete", ifaceID: id, keys: []string{workflow.IfaceKey(id)}, eta: 5}, nil
	})
}

func renderIP(ip store.IP) map[string]any {
	return map[string]any{
		"id": ip.ID, "ip": ip.Addr, "version": ip.Version, "iface_id": nullable(ip.IfaceID), "num": ip.Num,
		"state": ip.State, "reverse": ip.Reverse, "datacenter_id": ip.DatacenterID,
		"date_created": ip.DateCreated, "date_updated": ip.DateUpdated,
	}
}

func renderIface(tx *store.Tx, i store.Iface, withIPs bool) map[string]any {
	num := int64(0)
	if v, ok := tx.VM(i.VMID); ok {
		for n, id := range v.IfaceIDs {
			if id == i.ID {
				num = int64(n)
			}
		}
	}
	out := map[string]any{
		"id": i.ID, "bandwidth": i.Bandwidth, "datacenter_id": i.DatacenterID, "vm_id": nullable(i.VMID),
		"ips_id": append([]int64{}, i.IPIDs...), "num": num, "state": i.State, "type": i.Type,
		"date_created": i.DateCreated, "date_updated": i.DateUpdated,
	}
	if withIPs {
		ips := []any{}
		for _, id := range i.IPIDs {
			if ip, ok := tx.IP(id); ok {
				ips = append(ips, renderIP(ip))
			}
		}
		out["ips"] = ips
	}
	return out
}

// ifaceInfo adds to the seed's fields the iface's traffic since it was
// created, from the VM's point of view, across all its devices.
func (s *Service) ifaceInfo(ctx context.Context, c *Caller, a args) (any, error) {
	return lookupInfo(s.st, c, a, ObjIface, "iface_id", ifaceFor, func(tx *store.Tx, i store.Iface) map[string]any {
		out := renderIface(tx, i, true)
		t := s.wf.Traffic(ctx, i)
		out["traffic"] = map[string]any{"rx_bytes": int64(t.RxBytes), "tx_bytes": int64(t.TxBytes),
			"rx_packets": int64(t.RxPackets), "tx_packets": int64(t.TxPackets)}
		return out
	})
}

var ifaceQuery = query[store.Iface]{
	obj:   ObjIface,
	each:  (*store.Tx).EachIface,
	owner: func(i *store.Iface) int64 { return i.AccountID },
	filter: func(sp *spec) (func(*store.Iface) bool, error) {
		ids, err := sp.ints("id")
		if err != nil {
			return nil, err
		}
		vms, err := sp.ints("vm_id")
		if err != nil {
			return nil, err
		}
		dcs, err := sp.ints("datacenter_id")
		if err != nil {
			return nil, err
		}
		state, err := sp.str("state", "", false)
		if err != nil {
			return nil, err
		}
		typ, err := sp.str("type", "", false)
		return func(i *store.Iface) bool {
			return (len(ids) == 0 || slices.Contains(ids, i.ID)) && (len(vms) == 0 || slices.Contains(vms, i.VMID)) &&
				(len(dcs) == 0 || slices.Contains(dcs, i.DatacenterID)) && (state == "" || state == i.State) && (typ == "" || typ == i.Type)
		}, err
	},
	sortKeys: map[string]func(a, b *store.Iface) int{
		"id":            func(a, b *store.Iface) int { return cmp64(a.ID, b.ID) },
		"vm_id":         func(a, b *store.Iface) int { return cmp64(a.VMID, b.VMID) },
		"datacenter_id": func(a, b *store.Iface) int { return cmp64(a.DatacenterID, b.DatacenterID) },
		"state":         func(a, b *store.Iface) int { return strings.Compare(a.State, b.State) },
		"bandwidth":     func(a, b *store.Iface) int { return cmpFloat(a.Bandwidth, b.Bandwidth) },
	},
	render: func(tx *store.Tx, i store.Iface) any { return renderIface(tx, i, false) },
}

var ipQuery = query[store.IP]{
	obj:   ObjIP,
	each:  (*store.Tx).EachIP,
	owner: func(ip *store.IP) int64 { return ip.AccountID },
	filter: func(sp *spec) (func(*store.IP) bool, error) {
		ids, err := sp.ints("id")
		if err != nil {
			return nil, err
		}
		ifaces, err := sp.ints("iface_id")
		if err != nil {
			return nil, err
		}
		dcs, err := sp.ints("datacenter_id")
		if err != nil {
			return nil, err
		}
		var version int64
		if sp.has("version") {
			if version, err = parseIPVersion(ObjIP, sp, "version"); err != nil {
				return nil, err
			}
		}
		addrs, err := sp.strs("ip")
		if err != nil {
			return nil, err
		}
		state, err := sp.str("state", "", false)
		return func(ip *store.IP) bool {
			return (len(ids) == 0 || slices.Contains(ids, ip.ID)) && (len(ifaces) == 0 || slices.Contains(ifaces, ip.IfaceID)) &&
				(len(dcs) == 0 || slices.Contains(dcs, ip.DatacenterID)) && (version == 0 || version == ip.Version) &&
				(len(addrs) == 0 || slices.Contains(addrs, ip.Addr)) && (state == "" || state == ip.State)
		}, err
	},
	sortKeys: map[string]func(a, b *store.IP) int{
		"id":       func(a, b *store.IP) int { return cmp64(a.ID, b.ID) },
		"iface_id": func(a, b *store.IP) int { return cmp64(a.IfaceID, b.IfaceID) },
		"version":  func(a, b *store.IP) int { return cmp64(a.Version, b.Version) },
		"ip":       func(a, b *store.IP) int { return strings.Compare(a.Addr, b.Addr) },
		"state":    func(a, b *store.IP) int { return strings.Compare(a.State, b.State) },
	},
	render: func(tx *store.Tx, ip store.IP) any { return renderIP(ip) },
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

func (s *Service) ipInfo(ctx context.Context, c *Caller, a args) (any, error) {
	lookup := func(tx *store.Tx, c *Caller, id int64) (store.IP, error) {
		ip, ok := tx.IP(id)
		if !ok || !c.owns(ip.AccountID) {
			return ip, notFound(ObjIP, "ip", id)
		}
		return ip, nil
	}
	return lookupInfo(s.st, c, a, ObjIP, "ip_id", lookup, func(tx *store.Tx, ip store.IP) map[string]any { return renderIP(ip) })
}

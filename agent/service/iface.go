package service

import (
	"context"
	"sort"

	"github.com/xenagent/xenagent/agent/store"
)

func (s *Service) ifaceCreate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjIface
	o, err := s.callOpts(c, a, 1)
	if err != nil {
		return nil, err
	}
	acct := o.accountID
	if c.Operator {
		if acct, err = s.requireAccount(o, ObjIface); err != nil {
			return nil, err
		}
	}
	sp, err := a.spec(0, "iface_spec", false)
	if err != nil {
		return nil, err
	}
	r := ifaceReq{obj: ObjIface, accountID: acct, id: o.ifaceID, ipID: o.ipID}
	if r.dc, err = sp.int("datacenter_id", 0, true); err != nil {
		return nil, err
	}
	if r.version, err = parseIPVersion(ObjIface, sp.raw("ip_version")); err != nil {
		return nil, err
	}
	if r.bandwidth, err = sp.float("bandwidth", 102400); err != nil {
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
		op := s.newOp(tx, acct, opSpec{typ: "iface_create", ifaceID: i.ID, ip: ip.ID, keys: []string{ifaceKey(i.ID)}, eta: 5})
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
	var acct int64
	s.st.View(func(tx *store.Tx) {
		i, e := ifaceFor(tx, c, id)
		err, acct = e, i.AccountID
	})
	if err != nil {
		return nil, err
	}
	ops, err := s.submit(acct, o, "hosting.iface.delete", a.vals, func(tx *store.Tx) ([]int64, error) {
		i, err := ifaceFor(tx, c, id)
		if err != nil {
			return nil, err
		}
		if i.VMID != 0 {
			return nil, fault(ObjIface, CauseConflict, "iface_id: iface %d is attached to vm %d; detach it first", id, i.VMID)
		}
		if s.deleting(tx, ifaceKey(id)) {
			return nil, fault(ObjIface, CauseConflict, "iface_id: iface %d is already being deleted", id)
		}
		op := s.newOp(tx, i.AccountID, opSpec{typ: "iface_delete", ifaceID: id, keys: []string{ifaceKey(id)}, eta: 5})
		return []int64{op.ID}, nil
	})
	if err != nil {
		return nil, err
	}
	return renderOp(ops[0]), nil
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

func (s *Service) ifaceInfo(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjIface
	id, err := a.int(0, "iface_id")
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	var out map[string]any
	s.st.View(func(tx *store.Tx) {
		i, e := ifaceFor(tx, c, id)
		if e != nil {
			err = e
			return
		}
		out = renderIface(tx, i, true)
	})
	return out, err
}

func (s *Service) ifaces(c *Caller, a args, paged bool) ([]any, int, error) {
	a.obj = ObjIface
	if err := a.atMost(1); err != nil {
		return nil, 0, err
	}
	sp, err := a.spec(0, "opts", true)
	if err != nil {
		return nil, 0, err
	}
	ids, err := sp.ints("id")
	if err != nil {
		return nil, 0, err
	}
	vms, err := sp.ints("vm_id")
	if err != nil {
		return nil, 0, err
	}
	dcs, err := sp.ints("datacenter_id")
	if err != nil {
		return nil, 0, err
	}
	state, err := sp.str("state", "", false)
	if err != nil {
		return nil, 0, err
	}
	perPage, pg := int64(1<<31), int64(0)
	if paged {
		if perPage, pg, err = sp.paging(); err != nil {
			return nil, 0, err
		}
	}
	sp.ignore("sort_by", "type")
	if err := sp.done(); err != nil {
		return nil, 0, err
	}
	var out []any
	n := 0
	s.st.View(func(tx *store.Tx) {
		var hits []*store.Iface
		tx.EachIface(func(i *store.Iface) bool {
			if c.owns(i.AccountID) && (len(ids) == 0 || contains(ids, i.ID)) && (len(vms) == 0 || contains(vms, i.VMID)) &&
				(len(dcs) == 0 || contains(dcs, i.DatacenterID)) && (state == "" || state == i.State) {
				hits = append(hits, i)
			}
			return true
		})
		n = len(hits)
		for _, i := range page(hits, perPage, pg) {
			out = append(out, renderIface(tx, *i, false))
		}
	})
	if out == nil {
		out = []any{}
	}
	return out, n, nil
}

func (s *Service) ifaceList(ctx context.Context, c *Caller, a args) (any, error) {
	out, _, err := s.ifaces(c, a, true)
	return out, err
}

func (s *Service) ifaceCount(ctx context.Context, c *Caller, a args) (any, error) {
	_, n, err := s.ifaces(c, a, false)
	return n, err
}

func (s *Service) ips(c *Caller, a args, paged bool) ([]any, int, error) {
	a.obj = ObjIP
	if err := a.atMost(1); err != nil {
		return nil, 0, err
	}
	sp, err := a.spec(0, "opts", true)
	if err != nil {
		return nil, 0, err
	}
	ids, err := sp.ints("id")
	if err != nil {
		return nil, 0, err
	}
	ifaces, err := sp.ints("iface_id")
	if err != nil {
		return nil, 0, err
	}
	dcs, err := sp.ints("datacenter_id")
	if err != nil {
		return nil, 0, err
	}
	var version int64
	if sp.has("version") {
		if version, err = parseIPVersion(ObjIP, sp.raw("version")); err != nil {
			return nil, 0, err
		}
	}
	ipStrs, err := sp.strs("ip")
	if err != nil {
		return nil, 0, err
	}
	state, err := sp.str("state", "", false)
	if err != nil {
		return nil, 0, err
	}
	perPage, pg := int64(1<<31), int64(0)
	if paged {
		if perPage, pg, err = sp.paging(); err != nil {
			return nil, 0, err
		}
	}
	sp.ignore("sort_by")
	if err := sp.done(); err != nil {
		return nil, 0, err
	}
	var out []any
	n := 0
	s.st.View(func(tx *store.Tx) {
		var hits []*store.IP
		tx.EachIP(func(ip *store.IP) bool {
			if c.owns(ip.AccountID) && (len(ids) == 0 || contains(ids, ip.ID)) && (len(ifaces) == 0 || contains(ifaces, ip.IfaceID)) &&
				(len(dcs) == 0 || contains(dcs, ip.DatacenterID)) && (version == 0 || version == ip.Version) &&
				(len(ipStrs) == 0 || contains(ipStrs, ip.Addr)) && (state == "" || state == ip.State) {
				hits = append(hits, ip)
			}
			return true
		})
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].ID < hits[j].ID })
		n = len(hits)
		for _, ip := range page(hits, perPage, pg) {
			out = append(out, renderIP(*ip))
		}
	})
	if out == nil {
		out = []any{}
	}
	return out, n, nil
}

func (s *Service) ipList(ctx context.Context, c *Caller, a args) (any, error) {
	out, _, err := s.ips(c, a, true)
	return out, err
}

func (s *Service) ipCount(ctx context.Context, c *Caller, a args) (any, error) {
	_, n, err := s.ips(c, a, false)
	return n, err
}

func (s *Service) ipInfo(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjIP
	id, err := a.int(0, "ip_id")
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	var out map[string]any
	s.st.View(func(tx *store.Tx) {
		ip, ok := tx.IP(id)
		if !ok || !c.owns(ip.AccountID) {
			err = notFound(ObjIP, "ip", id)
			return
		}
		out = renderIP(ip)
	})
	return out, err
}

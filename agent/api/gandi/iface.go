package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

func renderIP(ip service.IP) map[string]any {
	return map[string]any{
		"id": ip.ID, "ip": ip.Addr, "version": ip.Version, "iface_id": nullable(ip.IfaceID), "num": ip.Num,
		"state": ip.State, "reverse": ip.Reverse, "datacenter_id": ip.DatacenterID,
		"date_created": ip.DateCreated, "date_updated": ip.DateUpdated,
	}
}

// renderIface is IfaceReturn; an info call adds the addresses.
func renderIface(i service.Iface, withIPs bool) map[string]any {
	out := map[string]any{
		"id": i.ID, "bandwidth": renderBandwidth(i.Bandwidth), "datacenter_id": i.DatacenterID, "vm_id": nullable(i.VMID),
		"ips_id": append([]int64{}, i.IPIDs...), "num": i.Num, "state": i.State, "type": i.Type,
		"date_created": i.DateCreated, "date_updated": i.DateUpdated,
	}
	if withIPs {
		out["ips"] = renderAll(i.IPs, func(ip service.IP) any { return renderIP(ip) })
	}
	return out
}

func ifaceFilter(sp *spec) (f service.IfaceFilter, err error) {
	if f.IDs, err = sp.ints("id"); err != nil {
		return f, err
	}
	if f.VMIDs, err = sp.ints("vm_id"); err != nil {
		return f, err
	}
	if f.DatacenterIDs, err = sp.ints("datacenter_id"); err != nil {
		return f, err
	}
	if f.State, err = sp.str("state", "", false); err != nil {
		return f, err
	}
	f.Type, err = sp.str("type", "", false)
	return f, err
}

func (f *Face) ifaceList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.IfaceFilter
	p, err := listOptions(a, service.ObjIface, func(sp *spec) (err error) { filter, err = ifaceFilter(sp); return err })
	if err != nil {
		return nil, err
	}
	list, err := f.svc.Ifaces(c, filter, p)
	return renderAll(list, func(i service.Iface) any { return renderIface(i, false) }), err
}

func (f *Face) ifaceCount(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.IfaceFilter
	if err := countOptions(a, service.ObjIface, func(sp *spec) (err error) { filter, err = ifaceFilter(sp); return err }); err != nil {
		return nil, err
	}
	return f.svc.CountIfaces(c, filter), nil
}

// ifaceInfo adds to the seed's fields the iface's traffic since it was
// created, from the VM's point of view, across all its devices.
func (f *Face) ifaceInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "iface_id", service.ObjIface)
	if err != nil {
		return nil, err
	}
	i, err := f.svc.Iface(ctx, c, id)
	if err != nil {
		return nil, err
	}
	out := renderIface(i.Iface, true)
	withOwner(c, out, i.AccountID)
	t := i.Traffic
	out["traffic"] = map[string]any{"rx_bytes": int64(t.RxBytes), "tx_bytes": int64(t.TxBytes),
		"rx_packets": int64(t.RxPackets), "tx_packets": int64(t.TxPackets)}
	return out, nil
}

func (f *Face) ifaceCreate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjIface
	opts, err := callOptions(a, 1, "hosting.iface.create")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "iface_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.NewIface{Options: opts}
	if req.DatacenterID, err = sp.int("datacenter_id", 0, true); err != nil {
		return nil, err
	}
	if req.IPVersion, err = sp.intPtr("ip_version"); err != nil {
		return nil, err
	}
	if req.Bandwidth, err = bandwidth(sp); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.CreateIface(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

func (f *Face) ifaceDelete(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjIface
	id, err := a.int(0, "iface_id")
	if err != nil {
		return nil, err
	}
	opts, err := callOptions(a, 1, "hosting.iface.delete")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.DeleteIface(ctx, c, id, opts)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// ifaceUpdate changes an iface's bandwidth, the one field iface_spec has.
func (f *Face) ifaceUpdate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjIface
	id, err := a.int(0, "iface_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "iface_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.IfaceUpdate{ID: id}
	if req.Options, err = callOptions(a, 2, "hosting.iface.update"); err != nil {
		return nil, err
	}
	if req.Bandwidth, err = bandwidth(sp); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.UpdateIface(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

func ipFilter(sp *spec) (f service.IPFilter, err error) {
	if f.IDs, err = sp.ints("id"); err != nil {
		return f, err
	}
	if f.IfaceIDs, err = sp.ints("iface_id"); err != nil {
		return f, err
	}
	if f.DatacenterIDs, err = sp.ints("datacenter_id"); err != nil {
		return f, err
	}
	if f.Version, err = sp.intPtr("version"); err != nil {
		return f, err
	}
	if f.Addrs, err = sp.strs("ip"); err != nil {
		return f, err
	}
	f.State, err = sp.str("state", "", false)
	return f, err
}

func (f *Face) ipList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.IPFilter
	p, err := listOptions(a, service.ObjIP, func(sp *spec) (err error) { filter, err = ipFilter(sp); return err })
	if err != nil {
		return nil, err
	}
	list, err := f.svc.IPs(c, filter, p)
	return renderAll(list, func(ip service.IP) any { return renderIP(ip) }), err
}

func (f *Face) ipCount(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.IPFilter
	if err := countOptions(a, service.ObjIP, func(sp *spec) (err error) { filter, err = ipFilter(sp); return err }); err != nil {
		return nil, err
	}
	return f.svc.CountIPs(c, filter)
}

func (f *Face) ipInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "ip_id", service.ObjIP)
	if err != nil {
		return nil, err
	}
	ip, err := f.svc.IP(c, id)
	if err != nil {
		return nil, err
	}
	return renderIP(ip), nil
}

// ipUpdate changes an address's reverse name, the one field ip_spec has.
func (f *Face) ipUpdate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjIP
	id, err := a.int(0, "ip_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "ip_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.IPUpdate{ID: id}
	if req.Options, err = callOptions(a, 2, "hosting.ip.update"); err != nil {
		return nil, err
	}
	if req.Reverse, err = sp.strPtr("reverse"); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.UpdateIP(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

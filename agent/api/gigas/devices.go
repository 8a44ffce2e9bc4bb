package gigas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
)

// vmInfo reads the path's VM with its disks and ifaces.
func (s *Server) vmInfo(k *call) (service.VMInfo, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return service.VMInfo{}, err
	}
	info, err := s.svc.VM(k.c, id)
	return info, svcErr(err, vmRename)
}

// noQuery refuses query parameters on a call that takes none, and those
// outside allowed on one that does.
func noQuery(k *call, allowed ...string) error {
	for key := range k.r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || a == key
		}
		if !ok {
			return invalid(key, "unknown filter for this call")
		}
	}
	return nil
}

func gb(mb int64) float64 { return float64(mb) / 1024 }

func (s *Server) listDisks(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k); err != nil {
		return 0, nil, err
	}
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	for i, d := range info.Disks {
		out = append(out, map[string]any{
			"id": strconv.FormatInt(d.ID, 10), "virtual_machine_id": strconv.FormatInt(info.ID, 10), "label": d.Name,
			"size": gb(d.SizeMB), "primary": i == 0, "position": i, "status": d.State,
			"created_at": date(d.DateCreated), "updated_at": date(d.DateUpdated),
		})
	}
	return http.StatusOK, out, nil
}

// HostNetworkID is the id of the host's one network, the public one
// its interfaces are on: network_id in what the face shows, and the only
// one a call may name.
const HostNetworkID = "1"

// hostNetwork refuses a network other than the host's.
func hostNetwork(b *body, field string) error {
	n, err := b.int(field)
	if err != nil || n == nil {
		return err
	}
	if strconv.FormatInt(*n, 10) != HostNetworkID {
		return notFound(field, fmt.Sprintf("this host has one network, %s, not %d (networks across hosts are a central tier's)", HostNetworkID, *n))
	}
	return nil
}

// rateOf is an iface's bandwidth as rate_limit, Mb/s, 0 unlimited.
func rateOf(bw float64) float64 { return bw / 1e6 }

func ifaceResource(vmID int64, i service.Iface) map[string]any {
	addrs := []string{}
	for _, ip := range i.IPs {
		addrs = append(addrs, ip.Addr)
	}
	return map[string]any{
		"id": strconv.FormatInt(i.ID, 10), "virtual_machine_id": strconv.FormatInt(vmID, 10),
		"label": "eth" + strconv.FormatInt(i.Num, 10), "network_id": HostNetworkID, "public": true, "primary": i.Num == 0,
		"rate_limit": rateOf(i.Bandwidth), "ip_addresses": addrs, "status": i.State,
		"created_at": date(i.DateCreated), "updated_at": date(i.DateUpdated),
	}
}

func (s *Server) listIfaces(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k, "interface_label", "network_id", "public"); err != nil {
		return 0, nil, err
	}
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	q := k.r.URL.Query()
	out := []map[string]any{}
	for _, i := range info.Ifaces {
		res := ifaceResource(info.ID, i)
		if l := q.Get("interface_label"); l != "" && res["label"] != l {
			continue
		}
		if n := q.Get("network_id"); n != "" && n != HostNetworkID {
			continue
		}
		if p := q.Get("public"); p != "" && strings.ToLower(p) != "true" && p != "1" {
			continue
		}
		out = append(out, res)
	}
	return http.StatusOK, out, nil
}

// addIface adds an interface to the VM: a new one with one address
// (rate_limit in Mb/s, 0 unlimited; the network's default when absent),
// or, with network_interface_id, a free interface of the account. The
// host has one network, a public one, and the document answers 412 to a
// new interface on a public network the VM already has one on: so only
// a VM without an interface gets one (its first, hence its primary:
// primary is read and changes nothing). An offline VM's answer is the
// document's 201 (ifaceAdded), a running VM's 202 with the operations
// (the interface is hot-plugged).
func (s *Server) addIface(ctx context.Context, k *call) (int, any, error) {
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	id := info.ID
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	if err := hostNetwork(b, "network_id"); err != nil {
		return 0, nil, err
	}
	b.ignore("label") // an interface's label is its position, eth<N>
	if _, err := b.bool("primary"); err != nil {
		return 0, nil, err
	}
	bw, err := rateLimit(b)
	if err != nil {
		return 0, nil, err
	}
	iid, err := b.int("network_interface_id")
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	// Sole: the service refuses a VM with an interface in the call's
	// transaction (after a retry's idempotency key is answered).
	if iid != nil {
		if bw != nil {
			return 0, nil, invalid("rate_limit", "is given when an interface is created, not with network_interface_id")
		}
		op, err := s.svc.AttachIface(ctx, k.c, service.IfaceAttach{VMID: id, IfaceID: *iid, Sole: true, Options: k.opts(0)})
		if err != nil {
			return 0, nil, addIfaceErr(id, err)
		}
		return s.ifaceAdded(k, info, []service.Operation{op})
	}
	ops, err := s.svc.AddIface(ctx, k.c, id, service.NewIface{Bandwidth: bw, Sole: true, Options: k.opts(0)})
	if err != nil {
		return 0, nil, addIfaceErr(id, err)
	}
	return s.ifaceAdded(k, info, ops)
}

// addIfaceErr maps a refusal of network_interface: the VM's interface
// already there is the document's 412.
func addIfaceErr(vmID int64, err error) error {
	if service.Classify(err).HasIface {
		return &apiError{Status: http.StatusPreconditionFailed, Code: CodePrecondition,
			Msg: fmt.Sprintf("network_id: virtual machine %d has an interface on public network %s already; a VM has one interface per public network", vmID, HostNetworkID)}
	}
	return svcErr(err, map[string]string{"iface_id": "network_interface_id", "vm_id": "virtual_machine_id", "bandwidth": "rate_limit"})
}

// ifaceAdded answers an interface added to the VM info was read as. The
// document answers 201 with the interface resource when the VM is
// offline: here the interface's record exists once the call returns and
// what is left (its device on the bridge, the VM's definition again) is
// quick work with nothing to wait for in the guest, so an offline VM's
// answer is 201 with the interface as it is now, at the position it
// takes (the last), and the operations that finish it (poll them before
// starting the VM); no Location, the interface has no URL of its own. A
// running VM's gets 202.
func (s *Server) ifaceAdded(k *call, info service.VMInfo, ops []service.Operation) (int, any, error) {
	if status, _ := statusOf(info.PowerState); status != "offline" {
		return accepted(k, ops, nil)
	}
	var ifaceID int64
	for _, o := range ops {
		if o.Type == "iface_attach" {
			ifaceID = o.IfaceID
		}
	}
	list, err := s.svc.Ifaces(k.c, service.IfaceFilter{IDs: []int64{ifaceID}}, service.Page{PerPage: 1})
	if err != nil || len(list) == 0 {
		return accepted(k, ops, nil) // gone already (deleted meanwhile): the operations say what happened
	}
	i := list[0]
	i.Num = int64(len(info.IfaceIDs)) // where the attach puts it
	for n, id := range info.IfaceIDs {
		if id == i.ID { // a retry's: attached already
			i.Num = int64(n)
		}
	}
	_, out, err := accepted(k, ops, ifaceResource(info.ID, i))
	k.w.Header().Del("Location")
	return http.StatusCreated, out, err
}

func (s *Server) listIPs(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k, "network_id", "interface_id", "public"); err != nil {
		return 0, nil, err
	}
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	q := k.r.URL.Query()
	out := []map[string]any{}
	for _, i := range info.Ifaces {
		if f := q.Get("interface_id"); f != "" && f != strconv.FormatInt(i.ID, 10) {
			continue
		}
		if n := q.Get("network_id"); n != "" && n != HostNetworkID {
			continue
		}
		if p := q.Get("public"); p != "" && strings.ToLower(p) != "true" && p != "1" {
			continue
		}
		for _, ip := range i.IPs {
			out = append(out, map[string]any{
				"id": strconv.FormatInt(ip.ID, 10), "address": ip.Addr, "version": ip.Version,
				"interface_id": strconv.FormatInt(i.ID, 10), "virtual_machine_id": strconv.FormatInt(info.ID, 10),
				"network_id": HostNetworkID, "public": true, "reverse": nullIfEmpty(ip.Reverse), "status": ip.State,
				"created_at": date(ip.DateCreated), "updated_at": date(ip.DateUpdated),
			})
		}
	}
	return http.StatusOK, out, nil
}

// portText is a rule's port range as the document's filter reads it.
func portText(r service.FirewallRule) any {
	switch {
	case r.PortMin == 0:
		return nil
	case r.PortMax == 0 || r.PortMax == r.PortMin:
		return strconv.Itoa(r.PortMin)
	}
	return fmt.Sprintf("%d-%d", r.PortMin, r.PortMax)
}

func (s *Server) listFirewallRules(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k, "command", "port", "address"); err != nil {
		return 0, nil, err
	}
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	q := k.r.URL.Query()
	out := []map[string]any{}
	for _, i := range info.Ifaces {
		fw, err := s.svc.Firewall(k.c, i.ID)
		if err != nil {
			return 0, nil, svcErr(err, nil)
		}
		for n, r := range fw.Rules {
			res := map[string]any{
				"interface_id": strconv.FormatInt(i.ID, 10), "position": n, "policy": fw.Policy,
				"command": r.Action, "protocol": r.Protocol, "port": portText(r), "address": nullIfEmpty(r.Source),
			}
			if c := q.Get("command"); c != "" && c != r.Action {
				continue
			}
			if p := q.Get("port"); p != "" && fmt.Sprint(res["port"]) != p {
				continue
			}
			if a := q.Get("address"); a != "" && a != r.Source {
				continue
			}
			out = append(out, res)
		}
	}
	return http.StatusOK, out, nil
}

// ruleKeys are the keys of a rule as apply_firewall_rules takes it, the
// document's firewall_rules filters: not the XML-RPC face's action,
// port_min, port_max and source.
var ruleKeys = []string{"command", "protocol", "port", "address"}

// ruleFields maps the service's names for a rule's fields onto this
// document's, in the refusals the service words.
var ruleFields = map[string]string{"action": "command", "port_min": "port", "port_max": "port", "source": "address", "protocol": "protocol"}

var ruleFieldRE = regexp.MustCompile(`^rules\[([0-9]+)\]\.([a-z_]+):`)

// ruleErr renames the rule field a service refusal starts with.
func ruleErr(err error) error {
	e := asError(err, map[string]string{"iface_id": "interface_id"})
	if m := ruleFieldRE.FindStringSubmatchIndex(e.Msg); m != nil {
		if to, ok := ruleFields[e.Msg[m[4]:m[5]]]; ok {
			e.Msg = e.Msg[:m[4]] + to + e.Msg[m[5]:]
		}
	}
	return e
}

// parseRule reads rule n: its keys are ruleKeys (another is refused,
// naming it), command a string, protocol a string (default all), port
// a port or a range lo-hi (1-65535), address a source address or CIDR.
func parseRule(n int, raw json.RawMessage) (service.FirewallRule, error) {
	at := fmt.Sprintf("rules[%d]", n)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return service.FirewallRule{}, invalid(at, "must be an object {command, protocol, port, address}")
	}
	var extra []string
	for k := range m {
		if !slices.Contains(ruleKeys, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return service.FirewallRule{}, invalid(at+"."+extra[0], "unknown key in a rule (a rule is {command, protocol, port, address})"+others(extra[1:]))
	}
	str := func(key string) (string, error) {
		v, ok := m[key]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", invalid(at+"."+key, "must be a string")
		}
		return s, nil
	}
	var r service.FirewallRule
	var err error
	if r.Action, err = str("command"); err != nil {
		return r, err
	}
	if r.Action == "" {
		return r, missing(at + ".command")
	}
	if r.Protocol, err = str("protocol"); err != nil {
		return r, err
	}
	if r.Protocol == "" {
		r.Protocol = "all"
	}
	if r.Source, err = str("address"); err != nil {
		return r, err
	}
	r.PortMin, r.PortMax, err = parsePort(at+".port", m["port"])
	return r, err
}

func parsePort(field string, raw json.RawMessage) (lo, hi int, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	bad := invalid(field, fmt.Sprintf("must be a port or a range lo-hi, from 1 to 65535 with lo <= hi, got %q", s))
	a, b, ranged := strings.Cut(strings.TrimSpace(s), "-")
	if lo, err = strconv.Atoi(a); err != nil || lo < 1 || lo > 65535 {
		return 0, 0, bad
	}
	if ranged {
		if hi, err = strconv.Atoi(b); err != nil || hi < lo || hi > 65535 {
			return 0, 0, bad
		}
	}
	return lo, hi, nil
}

// applyFirewallRules applies an interface's firewall (the document's
// POST takes no fields: it applies what a central tier edited). Here it
// takes the rules themselves (an extension, in the OpenAPI document):
// interface_id (default the VM's first), policy (accept or drop, default
// the current one) and rules [{command, protocol, port, address}]; with
// no rules it applies the interface's current firewall again.
func (s *Server) applyFirewallRules(ctx context.Context, k *call) (int, any, error) {
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	iid, err := b.int("interface_id")
	if err != nil {
		return 0, nil, err
	}
	policy, err := b.str("policy")
	if err != nil {
		return 0, nil, err
	}
	rawRules, hasRules := b.raw("rules")
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	var iface int64
	for _, i := range info.Ifaces {
		if iid == nil || *iid == i.ID {
			iface = i.ID
			break
		}
	}
	if iface == 0 {
		if iid != nil {
			return 0, nil, notFound("interface_id", fmt.Sprintf("interface %d is not the VM's", *iid))
		}
		return 0, nil, &apiError{Status: http.StatusConflict, Code: CodeConflict, Msg: "interface_id: the VM has no network interface"}
	}
	fw, err := s.svc.Firewall(k.c, iface)
	if err != nil {
		return 0, nil, svcErr(err, nil)
	}
	if policy != nil {
		fw.Policy = *policy
	}
	if hasRules {
		var in []json.RawMessage
		if err := json.Unmarshal(rawRules, &in); err != nil {
			return 0, nil, invalid("rules", "must be a list of {command, protocol, port, address}")
		}
		fw.Rules = make([]service.FirewallRule, len(in))
		for n, raw := range in {
			if fw.Rules[n], err = parseRule(n, raw); err != nil {
				return 0, nil, err
			}
		}
	}
	op, err := s.svc.SetFirewall(ctx, k.c, iface, fw, k.opts(0))
	if err != nil {
		return 0, nil, ruleErr(err)
	}
	return accepted(k, []service.Operation{op}, nil)
}

func (s *Server) listISOs(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k); err != nil {
		return 0, nil, err
	}
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	if info.ISOID != 0 {
		res := map[string]any{"id": strconv.FormatInt(info.ISOID, 10), "iso_id": strconv.FormatInt(info.ISOID, 10),
			"virtual_machine_id": strconv.FormatInt(info.ID, 10), "label": nil, "boot_type": info.BootType}
		if isos := s.svc.ISOs(service.ISOFilter{IDs: []int64{info.ISOID}}); len(isos) > 0 {
			res["label"] = isos[0].Label
		}
		out = append(out, res)
	}
	return http.StatusOK, out, nil
}

// mountISO attaches a registered ISO (iso_id); a VM has one CD-ROM, so
// the iso join's id is the ISO's.
func (s *Server) mountISO(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	if err := notHere(b, "iso_url", "ISOs are registered by the operator on this host (iso_id); fetching a URL belongs to a central tier's catalogue"); err != nil {
		return 0, nil, err
	}
	iso, err := b.int("iso_id")
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	if iso == nil {
		return 0, nil, missing("iso_id")
	}
	op, err := s.svc.AttachISO(ctx, k.c, service.ISOAttach{VMID: id, ISOID: *iso, Options: k.opts(0)})
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return accepted(k, []service.Operation{op}, map[string]any{"id": strconv.FormatInt(*iso, 10)})
}

func (s *Server) unmountISO(ctx context.Context, k *call) (int, any, error) {
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	join, err := k.id("iso_join_id")
	if err != nil {
		return 0, nil, err
	}
	if info.ISOID == 0 || info.ISOID != join {
		return 0, nil, notFound("iso_join_id", fmt.Sprintf("ISO %d is not mounted in virtual machine %d", join, info.ID))
	}
	op, err := s.svc.DetachISO(ctx, k.c, service.ISODetach{VMID: info.ID, Options: k.opts(0)})
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return accepted(k, []service.Operation{op}, nil)
}

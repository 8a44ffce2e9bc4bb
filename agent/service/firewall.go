package service

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// MaxFirewallRules bounds an iface's firewall rules: every packet to the
// VM walks them (host.MaxFirewallRules, which the wiring enforces too).
const MaxFirewallRules = 64

// Firewall is an iface's inbound firewall: the rules in order, the first
// that matches a packet decides, then the policy. Rules see only IP
// traffic to the VM, and the filter is stateless: replies to the VM's
// own TCP connections and pings, ICMP errors, IPv6 neighbour discovery,
// DHCP replies and fragments but the first (which met the rules) always
// pass; with a drop policy, UDP replies (DNS answers) need a rule
// accepting their source.
type Firewall struct {
	Policy string // "accept" or "drop"
	Rules  []FirewallRule
}

// FirewallRule matches inbound IP traffic; an empty field matches any.
type FirewallRule struct {
	Protocol string // "tcp", "udp", "icmp" or "all"
	// PortMin..PortMax is the destination port range, tcp or udp only;
	// 0, 0 is any port, and PortMax 0 with PortMin set is PortMin alone.
	PortMin, PortMax int
	// Source is the sender's network (CIDR) or address; a source limits
	// the rule to its address family.
	Source string
	Action string // "accept" or "drop"
}

// Firewall is an iface's firewall; one without any is the accept policy
// with no rules.
func (s *Service) Firewall(c *Caller, ifaceID int64) (Firewall, error) {
	out := Firewall{Policy: store.FirewallAccept, Rules: []FirewallRule{}}
	var err error
	s.st.View(func(tx *store.Tx) {
		var i store.Iface
		if i, err = ifaceFor(tx, c, ifaceID); err != nil || i.Firewall == nil {
			return
		}
		out.Policy = i.Firewall.Policy
		for _, r := range i.Firewall.Rules {
			out.Rules = append(out.Rules, FirewallRule{Protocol: r.Protocol, PortMin: r.PortMin, PortMax: r.PortMax, Source: r.Source, Action: r.Action})
		}
	})
	return out, err
}

// SetFirewall replaces an iface's firewall, as an operation: the record
// first, then, if the iface's VM runs, its rules in place with the
// anti-spoofing filter in one change. The rules stay with the iface:
// every later start of its VM (a Xen vif under a new name) gets them.
// The accept policy without rules removes the firewall.
func (s *Service) SetFirewall(ctx context.Context, c *Caller, ifaceID int64, fw Firewall, opts CallOptions) (Operation, error) {
	o, err := s.checkOptions(c, opts, ObjIface)
	if err != nil {
		return Operation{}, err
	}
	stored, err := checkFirewall(fw)
	if err != nil {
		return Operation{}, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		i, err := ifaceFor(tx, c, ifaceID)
		return i.AccountID, err
	}
	return s.submitOneOf(c, o, owner, func(tx *store.Tx) (opSpec, error) {
		i, _ := tx.Iface(ifaceID)
		if i.State == store.IfaceBeingCreated || s.deleting(tx, workflow.IfaceKey(ifaceID)) {
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is %s", ifaceID, i.State)
		}
		params := map[string]string{"policy": store.FirewallAccept, "rules": "0"}
		if stored != nil {
			params["policy"], params["rules"] = stored.Policy, strconv.Itoa(len(stored.Rules))
		}
		return opSpec{typ: "iface_firewall", ifaceID: ifaceID, vmID: i.VMID, keys: []string{workflow.IfaceKey(ifaceID)}, eta: 2,
			params: params, input: workflow.IfaceFirewall{Firewall: stored}}, nil
	})
}

// checkFirewall refuses a firewall the wiring cannot apply, with a fault
// naming the field and the rule, and returns it as stored: nil for none.
func checkFirewall(fw Firewall) (*store.Firewall, error) {
	policy := strings.ToLower(fw.Policy)
	switch policy {
	case "":
		return nil, Missing(ObjIface, "policy")
	case store.FirewallAccept, store.FirewallDrop:
	default:
		return nil, Invalid(ObjIface, "policy", "%q is not accept or drop", fw.Policy)
	}
	if len(fw.Rules) > MaxFirewallRules {
		return nil, Invalid(ObjIface, "rules", "%d rules, at most %d", len(fw.Rules), MaxFirewallRules)
	}
	if policy == store.FirewallAccept && len(fw.Rules) == 0 {
		return nil, nil
	}
	out := &store.Firewall{Policy: policy, Rules: make([]store.FirewallRule, 0, len(fw.Rules))}
	for n, r := range fw.Rules {
		sr, err := checkRule(fmt.Sprintf("rules[%d].", n), r)
		if err != nil {
			return nil, err
		}
		out.Rules = append(out.Rules, sr)
	}
	return out, nil
}

func checkRule(field string, r FirewallRule) (store.FirewallRule, error) {
	out := store.FirewallRule{Protocol: strings.ToLower(r.Protocol), Action: strings.ToLower(r.Action), PortMin: r.PortMin, PortMax: r.PortMax}
	switch out.Protocol {
	case "":
		return out, Missing(ObjIface, field+"protocol")
	case "tcp", "udp", "icmp", "all":
	default:
		return out, Invalid(ObjIface, field+"protocol", "%q is not tcp, udp, icmp or all", r.Protocol)
	}
	switch out.Action {
	case "":
		return out, Missing(ObjIface, field+"action")
	case store.FirewallAccept, store.FirewallDrop:
	default:
		return out, Invalid(ObjIface, field+"action", "%q is not accept or drop", r.Action)
	}
	if out.PortMin != 0 && out.PortMax == 0 {
		out.PortMax = out.PortMin
	}
	if out.PortMin != 0 || out.PortMax != 0 {
		if out.Protocol != "tcp" && out.Protocol != "udp" {
			return out, Invalid(ObjIface, field+"port_min", "ports need protocol tcp or udp, not %s", out.Protocol)
		}
		if out.PortMin < 1 || out.PortMin > 65535 {
			return out, Invalid(ObjIface, field+"port_min", "%d is not a port (1-65535)", out.PortMin)
		}
		if out.PortMax < out.PortMin || out.PortMax > 65535 {
			return out, Invalid(ObjIface, field+"port_max", "%d is not a port from port_min (%d) to 65535", out.PortMax, out.PortMin)
		}
	}
	if r.Source != "" {
		src, err := parseSource(r.Source)
		if err != nil {
			return out, Invalid(ObjIface, field+"source", "%s", err)
		}
		out.Source = src.String()
	}
	return out, nil
}

// parseSource takes a network or a single address (a /32 or /128).
func parseSource(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 or IPv6 address or network (CIDR)", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		return p, fmt.Errorf("%q is not an IPv4 or IPv6 network (CIDR)", s)
	}
	if p != p.Masked() {
		return p, fmt.Errorf("%q has host bits set: the network is %s", s, p.Masked())
	}
	return p, nil
}

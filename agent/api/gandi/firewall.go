package gandi

import (
	"context"
	"errors"
	"fmt"

	"github.com/xenagent/xenagent/agent/service"
)

// ifaceFirewallRules is the extension hosting.iface.firewall_rules(apikey,
// iface_id) → {policy, rules}: an iface's inbound firewall, as
// firewall_apply set it ({policy: "accept", rules: []} when none). Each
// rule is {protocol, action} with, when set, port_min, port_max and
// source.
func (f *Face) ifaceFirewallRules(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjIface
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "iface_id", service.ObjIface)
	if err != nil {
		return nil, err
	}
	fw, err := f.svc.Firewall(c, id)
	if err != nil {
		return nil, err
	}
	rules := make([]any, 0, len(fw.Rules))
	for _, r := range fw.Rules {
		m := map[string]any{"protocol": r.Protocol, "action": r.Action}
		if r.PortMin != 0 {
			m["port_min"], m["port_max"] = int64(r.PortMin), int64(r.PortMax)
		}
		if r.Source != "" {
			m["source"] = r.Source
		}
		rules = append(rules, m)
	}
	return map[string]any{"policy": fw.Policy, "rules": rules}, nil
}

// ifaceFirewallApply is the extension hosting.iface.firewall_apply(apikey,
// iface_id, {policy, rules}[, call_options]) → operation (iface_firewall):
// replaces the iface's inbound firewall, in place at once on its running
// VM, and kept for its next starts. rules is an array of {protocol:
// tcp|udp|icmp|all, action: accept|drop, port_min, port_max (tcp and udp;
// port_max defaults to port_min), source (a CIDR or an address)}, at
// most 64, the first match deciding; policy (accept|drop) decides the
// rest. {policy: "accept", rules: []} removes the firewall.
func (f *Face) ifaceFirewallApply(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjIface
	id, err := a.int(0, "iface_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "firewall", false)
	if err != nil {
		return nil, err
	}
	opts, err := callOptions(a, 2, "hosting.iface.firewall_apply")
	if err != nil {
		return nil, err
	}
	var fw service.Firewall
	if fw.Policy, err = sp.str("policy", "", true); err != nil {
		return nil, err
	}
	raw, _, err := sp.val("rules")
	if err != nil {
		return nil, err
	}
	list, ok := raw.([]any)
	if raw != nil && !ok {
		return nil, wrongType(service.ObjIface, "rules", "an array", raw)
	}
	if len(list) > service.MaxFirewallRules {
		return nil, service.Invalid(service.ObjIface, "rules", "%d rules, at most %d", len(list), service.MaxFirewallRules)
	}
	for n, v := range list {
		r, err := firewallRule(n, v)
		if err != nil {
			return nil, err
		}
		fw.Rules = append(fw.Rules, r)
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	op, err := f.svc.SetFirewall(ctx, c, id, fw, opts)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// firewallRule reads rules[n]; its faults name the rule and the field.
func firewallRule(n int, v any) (service.FirewallRule, error) {
	var r service.FirewallRule
	name := fmt.Sprintf("rules[%d]", n)
	m, ok := v.(map[string]any)
	if !ok {
		return r, wrongType(service.ObjIface, name, "a struct", v)
	}
	sp := &spec{obj: service.ObjIface, name: name, m: m, used: map[string]bool{}}
	err := func() (err error) {
		if r.Protocol, err = sp.str("protocol", "", true); err != nil {
			return err
		}
		if r.Action, err = sp.str("action", "", true); err != nil {
			return err
		}
		if r.Source, err = sp.str("source", "", false); err != nil {
			return err
		}
		for key, dst := range map[string]*int{"port_min": &r.PortMin, "port_max": &r.PortMax} {
			p, err := sp.int(key, 0, false)
			if err != nil {
				return err
			}
			if p < 0 || p > 65535 {
				return service.Invalid(service.ObjIface, key, "%d is not a port (1-65535)", p)
			}
			*dst = int(p)
		}
		return nil
	}()
	var e *service.Error
	if errors.As(err, &e) {
		return r, service.Errorf(e.Object, e.Kind, "%s.%s", name, e.Msg)
	}
	if err != nil {
		return r, err
	}
	return r, sp.done()
}

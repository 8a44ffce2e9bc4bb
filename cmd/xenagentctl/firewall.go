package main

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// iface firewall: an iface's inbound firewall, shown or replaced, over the
// extensions hosting.iface.firewall_rules and hosting.iface.firewall_apply.

func init() { register(ifaceVerb) }

var ifaceVerb = &verb{
	name:    "iface",
	summary: "iface firewall ID [-policy drop|accept [-rule RULE]... | -clear] [-wait]\niface migrate ID -to URL -to-key-file FILE [-same-network auto|yes|no] [-account N] [-wait]",
	help: `usage: xenagentctl iface firewall ID
       xenagentctl iface firewall ID -policy drop|accept [-rule RULE]... [-wait]
       xenagentctl iface firewall ID -clear [-wait]
       xenagentctl iface migrate ID -to URL -to-key-file FILE [-same-network auto|yes|no] [-account N] [-wait]

firewall ID prints the iface's inbound firewall: "policy: P", then one
"rule: ..." line a rule, written as -rule takes it, or JSON with -o json.
With -policy it replaces the firewall with the -rule flags, in their
order (the first match decides, then the policy; at most 64), and prints
the operation it queued (iface_firewall: in place at once on a running
VM). A RULE is PROTOCOL [PORT or PORT-PORT] [SOURCE] ACTION: PROTOCOL tcp,
udp, icmp or all, a port or range for tcp and udp only, SOURCE a network
(10.0.0.0/8, 2001:db8::/32) or an address, ACTION accept or drop. -clear
removes the firewall (policy accept, no rules). The firewall is stateless:
replies to the VM's own connections pass, but with -policy drop UDP
replies (DNS answers) need a rule accepting their source. -wait shows the
operation's progress until it ends.
migrate moves a detached iface (attached to no VM: an attached one moves
with its VM) to another agent, as vm migrate does (xenagentctl help vm):
the same id, MAC and bandwidth, its address kept on the same network.

examples:
  xenagentctl iface firewall 7
  xenagentctl iface firewall 7 -policy drop -rule 'tcp 22 10.0.0.0/8 accept' -rule 'tcp 80-443 accept' -rule 'icmp accept' -wait
  xenagentctl iface firewall 7 -clear
  xenagentctl iface migrate 7 -to https://host2:8443 -to-key-file /root/host2.key -account 3
`,
	run: func(ctx context.Context, e *env, args []string) error {
		return dispatch(ctx, e, "iface", args, map[string]func(context.Context, *env, []string) error{
			"firewall": ifaceFirewallCmd,
			"migrate":  migrateCmd("iface"), // migrate.go
		}, []string{"firewall", "migrate"})
	},
}

// ifaceFirewallCmd shows the firewall, or with -policy or -clear
// replaces it.
func ifaceFirewallCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("iface firewall")
	wait := fs.Bool("wait", false, "wait until the operation ends")
	policy := fs.String("policy", "", "drop or accept: what the rules do not match")
	remove := fs.Bool("clear", false, "remove the firewall")
	var rules []any
	fs.Func("rule", "PROTOCOL [PORT[-PORT]] [SOURCE] ACTION, repeated", func(s string) error {
		r, err := parseRule(s)
		if err != nil {
			return err
		}
		rules = append(rules, r)
		return nil
	})
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID(words)
	if err != nil {
		return err
	}
	switch {
	case *remove && (*policy != "" || rules != nil):
		return &usageError{"iface firewall: -clear removes the firewall: give it alone, not with -policy or -rule"}
	case *remove:
		*policy, rules = "accept", []any{}
	case rules != nil && *policy == "":
		return &usageError{"iface firewall: -rule needs -policy drop|accept: what the rules do not match"}
	case *policy == "":
		if *wait {
			return &usageError{"iface firewall: -wait follows a change: give -policy or -clear"}
		}
		return showFirewall(ctx, e, id)
	case *policy != "drop" && *policy != "accept":
		return &usageError{fmt.Sprintf("iface firewall: -policy %q: must be drop or accept", *policy)}
	}
	if rules == nil {
		rules = []any{}
	}
	v, err := e.c.call(ctx, "hosting.iface.firewall_apply", id, map[string]any{"policy": *policy, "rules": rules})
	if err != nil {
		return err
	}
	return e.operations(ctx, v, *wait)
}

func showFirewall(ctx context.Context, e *env, id int64) error {
	v, err := e.c.call(ctx, "hosting.iface.firewall_rules", id)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if e.json || !ok {
		return printJSON(e.out, v)
	}
	fmt.Fprintf(e.out, "policy: %v\n", m["policy"])
	rules, _ := m["rules"].([]any)
	if len(rules) == 0 {
		fmt.Fprintln(e.out, "rules: none")
	}
	for _, r := range rules {
		fmt.Fprintf(e.out, "rule: %s\n", formatRule(r))
	}
	return nil
}

// parseRule reads a -rule: PROTOCOL [PORT[-PORT]] [SOURCE] ACTION, as
// firewall_apply's rule struct.
func parseRule(s string) (map[string]any, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 4 {
		return nil, fmt.Errorf("%q: a rule is PROTOCOL [PORT[-PORT]] [SOURCE] ACTION", s)
	}
	r := map[string]any{"protocol": f[0], "action": f[len(f)-1]}
	switch f[0] {
	case "tcp", "udp", "icmp", "all":
	default:
		return nil, fmt.Errorf("%q: protocol %q: must be tcp, udp, icmp or all", s, f[0])
	}
	if a := f[len(f)-1]; a != "accept" && a != "drop" {
		return nil, fmt.Errorf("%q: action %q: must be accept or drop (the last word)", s, a)
	}
	for _, w := range f[1 : len(f)-1] {
		if w[0] >= '0' && w[0] <= '9' && !strings.ContainsAny(w, ".:/") {
			if _, dup := r["port_min"]; dup {
				return nil, fmt.Errorf("%q: two port ranges", s)
			}
			if f[0] != "tcp" && f[0] != "udp" {
				return nil, fmt.Errorf("%q: a port is for tcp and udp only", s)
			}
			lo, hi, _ := strings.Cut(w, "-")
			if hi == "" {
				hi = lo
			}
			first, err1 := strconv.ParseInt(lo, 10, 32)
			last, err2 := strconv.ParseInt(hi, 10, 32)
			if err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
				return nil, fmt.Errorf("%q: ports %q: must be a port or a range PORT-PORT, from 1 to 65535", s, w)
			}
			r["port_min"], r["port_max"] = first, last
			continue
		}
		if _, dup := r["source"]; dup {
			return nil, fmt.Errorf("%q: two sources", s)
		}
		if _, err := netip.ParsePrefix(w); err != nil {
			if _, err := netip.ParseAddr(w); err != nil {
				return nil, fmt.Errorf("%q: %q is neither a port range nor a source network or address", s, w)
			}
		}
		r["source"] = w
	}
	return r, nil
}

// formatRule writes a rule of firewall_rules as -rule takes it.
func formatRule(v any) string {
	m, _ := v.(map[string]any)
	parts := []string{fmt.Sprint(m["protocol"])}
	if lo, ok := m["port_min"]; ok {
		p := fmt.Sprint(lo)
		if hi := fmt.Sprint(m["port_max"]); hi != p {
			p += "-" + hi
		}
		parts = append(parts, p)
	}
	if s, ok := m["source"].(string); ok && s != "" {
		parts = append(parts, s)
	}
	return strings.Join(append(parts, fmt.Sprint(m["action"])), " ")
}

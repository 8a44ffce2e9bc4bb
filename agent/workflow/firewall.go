package workflow

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// IfaceFirewall is iface_firewall's input: the iface's new firewall, as
// the service checked it; nil removes it.
type IfaceFirewall struct {
	Firewall *store.Firewall `json:"firewall,omitempty"`
}

// registerFirewall: iface_firewall records the iface's firewall, then
// wires its VM again if it runs, which puts the rules in place with the
// anti-spoofing filter in one change. Both steps may run again after a
// crash: the record is atomic with its journal entry, wiring replaces
// what is there. The VM's later starts and renamed devices get the
// rules from the record (wireSpec), so they stay with the iface.
func (s *Workflows) registerFirewall() {
	s.eng.Register("iface_firewall", ops.Workflow{Steps: []ops.Step{
		{Name: "record", Do: recordFirewall, Atomic: true},
		{Name: "apply", Do: s.applyIfaceUpdate},
	}})
}

func recordFirewall(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[IfaceFirewall](r)
	if err != nil {
		return err
	}
	// A firewall that cannot be wired must fail here, before it is the
	// iface's and every wiring of its VM fails on it.
	if _, err := hostFirewall(in.Firewall); err != nil {
		return err
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		i, ok := tx.Iface(op.IfaceID)
		if !ok {
			return fmt.Errorf("iface %d has no record", op.IfaceID)
		}
		i.Firewall, i.DateUpdated = in.Firewall, now()
		tx.PutIface(i)
		return nil
	})
}

var protocols = map[string]host.Protocol{"all": host.ProtoAll, "tcp": host.ProtoTCP, "udp": host.ProtoUDP, "icmp": host.ProtoICMP}

// hostFirewall is a stored firewall as wiring takes it.
func hostFirewall(fw *store.Firewall) (*host.Firewall, error) {
	if fw == nil {
		return nil, nil
	}
	if fw.Policy != store.FirewallAccept && fw.Policy != store.FirewallDrop {
		return nil, fmt.Errorf("firewall policy %q is not accept or drop", fw.Policy)
	}
	if len(fw.Rules) > host.MaxFirewallRules {
		return nil, fmt.Errorf("firewall: %d rules, at most %d", len(fw.Rules), host.MaxFirewallRules)
	}
	out := &host.Firewall{DropByDefault: fw.Policy == store.FirewallDrop, Rules: make([]host.FirewallRule, 0, len(fw.Rules))}
	for n, r := range fw.Rules {
		p, ok := protocols[r.Protocol]
		if !ok {
			return nil, fmt.Errorf("firewall rule %d: protocol %q is not tcp, udp, icmp or all", n, r.Protocol)
		}
		if r.Action != store.FirewallAccept && r.Action != store.FirewallDrop {
			return nil, fmt.Errorf("firewall rule %d: action %q is not accept or drop", n, r.Action)
		}
		if r.PortMin < 0 || r.PortMax > 65535 || r.PortMin > r.PortMax {
			return nil, fmt.Errorf("firewall rule %d: ports %d-%d", n, r.PortMin, r.PortMax)
		}
		hr := host.FirewallRule{Protocol: p, PortMin: uint16(r.PortMin), PortMax: uint16(r.PortMax), Drop: r.Action == store.FirewallDrop}
		if r.Source != "" {
			src, err := netip.ParsePrefix(r.Source)
			if err != nil {
				return nil, fmt.Errorf("firewall rule %d: source: %w", n, err)
			}
			hr.Source = src
		}
		out.Rules = append(out.Rules, hr)
	}
	return out, nil
}

package store

import "slices"

// Firewall is an iface's inbound firewall: its rules in order, the
// first that matches decides, then the policy. The service checks it
// before it is stored; an iface without one (nil) lets everything in.
type Firewall struct {
	Policy string         `json:"policy"` // FirewallAccept or FirewallDrop
	Rules  []FirewallRule `json:"rules,omitempty"`
}

// FirewallRule matches inbound IP traffic; an empty field matches
// anything.
type FirewallRule struct {
	Protocol string `json:"protocol"` // tcp, udp, icmp or all
	// PortMin..PortMax: destination ports (tcp and udp); 0, 0 is any.
	PortMin int    `json:"port_min,omitempty"`
	PortMax int    `json:"port_max,omitempty"`
	Source  string `json:"source,omitempty"` // a network, CIDR; "" is any
	Action  string `json:"action"`           // FirewallAccept or FirewallDrop
}

// A firewall's policy and a rule's action.
const (
	FirewallAccept = "accept"
	FirewallDrop   = "drop"
)

// clone is a copy sharing nothing with fw, as a record read or written
// must be; nil stays nil.
func (fw *Firewall) clone() *Firewall {
	if fw == nil {
		return nil
	}
	c := *fw
	c.Rules = slices.Clone(fw.Rules)
	return &c
}

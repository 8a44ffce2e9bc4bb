package host

import "net/netip"

// Firewall filters what reaches a VM through one interface: its rules
// in order, the first that matches decides, then the policy. Wiring
// applies it with the interface's anti-spoofing filter, in the same
// change, and it stays with the filter across the interface's devices.
// Implementations may let through, before any rule, what a stateless
// filter needs for the VM's own traffic to work (replies to its TCP
// connections and pings, ICMP errors, IPv6 neighbour discovery, DHCP
// replies, fragments but the first) and frames that are not IP.
type Firewall struct {
	// DropByDefault drops what no rule matched; otherwise it passes.
	DropByDefault bool
	Rules         []FirewallRule
}

// FirewallRule matches inbound IP traffic; a field left zero matches
// anything.
type FirewallRule struct {
	Protocol Protocol
	// PortMin..PortMax is the destination port range, TCP or UDP only.
	PortMin, PortMax uint16
	// Source is the sender's network; a prefix limits the rule to its
	// address family.
	Source netip.Prefix
	Drop   bool
}

// Protocol is what a firewall rule matches above IP.
type Protocol uint8

// The protocols; ProtoICMP means ICMPv6 for IPv6 senders.
const (
	ProtoAll Protocol = iota
	ProtoTCP
	ProtoUDP
	ProtoICMP
)

// MaxFirewallRules bounds an interface's rules: every frame to the VM
// walks them.
const MaxFirewallRules = 64

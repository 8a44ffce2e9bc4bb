package antispoof

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The inbound firewall filters what reaches a VM: frames leaving the
// bridge through its backend device. The anti-spoofing chain cannot hold
// it (prerouting sees a frame before the bridge chose its port), so each
// interface has a second chain, in-N, that the postrouting base chain
// dispatches to by output device, through a second map kept beside the
// first: Apply changes both in its one transaction, and a rename moves
// both entries at once.
const (
	inBaseChain = "postrouting"
	inVifMap    = "tovifs"
	// MaxRules bounds an interface's rules: each is up to two kernel
	// rules (IPv4 and IPv6), walked in order by every frame to the VM.
	MaxRules = 64
)

// Proto is the transport protocol a rule matches.
type Proto uint8

// The protocols a rule can match; ProtoICMP is ICMP for IPv4 and
// ICMPv6 for IPv6.
const (
	ProtoAll Proto = iota
	ProtoTCP
	ProtoUDP
	ProtoICMP
)

// Rule matches inbound IP traffic; what it does not name matches
// anything.
type Rule struct {
	Proto Proto
	// PortMin..PortMax is the destination port range (TCP or UDP only);
	// 0, 0 is any port.
	PortMin, PortMax uint16
	// Source is the sender's network; the zero Prefix is any sender of
	// either family, a prefix limits the rule to its family.
	Source netip.Prefix
	Drop   bool
}

// Inbound is an interface's firewall: rules in order, the first match
// decides, then the policy. It is stateless (the kernels this runs on
// need not track bridged connections), so three kinds of traffic pass
// before any rule: TCP segments other than a connection request (a bare
// SYN), which are the replies to the VM's own connections, echo replies,
// ICMP errors, IPv6 neighbour discovery, DHCP replies, and fragments
// but the first (which carries the ports and meets the rules). With a drop policy,
// UDP replies (DNS answers, say) need a rule accepting their source.
// Non-IP frames (ARP) are not the firewall's business and always pass.
type Inbound struct {
	DropByDefault bool
	Rules         []Rule
}

// check refuses what the kernel rules cannot express.
func (in *Inbound) check() error {
	if in == nil {
		return nil
	}
	if len(in.Rules) > MaxRules {
		return fmt.Errorf("firewall: %d rules, at most %d", len(in.Rules), MaxRules)
	}
	for n, r := range in.Rules {
		if r.Proto > ProtoICMP {
			return fmt.Errorf("firewall rule %d: unknown protocol %d", n, r.Proto)
		}
		ports := r.PortMin != 0 || r.PortMax != 0
		if ports && (r.Proto != ProtoTCP && r.Proto != ProtoUDP) {
			return fmt.Errorf("firewall rule %d: ports need tcp or udp", n)
		}
		if ports && (r.PortMin == 0 || r.PortMin > r.PortMax) {
			return fmt.Errorf("firewall rule %d: port range %d-%d is not 1 <= min <= max", n, r.PortMin, r.PortMax)
		}
		if r.Source.IsValid() && (r.Source != r.Source.Masked() || r.Source.Addr().Is4In6()) {
			return fmt.Errorf("firewall rule %d: source %s is not a network address", n, r.Source)
		}
	}
	return nil
}

// family is what a rule needs to match one IP version.
type family struct {
	etherType    uint16
	srcOff, size uint32 // the source address in the network header
	icmp         byte
}

var (
	ipv4 = family{etherTypeIPv4, 12, 4, unix.IPPROTO_ICMP}
	ipv6 = family{etherTypeIPv6, 8, 16, icmpv6}
)

func rangeOf(from, to []byte) []expr.Any {
	if string(from) == string(to) {
		return []expr.Any{eq(from)}
	}
	return []expr.Any{&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: from, ToData: to}}
}

func port(p uint16) []byte { return binaryutil.BigEndian.PutUint16(p) }

// source matches the register's address against p.
func source(f family, p netip.Prefix) []expr.Any {
	if !p.IsValid() || p.Bits() == 0 {
		return nil
	}
	addr := p.Addr().AsSlice()
	out := []expr.Any{nh(f.srcOff, f.size)}
	if p.Bits() < int(f.size)*8 {
		mask := make([]byte, f.size)
		for i := range p.Bits() {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: f.size, Mask: mask, Xor: make([]byte, f.size)})
	}
	return append(out, eq(addr))
}

// userRule is rule r for one family, or nil if its source is of the
// other.
func userRule(f family, r Rule) []expr.Any {
	if r.Source.IsValid() && r.Source.Addr().Is4() != (f.etherType == etherTypeIPv4) {
		return nil
	}
	out := join(etherType(f.etherType), source(f, r.Source))
	switch r.Proto {
	case ProtoTCP:
		out = append(out, l4(unix.IPPROTO_TCP)...)
	case ProtoUDP:
		out = append(out, l4(unix.IPPROTO_UDP)...)
	case ProtoICMP:
		out = append(out, l4(f.icmp)...)
	}
	if r.PortMin != 0 {
		out = append(out, th(2, 2))
		out = append(out, rangeOf(port(r.PortMin), port(r.PortMax))...)
	}
	if r.Drop {
		return append(out, drop...)
	}
	return append(out, accept...)
}

// inboundRules is the in-N chain, in order; nil (no firewall) is an
// empty chain, which lets everything through.
func inboundRules(in *Inbound) [][]expr.Any {
	if in == nil {
		return nil
	}
	const tcpFlags, syn, ack = 13, 0x02, 0x10
	out := [][]expr.Any{
		// TCP but a connection request: replies to the VM's connections.
		join(l4(unix.IPPROTO_TCP), []expr.Any{th(tcpFlags, 1),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{syn | ack}, Xor: []byte{0}}, neq([]byte{syn})}, accept),
		// Echo replies (to the VM's pings), ICMP errors (unreachable, time
		// exceeded, parameter problem), ICMPv6 errors and neighbour
		// discovery.
		join(etherType(etherTypeIPv4), l4(unix.IPPROTO_ICMP), []expr.Any{th(0, 1)}, rangeOf([]byte{0}, []byte{0}), accept),
		join(etherType(etherTypeIPv6), l4(icmpv6), []expr.Any{th(0, 1)}, rangeOf([]byte{129}, []byte{129}), accept),
		join(etherType(etherTypeIPv4), l4(unix.IPPROTO_ICMP), []expr.Any{th(0, 1)}, rangeOf([]byte{3}, []byte{3}), accept),
		join(etherType(etherTypeIPv4), l4(unix.IPPROTO_ICMP), []expr.Any{th(0, 1)}, rangeOf([]byte{11}, []byte{12}), accept),
		join(etherType(etherTypeIPv6), l4(icmpv6), []expr.Any{th(0, 1)}, rangeOf([]byte{1}, []byte{4}), accept),
		join(etherType(etherTypeIPv6), l4(icmpv6), []expr.Any{th(0, 1)}, rangeOf([]byte{133}, []byte{137}), accept),
		// Fragments but the first: the first carried the ports and met
		// the rules, and without it the rest is never reassembled.
		join(etherType(etherTypeIPv4), []expr.Any{nh(6, 2),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: []byte{0x1f, 0xff}, Xor: []byte{0, 0}}, neq([]byte{0, 0})}, accept),
		join(etherType(etherTypeIPv6), []expr.Any{&expr.Exthdr{Op: expr.ExthdrOpIpv6, Type: unix.IPPROTO_FRAGMENT, Offset: 2, Len: 2, DestRegister: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: []byte{0xff, 0xf8}, Xor: []byte{0, 0}}, neq([]byte{0, 0})}, accept),
		// DHCP and DHCPv6 replies.
		join(etherType(etherTypeIPv4), l4(unix.IPPROTO_UDP), []expr.Any{th(0, 2), eq(port(67)), th(2, 2), eq(port(68))}, accept),
		join(etherType(etherTypeIPv6), l4(unix.IPPROTO_UDP), []expr.Any{th(0, 2), eq(port(547)), th(2, 2), eq(port(546))}, accept),
	}
	for _, r := range in.Rules {
		for _, f := range []family{ipv4, ipv6} {
			if x := userRule(f, r); x != nil {
				out = append(out, x)
			}
		}
	}
	if in.DropByDefault {
		out = append(out, join(etherType(etherTypeIPv4), drop), join(etherType(etherTypeIPv6), drop))
	}
	return out
}

// applyInbound queues the interface's in-N chain, replacing its rules,
// and points dev at it in the output map. It is part of Apply's
// transaction; stale holds the devices to unmap first.
func (f *Filter) applyInbound(id int64, dev string, in *Inbound, stale []string) error {
	chain := &nftables.Chain{Name: inChainName(id), Table: f.table}
	f.conn.AddChain(chain)
	f.conn.FlushChain(chain)
	for _, r := range inboundRules(in) {
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: chain, Exprs: r})
	}
	if err := f.unmap(f.toVifs, stale...); err != nil {
		return err
	}
	return f.conn.SetAddElements(f.toVifs, []nftables.SetElement{{Key: ifname(dev),
		VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain.Name}}})
}

func inChainName(id int64) string { return "in-" + chainName(id)[len("iface-"):] }

// InboundDropped sums the counters of the interface's firewall drops.
func (f *Filter) InboundDropped(id int64) (Dropped, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counted(inChainName(id))
}

// Firewalled reports whether the interface's firewall chain has rules.
func (f *Filter) Firewalled(id int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return false, fmt.Errorf("listing chains: %w", err)
	}
	if !slices.ContainsFunc(chains, func(c *nftables.Chain) bool { return c.Table.Name == tableName && c.Name == inChainName(id) }) {
		return false, nil
	}
	rs, err := f.conn.GetRules(f.table, &nftables.Chain{Name: inChainName(id), Table: f.table})
	if err != nil {
		return false, fmt.Errorf("reading chain %s: %w", inChainName(id), err)
	}
	return len(rs) > 0, nil
}

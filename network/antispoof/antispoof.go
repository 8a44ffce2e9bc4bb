// Package antispoof keeps VMs from sending with addresses that are not
// theirs: an nftables table of the bridge family with, per interface, a
// chain that lets through only the interface's MAC and IPs (IPv4 source,
// ARP sender MAC and IP, IPv6 source and neighbour advertisements) and
// drops everything else with counters; and, per interface, a chain
// that filters what reaches the VM (its inbound firewall, inbound.go).
//
// Frames enter the bridge through the VM's backend device, whose name
// Xen changes at every domain start. A verdict map from device name to
// the interface's chain dispatches them, so following a rename is one
// element replaced; every change of an interface, anti-spoofing and
// firewall together, is one transaction.
package antispoof

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

const (
	tableName = "xenagent"
	baseChain = "prerouting"
	vifMap    = "vifs"
)

// Iface is what one interface may send with.
type Iface struct {
	ID   int64
	Dev  string // the backend device frames from the VM arrive on
	MAC  net.HardwareAddr
	IPv4 []netip.Addr
	IPv6 []netip.Addr
	// Inbound is the firewall of what reaches the VM; nil lets all in.
	Inbound *Inbound
}

// Filter manages the table in one network namespace.
type Filter struct {
	mu    sync.Mutex
	conn  *nftables.Conn
	table *nftables.Table
	base  *nftables.Chain
	vifs  *nftables.Set
	// inBase and toVifs dispatch frames to the VMs by output device.
	inBase *nftables.Chain
	toVifs *nftables.Set
}

// New opens the filter (in another namespace with nftables.WithNetNSFd)
// and makes sure the table, its base chain and the device map exist,
// leaving the interfaces' chains as they are.
func New(opts ...nftables.ConnOption) (*Filter, error) {
	conn, err := nftables.New(append([]nftables.ConnOption{nftables.WithSockOptions(bigReadBuffer)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	f := &Filter{conn: conn, table: &nftables.Table{Family: nftables.TableFamilyBridge, Name: tableName}}
	f.base = &nftables.Chain{Name: baseChain, Table: f.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-200)}
	f.vifs = &nftables.Set{Table: f.table, Name: vifMap, IsMap: true, KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict}
	f.inBase = &nftables.Chain{Name: inBaseChain, Table: f.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityFilter}
	f.toVifs = &nftables.Set{Table: f.table, Name: inVifMap, IsMap: true, KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict}
	if err := f.ensureBase(); err != nil {
		return nil, err
	}
	return f, nil
}

// ensureBase makes the two base chains and their maps: a table made by
// an agent before the firewall has only the first, and gets the second.
func (f *Filter) ensureBase() error {
	f.conn.AddTable(f.table)
	for _, b := range []struct {
		chain *nftables.Chain
		set   *nftables.Set
		dev   expr.MetaKey
	}{{f.base, f.vifs, expr.MetaKeyIIFNAME}, {f.inBase, f.toVifs, expr.MetaKeyOIFNAME}} {
		f.conn.AddChain(b.chain)
		if err := f.conn.AddSet(b.set, nil); err != nil {
			return err
		}
		if rules, err := f.conn.GetRules(f.table, b.chain); err == nil && len(rules) > 0 {
			continue
		}
		// meta iifname vmap @vifs; meta oifname vmap @tovifs
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: b.chain, Exprs: []expr.Any{
			&expr.Meta{Key: b.dev, Register: 1},
			&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: b.set.Name, SetID: b.set.ID},
		}})
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", tableName, err)
	}
	return nil
}

// bigReadBuffer lets a transaction's replies in: the kernel echoes every
// rule added, and an interface with a full firewall adds some 150, more
// than a default socket buffer holds (ENOBUFS). Root may force the size
// past net.core.rmem_max.
func bigReadBuffer(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	}); err != nil {
		return err
	}
	if serr != nil {
		return c.SetReadBuffer(4 << 20)
	}
	return nil
}

func chainName(id int64) string { return "iface-" + strconv.FormatInt(id, 10) }

// ifname is a device name as nftables keys it: NUL-padded to IFNAMSIZ.
func ifname(dev string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, dev)
	return b
}

func (f *Filter) sets(id int64) (v4, v6, dev *nftables.Set) {
	n := strconv.FormatInt(id, 10)
	return &nftables.Set{Table: f.table, Name: "v4-" + n, KeyType: nftables.TypeIPAddr},
		&nftables.Set{Table: f.table, Name: "v6-" + n, KeyType: nftables.TypeIP6Addr},
		// dev-N records the device the map points at the chain: this
		// library cannot read a verdict map's targets back.
		&nftables.Set{Table: f.table, Name: "dev-" + n, KeyType: nftables.TypeIFName}
}

// keys reads a set's keys; a set that does not exist has none.
func (f *Filter) keys(set *nftables.Set) ([]string, error) {
	// The library does not surface ENOENT as such: look the set up first.
	sets, err := f.conn.GetSets(f.table)
	if err != nil {
		return nil, fmt.Errorf("listing sets: %w", err)
	}
	if !slices.ContainsFunc(sets, func(x *nftables.Set) bool { return x.Name == set.Name }) {
		return nil, nil
	}
	elems, err := f.conn.GetSetElements(set)
	if err != nil {
		return nil, fmt.Errorf("reading set %s: %w", set.Name, err)
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		out = append(out, strings.TrimRight(string(e.Key), "\x00"))
	}
	return out, nil
}

// unmap queues the removal of the entries of devs that exist in vmap.
func (f *Filter) unmap(vmap *nftables.Set, devs ...string) error {
	mapped, err := f.keys(vmap)
	if err != nil {
		return err
	}
	var stale []nftables.SetElement
	slices.Sort(devs)
	for _, d := range slices.Compact(devs) {
		if d != "" && slices.Contains(mapped, d) {
			stale = append(stale, nftables.SetElement{Key: ifname(d)})
		}
	}
	if len(stale) == 0 {
		return nil
	}
	return f.conn.SetDeleteElements(vmap, stale)
}

// Apply installs or replaces the interface's rules (anti-spoofing and
// firewall) and points its device at them, in one transaction: traffic
// from and to the device sees either the old rules or the new ones,
// never none, never half.
func (f *Filter) Apply(i Iface) error {
	if len(i.MAC) != 6 || i.Dev == "" || len(i.Dev) >= unix.IFNAMSIZ {
		return fmt.Errorf("antispoof: iface %d needs a 6-byte MAC and a device name (got %v, %q)", i.ID, i.MAC, i.Dev)
	}
	if err := i.Inbound.check(); err != nil {
		return fmt.Errorf("antispoof: iface %d: %w", i.ID, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	chain := &nftables.Chain{Name: chainName(i.ID), Table: f.table}
	v4, v6, devSet := f.sets(i.ID)
	var v4e, v6e []nftables.SetElement
	for _, a := range i.IPv4 {
		if !a.Is4() {
			return fmt.Errorf("antispoof: %s is not an IPv4 address", a)
		}
		v4e = append(v4e, nftables.SetElement{Key: a.AsSlice()})
	}
	for _, a := range i.IPv6 {
		if !a.Is6() || a.Is4In6() {
			return fmt.Errorf("antispoof: %s is not an IPv6 address", a)
		}
		v6e = append(v6e, nftables.SetElement{Key: a.AsSlice()})
	}
	old, err := f.keys(devSet)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		set  *nftables.Set
		elem []nftables.SetElement
	}{{v4, v4e}, {v6, v6e}, {devSet, []nftables.SetElement{{Key: ifname(i.Dev)}}}} {
		if err := f.conn.AddSet(s.set, nil); err != nil {
			return err
		}
		f.conn.FlushSet(s.set)
		if len(s.elem) > 0 {
			if err := f.conn.SetAddElements(s.set, s.elem); err != nil {
				return err
			}
		}
	}
	f.conn.AddChain(chain)
	f.conn.FlushChain(chain)
	for _, r := range rules(i.MAC, v4, v6) {
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: chain, Exprs: r})
	}
	// The device's entry may point at another interface's chain if that
	// interface's VM is gone without its rules: this interface owns it now.
	if err := f.unmap(f.vifs, append(old, i.Dev)...); err != nil {
		return err
	}
	if err := f.conn.SetAddElements(f.vifs, []nftables.SetElement{{Key: ifname(i.Dev),
		VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain.Name}}}); err != nil {
		return err
	}
	if err := f.applyInbound(i.ID, i.Dev, i.Inbound, append(old, i.Dev)); err != nil {
		return err
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("antispoof rules of iface %d on %s: %w", i.ID, i.Dev, err)
	}
	return nil
}

// Remove deletes an interface's chain, sets and map entries; removing
// what is not there is not an error.
func (f *Filter) Remove(id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := chainName(id)
	v4, v6, devSet := f.sets(id)
	devs, err := f.keys(devSet)
	if err != nil {
		return err
	}
	if err := f.unmap(f.vifs, devs...); err != nil {
		return err
	}
	if err := f.unmap(f.toVifs, devs...); err != nil {
		return err
	}
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return err
	}
	for _, c := range chains {
		if c.Table.Name == tableName && (c.Name == name || c.Name == inChainName(id)) {
			f.conn.FlushChain(c)
			f.conn.DelChain(c)
		}
	}
	sets, err := f.conn.GetSets(f.table)
	if err != nil {
		return err
	}
	for _, s := range sets {
		if s.Name == v4.Name || s.Name == v6.Name || s.Name == devSet.Name {
			f.conn.DelSet(s)
		}
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("removing antispoof rules of iface %d: %w", id, err)
	}
	return nil
}

// Installed lists the interfaces that have rules, with their device.
func (f *Filter) Installed() (map[int64]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, c := range chains {
		if c.Table.Name != tableName {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(c.Name, "iface-"), 10, 64)
		if err != nil || !strings.HasPrefix(c.Name, "iface-") {
			continue
		}
		_, _, devSet := f.sets(id)
		devs, err := f.keys(devSet)
		if err != nil {
			return nil, err
		}
		out[id] = strings.Join(devs, ",")
	}
	return out, nil
}

// Dropped is what an interface's rules refused.
type Dropped struct {
	Packets, Bytes uint64
}

// Dropped sums the counters of the interface's drop rules.
func (f *Filter) Dropped(id int64) (Dropped, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counted(chainName(id))
}

// counted sums the counters of a chain's rules; a chain that does not
// exist counted nothing.
func (f *Filter) counted(name string) (Dropped, error) {
	var d Dropped
	// The library does not surface ENOENT as such: look the chain up first.
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return d, fmt.Errorf("listing chains: %w", err)
	}
	if !slices.ContainsFunc(chains, func(c *nftables.Chain) bool { return c.Table.Name == tableName && c.Name == name }) {
		return d, nil
	}
	rs, err := f.conn.GetRules(f.table, &nftables.Chain{Name: name, Table: f.table})
	if err != nil {
		return d, fmt.Errorf("reading chain %s: %w", name, err)
	}
	for _, r := range rs {
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Counter); ok {
				d.Packets += c.Packets
				d.Bytes += c.Bytes
			}
		}
	}
	return d, nil
}

// --- rule building ---

const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	icmpv6        = 58
	routerAdvert  = 134
	neighAdvert   = 136
)

func ll(offset, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: offset, Len: n}
}
func nh(offset, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n}
}
func th(offset, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: n}
}
func eq(b []byte) *expr.Cmp  { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b} }
func neq(b []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: b} }
func in(s *nftables.Set) *expr.Lookup {
	return &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}
}
func etherType(t uint16) []expr.Any {
	return []expr.Any{ll(12, 2), eq(binaryutil.BigEndian.PutUint16(t))}
}
func l4(proto byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, eq([]byte{proto})}
}

// linkLocal matches the register's IPv6 address against fe80::/10.
func linkLocal() []expr.Any {
	mask := make([]byte, 16)
	mask[0], mask[1] = 0xff, 0xc0
	want := make([]byte, 16)
	want[0], want[1] = 0xfe, 0x80
	return []expr.Any{&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16, Mask: mask, Xor: make([]byte, 16)}, eq(want)}
}

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	accept = []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	drop   = []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}
)

// rules is the interface's chain, in order. What no rule accepts is
// dropped by the last one.
func rules(mac net.HardwareAddr, v4, v6 *nftables.Set) [][]expr.Any {
	zero4, zero6 := make([]byte, 4), make([]byte, 16)
	return [][]expr.Any{
		// ether saddr != MAC: drop
		join([]expr.Any{ll(6, 6), neq(mac)}, drop),
		// ARP with our MAC as sender, from one of our IPs (or 0.0.0.0, a probe)
		join(etherType(etherTypeARP), []expr.Any{nh(8, 6), eq(mac), nh(14, 4), in(v4)}, accept),
		join(etherType(etherTypeARP), []expr.Any{nh(8, 6), eq(mac), nh(14, 4), eq(zero4)}, accept),
		join(etherType(etherTypeARP), drop),
		// IPv4 from our addresses; DHCP discovery from 0.0.0.0
		join(etherType(etherTypeIPv4), []expr.Any{nh(12, 4), in(v4)}, accept),
		join(etherType(etherTypeIPv4), []expr.Any{nh(12, 4), eq(zero4)}, l4(unix.IPPROTO_UDP), []expr.Any{th(2, 2), eq(binaryutil.BigEndian.PutUint16(67))}, accept),
		join(etherType(etherTypeIPv4), drop),
		// IPv6: a VM is no router; it advertises only its own addresses
		join(etherType(etherTypeIPv6), l4(icmpv6), []expr.Any{th(0, 1), eq([]byte{routerAdvert})}, drop),
		join(etherType(etherTypeIPv6), l4(icmpv6), []expr.Any{th(0, 1), eq([]byte{neighAdvert}), th(8, 16), in(v6)}, accept),
		join(etherType(etherTypeIPv6), l4(icmpv6), []expr.Any{th(0, 1), eq([]byte{neighAdvert}), th(8, 16)}, linkLocal(), accept),
		join(etherType(etherTypeIPv6), l4(icmpv6), []expr.Any{th(0, 1), eq([]byte{neighAdvert})}, drop),
		join(etherType(etherTypeIPv6), []expr.Any{nh(8, 16), in(v6)}, accept),
		join(etherType(etherTypeIPv6), []expr.Any{nh(8, 16)}, linkLocal(), accept),
		join(etherType(etherTypeIPv6), []expr.Any{nh(8, 16), eq(zero6)}, accept), // duplicate address detection
		// anything else (other ethertypes, VLAN tags, spoofed IPv6)
		drop,
	}
}

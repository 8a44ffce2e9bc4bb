package antispoof

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/xenagent/xenagent/network/nettest"
)

// lab is a host namespace with a bridge (10.9.0.1, fd00::1) and a guest
// namespace whose eth0 is plugged into it through the host's dev.
type lab struct {
	t           *testing.T
	host, guest *nettest.NS
	f           *Filter
}

func newLab(t *testing.T) *lab {
	l := &lab{t: t, host: nettest.New(t, "xa-spoof-host"), guest: nettest.New(t, "xa-spoof-guest")}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "br0"
	if err := l.host.H.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		t.Fatal(err)
	}
	br, _ := l.host.H.LinkByName("br0")
	l.host.H.LinkSetUp(br)
	l.host.Addr(t, "br0", "10.9.0.1/24")
	l.host.Addr(t, "br0", "fd00::1/64")
	l.plug("vif1.0")
	l.guest.Addr(t, "eth0", "10.9.0.2/24")
	l.guest.Addr(t, "eth0", "fd00::2/64")
	f, err := New(nftables.WithNetNSFd(int(l.host.Fd)))
	if err != nil {
		t.Fatal(err)
	}
	l.f = f
	return l
}

var guestMAC = net.HardwareAddr{0xaa, 0, 0, 0, 0, 2}

// plug connects the guest through a (new) backend device, as Xen does
// at every domain start.
func (l *lab) plug(dev string) {
	l.t.Helper()
	if old, err := l.guest.H.LinkByName("eth0"); err == nil {
		l.guest.H.LinkDel(old)
	}
	vif, eth := l.host.Veth(l.t, dev, l.guest, "eth0")
	br, _ := l.host.H.LinkByName("br0")
	if err := l.host.H.LinkSetMaster(vif, br); err != nil {
		l.t.Fatal(err)
	}
	l.guest.H.LinkSetDown(eth)
	if err := l.guest.H.LinkSetHardwareAddr(eth, guestMAC); err != nil {
		l.t.Fatal(err)
	}
	l.guest.H.LinkSetUp(eth)
}

func (l *lab) reaches(args ...string) bool {
	l.guest.Run("ip", "neigh", "flush", "dev", "eth0")
	_, err := l.guest.Run(append([]string{"ping", "-c", "1", "-W", "1"}, args...)...)
	return err == nil
}

// arping sends one ARP request for the host's address from the guest,
// claiming sender IP from (iputils arping).
func (l *lab) arping(from string) (string, error) {
	return l.guest.Run("arping", "-c", "1", "-w", "2", "-I", "eth0", "-s", from, "10.9.0.1")
}

func (l *lab) iface(dev string) Iface {
	return Iface{ID: 7, Dev: dev, MAC: guestMAC, IPv4: []netip.Addr{netip.MustParseAddr("10.9.0.2")}, IPv6: []netip.Addr{netip.MustParseAddr("fd00::2")}}
}

func TestAntiSpoofing(t *testing.T) {
	l := newLab(t)
	if !l.reaches("-I", "eth0", "10.9.0.1") {
		t.Fatal("no connectivity before any rule")
	}
	if err := l.f.Apply(l.iface("vif1.0")); err != nil {
		t.Fatal(err)
	}
	l.guest.Addr(t, "eth0", "10.9.0.66/24")
	l.guest.Addr(t, "eth0", "fd00::66/64")

	cases := []struct {
		name string
		args []string
		want bool
	}{
		{"own IPv4 address", []string{"-I", "10.9.0.2", "10.9.0.1"}, true},
		{"spoofed IPv4 source", []string{"-I", "10.9.0.66", "10.9.0.1"}, false},
		{"own IPv6 address", []string{"-6", "-I", "fd00::2", "fd00::1"}, true},
		{"spoofed IPv6 source", []string{"-6", "-I", "fd00::66", "fd00::1"}, false},
	}
	for _, c := range cases {
		if got := l.reaches(c.args...); got != c.want {
			t.Errorf("%s: ping got through = %v, want %v", c.name, got, c.want)
		}
	}
	// ARP claiming another IP is dropped; our own is answered. iputils
	// arping (-s) binds its socket to the sender address, so the guest
	// may bind one it does not hold; the probe must then be sent (not
	// refused locally) and get no reply.
	l.guest.Sysctl(t, "net.ipv4.ip_nonlocal_bind", "1")
	if out, err := l.arping("10.9.0.2"); err != nil {
		t.Errorf("arping from our own address failed: %v\n%s", err, out)
	}
	if out, err := l.arping("10.9.0.77"); err == nil || !strings.Contains(out, "Sent 1 probe") || !strings.Contains(out, "Received 0 response") {
		t.Errorf("arping with a spoofed sender IP: want one probe sent and none answered, got err=%v:\n%s", err, out)
	}
	// A spoofed MAC gets nothing through.
	eth, _ := l.guest.H.LinkByName("eth0")
	l.guest.H.LinkSetHardwareAddr(eth, net.HardwareAddr{0xaa, 0, 0, 0, 0, 0x99})
	if l.reaches("-I", "10.9.0.2", "10.9.0.1") {
		t.Error("a spoofed MAC got through")
	}
	l.guest.H.LinkSetHardwareAddr(eth, guestMAC)
	if d, err := l.f.Dropped(7); err != nil || d.Packets == 0 {
		t.Errorf("drop counters = %+v, %v", d, err)
	}

	// Xen renames the vif at the next start: the rules follow the device,
	// the old name no longer maps anywhere.
	l.plug("vif2.0")
	l.guest.Addr(t, "eth0", "10.9.0.2/24")
	l.guest.Addr(t, "eth0", "10.9.0.66/24")
	if !l.reaches("-I", "10.9.0.66", "10.9.0.1") {
		t.Fatal("the new vif should be unfiltered until rules are applied to it")
	}
	if err := l.f.Apply(l.iface("vif2.0")); err != nil {
		t.Fatal(err)
	}
	if l.reaches("-I", "10.9.0.66", "10.9.0.1") || !l.reaches("-I", "10.9.0.2", "10.9.0.1") {
		t.Error("rules did not follow the rename")
	}
	if got, _ := l.f.Installed(); len(got) != 1 || got[7] != "vif2.0" {
		t.Errorf("installed = %v, want iface 7 on vif2.0 only", got)
	}
	// Applying again (a restart re-applies everything) changes nothing.
	if err := l.f.Apply(l.iface("vif2.0")); err != nil {
		t.Fatal(err)
	}

	// Removing leaves no chain, set or map entry, and twice is fine.
	for range 2 {
		if err := l.f.Remove(7); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := l.f.Installed(); len(got) != 0 {
		t.Errorf("installed after remove = %v", got)
	}
	if d, err := l.f.Dropped(7); err != nil || d != (Dropped{}) {
		t.Errorf("drops of a removed iface = %+v, %v; want none, no error", d, err)
	}
	sets, _ := l.f.conn.GetSets(l.f.table)
	if len(sets) != 2 || !slices.ContainsFunc(sets, func(s *nftables.Set) bool { return s.Name == vifMap }) {
		t.Errorf("sets after remove: %d", len(sets))
	}
	if !l.reaches("-I", "10.9.0.66", "10.9.0.1") {
		t.Error("traffic still filtered after remove")
	}
	// A second Filter on the same namespace (an agent restart) keeps
	// what is installed.
	if err := l.f.Apply(l.iface("vif2.0")); err != nil {
		t.Fatal(err)
	}
	f2, err := New(nftables.WithNetNSFd(int(l.host.Fd)))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f2.Installed(); got[7] != "vif2.0" {
		t.Errorf("after reopening: %v", got)
	}
	if l.reaches("-I", "10.9.0.66", "10.9.0.1") {
		t.Error("reopening the filter dropped the rules")
	}
}

func TestApplyRejectsBadInput(t *testing.T) {
	l := newLab(t)
	for _, i := range []Iface{
		{ID: 1, Dev: "vif1.0"},
		{ID: 1, MAC: guestMAC},
		{ID: 1, Dev: "vif1.0", MAC: guestMAC, IPv4: []netip.Addr{netip.MustParseAddr("fd00::1")}},
		{ID: 1, Dev: "a-name-longer-than-ifnamsiz", MAC: guestMAC},
	} {
		if err := l.f.Apply(i); err == nil {
			t.Errorf("accepted %+v", i)
		}
	}
	if got, _ := l.f.Installed(); len(got) != 0 {
		t.Errorf("a refused Apply installed %v", got)
	}
}

package antispoof

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
)

// listen makes the guest answer on TCP and UDP ports of all its
// addresses, until the test ends: a TCP connection that is accepted, a
// UDP datagram that is echoed.
func (l *lab) listen(ports ...int) {
	l.t.Helper()
	for _, p := range ports {
		addr := net.JoinHostPort("", itoa(p))
		var tl net.Listener
		var ul net.PacketConn
		err := l.guest.Do(func() (err error) {
			if tl, err = net.Listen("tcp", addr); err != nil {
				return err
			}
			ul, err = net.ListenPacket("udp", addr)
			return err
		})
		if err != nil {
			l.t.Fatal(err)
		}
		l.t.Cleanup(func() { tl.Close(); ul.Close() })
		go func() {
			for {
				c, err := tl.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		go func() {
			buf := make([]byte, 9000)
			for {
				n, from, err := ul.ReadFrom(buf)
				if err != nil {
					return
				}
				ul.WriteTo(buf[:n], from)
			}
		}()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// reach reports whether the host, sending from address from, gets a
// TCP connection (or a UDP answer) from the guest's to:port.
func (l *lab) reach(network, from, to string, port int) bool {
	l.t.Helper()
	return l.reachWith(network, from, to, port, 5)
}

// reachWith is reach with a UDP datagram of size bytes: past the MTU,
// it goes in fragments.
func (l *lab) reachWith(network, from, to string, port, size int) bool {
	l.t.Helper()
	ok := false
	err := l.host.Do(func() error {
		d := net.Dialer{Timeout: 700 * time.Millisecond}
		if network == "tcp" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
		} else {
			d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(from)}
		}
		c, err := d.Dial(network, net.JoinHostPort(to, itoa(port)))
		if err != nil {
			return nil
		}
		defer c.Close()
		if network == "tcp" {
			ok = true
			return nil
		}
		c.SetDeadline(time.Now().Add(700 * time.Millisecond))
		msg := []byte(strings.Repeat("hello", size/5+1)[:size])
		c.Write(msg)
		buf := make([]byte, size+1)
		n, _ := c.Read(buf)
		ok = string(buf[:n]) == string(msg)
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return ok
}

// waitLink waits for the guest's new link to carry traffic both ways,
// v4 and v6, while nothing filters it.
func (l *lab) waitLink() {
	l.t.Helper()
	l.waitLinkOn(8080)
}

func (l *lab) waitLinkOn(port int) {
	l.t.Helper()
	for n := 0; !l.reach("tcp", "10.9.0.1", "10.9.0.2", port) || !l.reach("tcp", "fd00::1", "fd00::2", port); n++ {
		if n == 10 {
			l.t.Fatal("no connectivity without rules")
		}
	}
}

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

type probe struct {
	name, network, from, to string
	port                    int
	want                    bool
}

func (l *lab) probes(what string, ps []probe) {
	l.t.Helper()
	for _, p := range ps {
		if got := l.reach(p.network, p.from, p.to, p.port); got != p.want {
			l.t.Errorf("%s: %s (%s %s -> [%s]:%d) got through = %v, want %v", what, p.name, p.network, p.from, p.to, p.port, got, p.want)
		}
	}
}

// The guest's inbound firewall with real traffic: allowed ports pass,
// others do not, the source network is honoured per family, the VM's
// own connections and pings still work, anti-spoofing still holds, the
// rules follow a rename and go with the interface.
func TestInboundFirewall(t *testing.T) {
	l := newLab(t)
	l.host.Addr(t, "br0", "10.9.0.5/24")
	l.host.Addr(t, "br0", "fd00::5/64")
	l.listen(22, 53, 80, 8080)
	l.waitLink()
	i := l.iface("vif1.0")
	i.Inbound = &Inbound{DropByDefault: true, Rules: []Rule{
		{Proto: ProtoTCP, PortMin: 22, PortMax: 22},
		{Proto: ProtoTCP, PortMin: 80, PortMax: 80, Source: prefix("10.9.0.5/32")},
		{Proto: ProtoTCP, PortMin: 80, PortMax: 80, Source: prefix("fd00::4/127")},
		{Proto: ProtoUDP, PortMin: 50, PortMax: 60, Source: prefix("10.9.0.0/24")},
		{Proto: ProtoUDP, PortMin: 53, PortMax: 53, Source: prefix("fd00::4/127")},
	}}
	if err := l.f.Apply(i); err != nil {
		t.Fatal(err)
	}
	policyDrop := []probe{
		{"allowed port from anyone (v4)", "tcp", "10.9.0.1", "10.9.0.2", 22, true},
		{"allowed port from anyone (v6)", "tcp", "fd00::1", "fd00::2", 22, true},
		{"port allowed from another source (v4)", "tcp", "10.9.0.1", "10.9.0.2", 80, false},
		{"port allowed from this source (v4)", "tcp", "10.9.0.5", "10.9.0.2", 80, true},
		{"port allowed from another source (v6)", "tcp", "fd00::1", "fd00::2", 80, false},
		{"port allowed from this source (v6)", "tcp", "fd00::5", "fd00::2", 80, true},
		{"port no rule allows", "tcp", "10.9.0.5", "10.9.0.2", 8080, false},
		{"udp port in range, source in network", "udp", "10.9.0.1", "10.9.0.2", 53, true},
		{"udp rule of the other family", "udp", "fd00::1", "fd00::2", 53, false},
		{"udp rule of this family", "udp", "fd00::5", "fd00::2", 53, true},
		{"tcp on the udp rule's port", "tcp", "10.9.0.1", "10.9.0.2", 53, false},
	}
	l.probes("policy drop", policyDrop)
	// A datagram past the MTU: its first fragment carries the ports and
	// meets the rules, the others follow it.
	for _, c := range []struct {
		from, to string
		port     int
		want     bool
	}{{"10.9.0.1", "10.9.0.2", 53, true}, {"10.9.0.1", "10.9.0.2", 8080, false}, {"fd00::5", "fd00::2", 53, true}, {"fd00::5", "fd00::2", 8080, false}} {
		if got := l.reachWith("udp", c.from, c.to, c.port, 4000); got != c.want {
			t.Errorf("4000-byte datagram from %s to port %d: got through = %v, want %v", c.from, c.port, got, c.want)
		}
	}
	if _, err := l.host.Run("ping", "-c", "1", "-W", "1", "10.9.0.2"); err == nil {
		t.Error("a ping got through a drop policy without an icmp rule")
	}
	if d, err := l.f.InboundDropped(7); err != nil || d.Packets == 0 {
		t.Errorf("firewall drop counters = %+v, %v", d, err)
	}
	// The VM's own connections and pings get their replies.
	var hostLn net.Listener
	if err := l.host.Do(func() (err error) { hostLn, err = net.Listen("tcp", "10.9.0.1:9000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go func() {
		for c, err := hostLn.Accept(); err == nil; c, err = hostLn.Accept() {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	if out, err := l.guest.Run("bash", "-c", "exec 3<>/dev/tcp/10.9.0.1/9000 && timeout 2 head -c 2 <&3"); err != nil || out != "hi" {
		t.Errorf("the guest's own connection: %q, %v", out, err)
	}
	if !l.reaches("-I", "10.9.0.2", "10.9.0.1") || !l.reaches("-6", "-I", "fd00::2", "fd00::1") {
		t.Error("the guest's own pings get no reply")
	}
	// Anti-spoofing is untouched.
	l.guest.Addr(t, "eth0", "10.9.0.66/24")
	if l.reaches("-I", "10.9.0.66", "10.9.0.1") {
		t.Error("a spoofed source got out beside the firewall")
	}

	// A drop rule under an accept policy; ICMP allowed by protocol.
	i.Inbound = &Inbound{Rules: []Rule{
		{Proto: ProtoTCP, PortMin: 20, PortMax: 25, Source: prefix("10.9.0.5/32"), Drop: true},
		{Proto: ProtoICMP, Source: prefix("10.9.0.5/32"), Drop: true},
	}}
	if err := l.f.Apply(i); err != nil {
		t.Fatal(err)
	}
	l.probes("policy accept", []probe{
		{"dropped range from this source", "tcp", "10.9.0.5", "10.9.0.2", 22, false},
		{"dropped range from another source", "tcp", "10.9.0.1", "10.9.0.2", 22, true},
		{"port outside the range", "tcp", "10.9.0.5", "10.9.0.2", 80, true},
		{"other family", "tcp", "fd00::5", "fd00::2", 22, true},
	})
	if _, err := l.host.Run("ping", "-c", "1", "-W", "1", "-I", "10.9.0.1", "10.9.0.2"); err != nil {
		t.Error("ping under an accept policy did not get through")
	}
	if _, err := l.host.Run("ping", "-c", "1", "-W", "1", "-I", "10.9.0.5", "10.9.0.2"); err == nil {
		t.Error("ping from a source an icmp rule drops got through")
	}

	// Xen renames the vif at the next start: wiring the new device
	// brings the firewall along and leaves nothing on the old name.
	l.plug("vif2.0")
	l.guest.Addr(t, "eth0", "10.9.0.2/24")
	l.guest.Addr(t, "eth0", "fd00::2/64")
	l.waitLink()
	i = l.iface("vif2.0")
	i.Inbound = &Inbound{DropByDefault: true, Rules: []Rule{{Proto: ProtoTCP, PortMin: 80, PortMax: 80, Source: prefix("10.9.0.5/32")}}}
	if err := l.f.Apply(i); err != nil {
		t.Fatal(err)
	}
	l.probes("after the rename", []probe{
		{"allowed source", "tcp", "10.9.0.5", "10.9.0.2", 80, true},
		{"other source", "tcp", "10.9.0.1", "10.9.0.2", 80, false},
		{"other port", "tcp", "10.9.0.5", "10.9.0.2", 22, false},
	})
	if devs, err := l.f.keys(l.f.toVifs); err != nil || !slices.Equal(devs, []string{"vif2.0"}) {
		t.Errorf("output map after the rename = %v, %v; want vif2.0 only", devs, err)
	}

	// No firewall: everything in again.
	i.Inbound = nil
	if err := l.f.Apply(i); err != nil {
		t.Fatal(err)
	}
	l.probes("no firewall", []probe{{"any port", "tcp", "10.9.0.1", "10.9.0.2", 8080, true}})

	// Removing the interface removes its firewall chain and map entry.
	if err := l.f.Remove(7); err != nil {
		t.Fatal(err)
	}
	chains, _ := l.f.conn.ListChains()
	for _, c := range chains {
		if c.Table.Name == tableName && strings.HasSuffix(c.Name, "-7") {
			t.Errorf("chain %s left after remove", c.Name)
		}
	}
	if devs, _ := l.f.keys(l.f.toVifs); len(devs) != 0 {
		t.Errorf("output map after remove = %v", devs)
	}
}

func TestInboundRefusesBadRules(t *testing.T) {
	l := newLab(t)
	many := make([]Rule, MaxRules+1)
	for _, in := range []*Inbound{
		{Rules: many},
		{Rules: []Rule{{Proto: ProtoICMP, PortMin: 1, PortMax: 1}}},
		{Rules: []Rule{{Proto: ProtoAll, PortMin: 1, PortMax: 1}}},
		{Rules: []Rule{{Proto: ProtoTCP, PortMin: 9, PortMax: 8}}},
		{Rules: []Rule{{Proto: ProtoTCP, PortMin: 0, PortMax: 8}}},
		{Rules: []Rule{{Proto: 9}}},
		{Rules: []Rule{{Source: prefix("10.9.0.1/24")}}},
	} {
		i := l.iface("vif1.0")
		i.Inbound = in
		if err := l.f.Apply(i); err == nil {
			t.Errorf("accepted %+v", in.Rules[:min(len(in.Rules), 2)])
		}
	}
	if got, _ := l.f.Installed(); len(got) != 0 {
		t.Errorf("a refused Apply installed %v", got)
	}
	full := l.iface("vif1.0")
	full.Inbound = &Inbound{DropByDefault: true, Rules: make([]Rule, MaxRules)}
	if err := l.f.Apply(full); err != nil {
		t.Errorf("%d rules: %v", MaxRules, err)
	}
}

// A table an agent made before the firewall has no postrouting chain
// nor output map: opening it adds them, and firewalls then work.
func TestOldTableGetsTheFirewallBase(t *testing.T) {
	l := newLab(t)
	if err := l.f.Apply(l.iface("vif1.0")); err != nil {
		t.Fatal(err)
	}
	l.f.conn.FlushChain(l.f.inBase)
	l.f.conn.DelChain(l.f.inBase)
	l.f.conn.DelSet(l.f.toVifs)
	if err := l.f.conn.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := New(nftables.WithNetNSFd(int(l.host.Fd)))
	if err != nil {
		t.Fatal(err)
	}
	l.host.Addr(t, "br0", "10.9.0.5/24")
	l.listen(80)
	l.waitLinkOn(80)
	i := l.iface("vif1.0")
	i.Inbound = &Inbound{DropByDefault: true, Rules: []Rule{{Proto: ProtoTCP, PortMin: 80, PortMax: 80, Source: prefix("10.9.0.5/32")}}}
	if err := f.Apply(i); err != nil {
		t.Fatal(err)
	}
	l.probes("after the upgrade", []probe{
		{"allowed source", "tcp", "10.9.0.5", "10.9.0.2", 80, true},
		{"other source", "tcp", "10.9.0.1", "10.9.0.2", 80, false},
	})
	if got, _ := f.Installed(); got[7] != "vif1.0" {
		t.Errorf("anti-spoofing lost in the upgrade: %v", got)
	}
}

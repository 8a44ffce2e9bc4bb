package shaper

import (
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/xenagent/xenagent/network/nettest"
)

// qdiscBytes is what the root qdisc of a link has sent.
func qdiscBytes(t *testing.T, h *netlink.Handle, name string) uint64 {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Statistics != nil {
			return q.Attrs().Statistics.Basic.Bytes
		}
	}
	return 0
}

func TestShapeBothWays(t *testing.T) {
	host := nettest.New(t, "xa-shape-host")
	guest := nettest.New(t, "xa-shape-guest")
	host.Veth(t, "vif9.0", guest, "eth0")
	host.Addr(t, "vif9.0", "10.99.1.1/24")
	guest.Addr(t, "eth0", "10.99.1.2/24")
	s := New(host.H)

	if err := s.Apply("vif9.0", "xa-i9", Limits{ToVM: 8_000_000, FromVM: 4_000_000}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Inspect("vif9.0", "xa-i9")
	if err != nil || st != (State{ToVM: 8_000_000, FromVM: 4_000_000, Redirected: true}) {
		t.Fatalf("state = %+v, %v", st, err)
	}
	// Traffic flows through both shapers: requests leave by the vif's
	// root qdisc, replies come in redirected through the IFB's.
	if out, err := host.Run("ping", "-c", "3", "-i", "0.2", "-W", "1", "-s", "1000", "10.99.1.2"); err != nil {
		t.Fatalf("ping through the shapers: %v\n%s", err, out)
	}
	if to, from := qdiscBytes(t, host.H, "vif9.0"), qdiscBytes(t, host.H, "xa-i9"); to < 3000 || from < 3000 {
		t.Fatalf("bytes through the shapers: to the VM %d, from the VM %d", to, from)
	}
	ifb, _ := host.H.LinkByName("xa-i9")
	if ifb.Attrs().TxQLen == 0 || ifb.Attrs().OperState == netlink.OperDown {
		t.Fatalf("ifb txqueuelen %d, state %v", ifb.Attrs().TxQLen, ifb.Attrs().OperState)
	}
	gso := func(want uint32) {
		t.Helper()
		l, err := host.H.LinkByName("vif9.0")
		if err != nil || l.Attrs().GSOMaxSize != want {
			t.Fatalf("vif9.0 GSO max size = %d (%v), want %d", l.Attrs().GSOMaxSize, err, want)
		}
	}
	gso(10_000) // 8 Mbit/s: a 10 ms burst, and no GSO packet larger

	// The rate changes live, and applying twice changes nothing.
	for range 2 {
		if err := s.Apply("vif9.0", "xa-i9", Limits{ToVM: 100_000_000, FromVM: 1_000_000_000}); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Inspect("vif9.0", "xa-i9"); st != (State{ToVM: 100_000_000, FromVM: 1_000_000_000, Redirected: true}) {
		t.Fatalf("after update: %+v", st)
	}
	if out, err := host.Run("ping", "-c", "1", "-W", "1", "10.99.1.2"); err != nil {
		t.Fatalf("ping after a live update: %v\n%s", err, out)
	}
	gso(65536) // a 125 KB burst takes any GSO packet: the default is back
	if err := s.Apply("vif9.0", "xa-i9", Limits{ToVM: 1_000_000, FromVM: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	gso(minGSO)

	// Removing leaves nothing: no qdisc of ours, no IFB; twice is fine.
	for range 2 {
		if err := s.Remove("vif9.0", "xa-i9"); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Inspect("vif9.0", "xa-i9"); st != (State{}) {
		t.Fatalf("after remove: %+v", st)
	}
	gso(65536)
	if _, err := host.H.LinkByName("xa-i9"); err == nil {
		t.Fatal("ifb left after remove")
	}
	vif, _ := host.H.LinkByName("vif9.0")
	qs, _ := host.H.QdiscList(vif)
	for _, q := range qs {
		if q.Type() == "tbf" || q.Type() == "ingress" {
			t.Fatalf("qdisc left after remove: %v", q)
		}
	}

	// A vif that Xen already removed: Remove still deletes the IFB.
	if err := s.Apply("vif9.0", "xa-i9", Limits{ToVM: 1_000_000, FromVM: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	host.H.LinkDel(vif)
	if err := s.Remove("vif9.0", "xa-i9"); err != nil {
		t.Fatalf("remove after the vif went: %v", err)
	}
	if _, err := host.H.LinkByName("xa-i9"); err == nil {
		t.Fatal("ifb left after its vif went")
	}
}

package wire

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/xenagent/xenagent/network/antispoof"
	"github.com/xenagent/xenagent/network/nettest"
	"github.com/xenagent/xenagent/network/shaper"
)

var mac = net.HardwareAddr{0xaa, 0, 0, 0, 0, 5}

type rig struct {
	host, guest *nettest.NS
	w           *Wirer
}

func newRig(tb testing.TB) *rig {
	host, guest := nettest.New(tb, "xa-wire-host"), nettest.New(tb, "xa-wire-guest")
	f, err := antispoof.New(nftables.WithNetNSFd(int(host.Fd)))
	if err != nil {
		tb.Fatal(err)
	}
	reaper, err := netlink.NewHandleAt(host.Fd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(reaper.Close)
	r := &rig{host: host, guest: guest, w: New(host.H, f, shaper.WithReaper(reaper))}
	if err := r.w.EnsureBridge("xabr0"); err != nil {
		tb.Fatal(err)
	}
	return r
}

func (r *rig) plug(tb testing.TB, dev string) {
	vif, eth := r.host.Veth(tb, dev, r.guest, "eth0")
	br, _ := r.host.H.LinkByName("xabr0")
	if err := r.host.H.LinkSetMaster(vif, br); err != nil {
		tb.Fatal(err)
	}
	r.guest.H.LinkSetDown(eth)
	r.guest.H.LinkSetHardwareAddr(eth, mac)
	r.guest.H.LinkSetUp(eth)
}

func iface(dev string, bw uint64) Iface {
	return Iface{ID: 5, Dev: dev, MAC: mac, IPv4: []netip.Addr{netip.MustParseAddr("10.8.0.5")}, Bandwidth: bw}
}

func TestWireLifecycle(t *testing.T) {
	r := newRig(t)
	r.plug(t, "vif3.0")
	r.host.Addr(t, "xabr0", "10.8.0.1/24")
	r.guest.Addr(t, "eth0", "10.8.0.5/24")
	if err := r.w.EnsureBridge("xabr0"); err != nil {
		t.Fatalf("ensuring an existing bridge: %v", err)
	}
	if err := r.w.EnsureBridge("vif3.0"); err == nil {
		t.Fatal("a veth was taken for a bridge")
	}

	if err := r.w.Wire(context.Background(), iface("vif3.0", 102400)); err != nil {
		t.Fatal(err)
	}
	st, err := r.w.Inspect(5, "vif3.0")
	want := State{Shaping: shaper.State{ToVM: 102400, FromVM: 102400, Redirected: true}, Filtered: true, Dev: "vif3.0"}
	if err != nil || st != want {
		t.Fatalf("state = %+v, %v; want %+v", st, err, want)
	}
	before, _ := r.w.Read(context.Background(), "vif3.0")
	if out, err := r.guest.Run("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.8.0.1"); err != nil {
		t.Fatalf("ping through the wiring: %v\n%s", err, out)
	}
	after, err := r.w.Read(context.Background(), "vif3.0")
	if err != nil || after.TxPackets < before.TxPackets+2 || after.RxPackets < before.RxPackets+2 {
		t.Fatalf("counters %+v -> %+v, %v", before, after, err)
	}

	// The VM stopped: its device is gone; the IFB goes, the filter stays.
	vif, _ := r.host.H.LinkByName("vif3.0")
	r.host.H.LinkDel(vif)
	if err := r.w.Unplugged(context.Background(), 5, "vif3.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.host.H.LinkByName(IFBName(5)); err == nil {
		t.Fatal("IFB left after unplug")
	}
	if st, _ := r.w.Inspect(5, ""); !st.Filtered {
		t.Fatal("filter removed at unplug")
	}
	// Started again under a new name (Xen), wired again.
	r.plug(t, "vif4.0")
	r.guest.Addr(t, "eth0", "10.8.0.5/24")
	if err := r.w.Wire(context.Background(), iface("vif4.0", 1_000_000)); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.w.Inspect(5, "vif4.0"); st.Dev != "vif4.0" || st.Shaping.ToVM != 1_000_000 {
		t.Fatalf("after rename: %+v", st)
	}
	if err := r.w.Unwire(context.Background(), 5, "vif4.0"); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.w.Inspect(5, "vif4.0"); st != (State{}) {
		t.Fatalf("after unwire: %+v", st)
	}
	// The IFBs were deleted in the background: none is left once settled.
	if err := r.w.Settle(); err != nil {
		t.Fatal(err)
	}
	links, _ := r.host.H.LinkList()
	for _, l := range links {
		if l.Type() == "ifb" {
			t.Errorf("IFB %s left after unwire", l.Attrs().Name)
		}
	}
}

// Sweep removes what belongs to no record and keeps the rest.
func TestSweep(t *testing.T) {
	r := newRig(t)
	r.plug(t, "vif3.0")
	if err := r.w.Wire(context.Background(), iface("vif3.0", 102400)); err != nil {
		t.Fatal(err)
	}
	other := iface("vif3.0", 102400)
	other.ID = 6
	attrs := netlink.NewLinkAttrs()
	attrs.Name = IFBName(6)
	r.host.H.LinkAdd(&netlink.Ifb{LinkAttrs: attrs})
	// One retired for deletion when the agent was killed.
	attrs.Name = shaper.RetiredPrefix + "77"
	r.host.H.LinkAdd(&netlink.Ifb{LinkAttrs: attrs})
	r.w.filter.Apply(antispoof.Iface{ID: 6, Dev: "vif9.9", MAC: mac})
	got, err := r.w.Sweep(context.Background(), func(id int64) bool { return id == 5 })
	if err != nil || !slices.Equal(got.IFBs, []string{IFBName(6), shaper.RetiredPrefix + "77"}) || len(got.Filters) != 1 || got.Filters[0] != 6 {
		t.Fatalf("swept %+v, %v", got, err)
	}
	if st, _ := r.w.Inspect(5, "vif3.0"); !st.Filtered || !st.Shaping.Redirected {
		t.Fatalf("sweep touched a kept iface: %+v", st)
	}
}

// BenchmarkWireUnwire is the time to wire and unwire one interface
// (target: at most 20 ms for both), and as reap-ms/op the deletion of its
// IFB that follows in the background, outside the timed part.
func BenchmarkWireUnwire(b *testing.B) {
	r := newRig(b)
	r.plug(b, "vif3.0")
	var reap time.Duration
	for b.Loop() {
		if err := r.w.Wire(context.Background(), iface("vif3.0", 100_000_000)); err != nil {
			b.Fatal(err)
		}
		if err := r.w.Unwire(context.Background(), 5, "vif3.0"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		start := time.Now()
		if err := r.w.Settle(); err != nil {
			b.Fatal(err)
		}
		reap += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(reap.Microseconds())/1000/float64(b.N), "reap-ms/op")
}

package hosttest

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

// WiringRig is a Wiring under test and the suite's hands on its machine.
type WiringRig struct {
	Wiring host.Wiring
	// Plug makes the backend device i.Dev of a VM holding i.MAC and
	// i.IPv4[0], as the VM's start does; Unplug removes it, as its stop
	// does.
	Plug   func(t *testing.T, i host.WireSpec)
	Unplug func(t *testing.T, dev string)
	// Inspect reads back what is in place for interface id on dev.
	Inspect func(id int64, dev string) (Wired, error)
	// Traffic makes the VM behind i.Dev exchange at least two packets
	// each way with the host (gateway: the first address of i.IPv4[0]'s /24).
	Traffic func(t *testing.T, i host.WireSpec)
}

// Wired is what is in place for an interface: its filter (and the
// device it is on), its IFB (the device shaping what the VM sends, which
// outlives the VM's device until Unplugged), and the rates in place on
// one device each way (0: none).
type Wired struct {
	Filtered     bool
	FilterDev    string
	Firewalled   bool // the filter has firewall rules
	IFB          bool
	ToVM, FromVM uint64
}

// WireSpec is the suite's interface id on dev: a MAC and an address
// derived from the id (10.8.0.id/24).
func WireSpec(id int64, dev string, bw uint64) host.WireSpec {
	return host.WireSpec{ID: id, Dev: dev, MAC: net.HardwareAddr{0xaa, 0, 0, 0, 0, byte(id)},
		IPv4: []netip.Addr{netip.AddrFrom4([4]byte{10, 8, 0, byte(id)})}, Bandwidth: bw}
}

// WiringSuite checks a Wiring against the port's contract.
func WiringSuite(t *testing.T, newRig func(t *testing.T) WiringRig) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, r *wireRig)
	}{
		{"wire filters and shapes; again replaces", wireAgain},
		{"refused without bandwidth, never shaped without device", wireRefused},
		{"unlimited: filtered, not shaped; a rate again shapes", wireUnlimited},
		{"unplugged keeps the filter for the next device", wireUnplugged},
		{"unwire removes everything; again is done", wireUnwire},
		{"sweep removes only what keep refuses", wireSweep},
		{"counters as the VM sees them", wireCounters},
		{"firewall goes with the filter, across devices", wireFirewall},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, &wireRig{WiringRig: newRig(t), t: t, ctx: context.Background()}) })
	}
}

type wireRig struct {
	WiringRig
	t   *testing.T
	ctx context.Context
}

func (r *wireRig) wire(i host.WireSpec) {
	r.t.Helper()
	if err := r.Wiring.Wire(r.ctx, i); err != nil {
		r.t.Fatalf("wiring %d on %s: %v", i.ID, i.Dev, err)
	}
}

// is fails unless what is in place for id on dev is want.
func (r *wireRig) is(what string, id int64, dev string, want Wired) {
	r.t.Helper()
	got, err := r.Inspect(id, dev)
	if err != nil || got != want {
		r.t.Fatalf("%s: iface %d on %q has %+v, %v; want %+v", what, id, dev, got, err, want)
	}
}

func wireAgain(t *testing.T, r *wireRig) {
	i := WireSpec(5, "vif3.0", 102400)
	r.Plug(t, i)
	for _, bw := range []uint64{102400, 102400, 1_000_000} {
		i.Bandwidth = bw
		r.wire(i)
		r.is("wired", 5, "vif3.0", Wired{Filtered: true, FilterDev: "vif3.0", IFB: true, ToVM: bw, FromVM: bw})
	}
}

func wireRefused(t *testing.T, r *wireRig) {
	i := WireSpec(5, "vif3.0", 0)
	r.Plug(t, i)
	if err := r.Wiring.Wire(r.ctx, i); err == nil {
		t.Fatal("wired without bandwidth")
	}
	r.is("refused", 5, "vif3.0", Wired{})
	// A device not there yet (its VM is starting) is not shaped; the
	// filter may go in first, since it is keyed by the iface.
	absent := WireSpec(6, "vif9.0", 102400)
	if err := r.Wiring.Wire(r.ctx, absent); err == nil {
		t.Fatal("wired a device that is not there")
	}
	r.Plug(t, absent)
	if got, err := r.Inspect(6, "vif9.0"); err != nil || got.IFB || got.ToVM != 0 || got.FromVM != 0 {
		t.Fatalf("a device plugged after a failed wiring is shaped: %+v, %v", got, err)
	}
}

// wireUnlimited: an unlimited iface keeps its filter and loses its
// shaping, both ways, IFB included, and a rate shapes it again.
func wireUnlimited(t *testing.T, r *wireRig) {
	i := WireSpec(5, "vif3.0", 1_000_000)
	r.Plug(t, i)
	r.wire(i)
	for range 2 {
		r.wire(host.WireSpec{ID: i.ID, Dev: i.Dev, MAC: i.MAC, IPv4: i.IPv4, Unlimited: true})
		r.is("unlimited", 5, "vif3.0", Wired{Filtered: true, FilterDev: "vif3.0"})
	}
	r.wire(i)
	r.is("limited again", 5, "vif3.0", Wired{Filtered: true, FilterDev: "vif3.0", IFB: true, ToVM: 1_000_000, FromVM: 1_000_000})
}

func wireUnplugged(t *testing.T, r *wireRig) {
	// The device is gone by the time Unplugged hears of it, named or not
	// (a link event's handler knows only the iface).
	for _, dev := range []string{"vif3.0", ""} {
		i := WireSpec(5, "vif3.0", 102400)
		r.Plug(t, i)
		r.wire(i)
		r.Unplug(t, "vif3.0")
		if err := r.Wiring.Unplugged(r.ctx, 5, dev); err != nil {
			t.Fatalf("unplugged (%q): %v", dev, err)
		}
		r.is("unplugged", 5, "", Wired{Filtered: true, FilterDev: "vif3.0"})
		// Started again under a new name (Xen), wired again.
		next := WireSpec(5, "vif4.0", 1_000_000)
		r.Plug(t, next)
		r.wire(next)
		r.is("wired again", 5, "vif4.0", Wired{Filtered: true, FilterDev: "vif4.0", IFB: true, ToVM: 1_000_000, FromVM: 1_000_000})
		r.Unplug(t, "vif4.0")
		if err := r.Wiring.Unwire(r.ctx, 5, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func wireUnwire(t *testing.T, r *wireRig) {
	i := WireSpec(5, "vif3.0", 102400)
	r.Plug(t, i)
	r.wire(i)
	for n := range 2 {
		if err := r.Wiring.Unwire(r.ctx, 5, "vif3.0"); err != nil {
			t.Fatalf("unwire %d: %v", n+1, err)
		}
		r.is("unwired", 5, "vif3.0", Wired{})
	}
	if err := r.Wiring.Unplugged(r.ctx, 5, "vif3.0"); err != nil {
		t.Fatalf("unplugged with nothing in place: %v", err)
	}
	left, err := r.Wiring.Sweep(r.ctx, func(int64) bool { return false })
	if err != nil || len(left.IFBs)+len(left.Filters) > 0 {
		t.Fatalf("after unwire, a sweep found %+v, %v", left, err)
	}
}

func wireSweep(t *testing.T, r *wireRig) {
	kept, swept := WireSpec(5, "vif3.0", 102400), WireSpec(6, "vif5.0", 102400)
	for _, i := range []host.WireSpec{kept, swept} {
		r.Plug(t, i)
		r.wire(i)
	}
	keep := func(id int64) bool { return id == 5 }
	left, err := r.Wiring.Sweep(r.ctx, keep)
	if err != nil || !slices.Equal(left.Filters, []int64{6}) || len(left.IFBs) != 1 {
		t.Fatalf("swept %+v, %v; want the filter of 6 and one IFB", left, err)
	}
	r.is("kept", 5, "vif3.0", Wired{Filtered: true, FilterDev: "vif3.0", IFB: true, ToVM: 102400, FromVM: 102400})
	if got, err := r.Inspect(6, "vif5.0"); err != nil || got.Filtered || got.IFB {
		t.Fatalf("swept iface still has %+v, %v", got, err)
	}
	if left, err := r.Wiring.Sweep(r.ctx, keep); err != nil || len(left.IFBs)+len(left.Filters) > 0 {
		t.Fatalf("a second sweep found %+v, %v", left, err)
	}
}

func wireCounters(t *testing.T, r *wireRig) {
	i := WireSpec(5, "vif3.0", 100_000_000)
	r.Plug(t, i)
	r.wire(i)
	before, err := r.Wiring.Read(r.ctx, "vif3.0")
	if err != nil {
		t.Fatal(err)
	}
	r.Traffic(t, i)
	after, err := r.Wiring.Read(r.ctx, "vif3.0")
	if err != nil || after.TxPackets < before.TxPackets+2 || after.RxPackets < before.RxPackets+2 ||
		after.TxBytes <= before.TxBytes || after.RxBytes <= before.RxBytes {
		t.Fatalf("counters %+v -> %+v, %v", before, after, err)
	}
	if _, err := r.Wiring.Read(r.ctx, "vif-none"); err == nil {
		t.Fatal("read a device that is not there")
	}
}

func wireFirewall(t *testing.T, r *wireRig) {
	i := WireSpec(5, "vif3.0", 100_000_000)
	i.Firewall = &host.Firewall{DropByDefault: true, Rules: []host.FirewallRule{
		{Protocol: host.ProtoTCP, PortMin: 22, PortMax: 22, Source: netip.MustParsePrefix("10.8.0.0/24")}}}
	r.Plug(t, i)
	r.wire(i)
	r.is("wired with a firewall", 5, "vif3.0", Wired{Filtered: true, FilterDev: "vif3.0", Firewalled: true, IFB: true, ToVM: i.Bandwidth, FromVM: i.Bandwidth})
	// A drop policy leaves the VM's own traffic alone.
	r.Traffic(t, i)
	// Its VM stops: the firewall stays with the filter.
	r.Unplug(t, "vif3.0")
	if err := r.Wiring.Unplugged(r.ctx, 5, ""); err != nil {
		t.Fatal(err)
	}
	r.is("unplugged", 5, "", Wired{Filtered: true, FilterDev: "vif3.0", Firewalled: true})
	// Wiring without one removes it; too many rules are refused.
	next := WireSpec(5, "vif4.0", 100_000_000)
	r.Plug(t, next)
	r.wire(next)
	r.is("wired without a firewall", 5, "vif4.0", Wired{Filtered: true, FilterDev: "vif4.0", IFB: true, ToVM: next.Bandwidth, FromVM: next.Bandwidth})
	next.Firewall = &host.Firewall{Rules: make([]host.FirewallRule, host.MaxFirewallRules+1)}
	if err := r.Wiring.Wire(r.ctx, next); err == nil {
		t.Fatalf("wired %d firewall rules", len(next.Firewall.Rules))
	}
	next.Firewall.Rules = next.Firewall.Rules[:host.MaxFirewallRules]
	r.wire(next)
	if err := r.Wiring.Unwire(r.ctx, 5, "vif4.0"); err != nil {
		t.Fatal(err)
	}
	r.is("unwired", 5, "vif4.0", Wired{})
}

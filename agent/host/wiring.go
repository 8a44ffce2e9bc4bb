package host

import (
	"context"
	"net"
	"net/netip"
)

// Wiring puts an interface's host side in order once its backend device
// exists: filters, shaping both ways, and its counters. The filter of an
// interface is keyed by its id and outlives its devices (a Xen vif is
// named anew at every start); the shaping belongs to the device.
// host/hosttest.WiringSuite checks every implementation against these
// rules.
type Wiring interface {
	// Wire applies the filter, then the shaping (so a device is never
	// shaped but unfiltered); wiring again replaces what is there, on the
	// same device or a new one. The device must exist.
	Wire(ctx context.Context, i WireSpec) error
	// Unplugged: the device went away (its VM stopped) or is about to;
	// the shaping goes, the filter stays for the next device. dev may be
	// "" when unknown; nothing in place is done.
	Unplugged(ctx context.Context, id int64, dev string) error
	// Unwire removes everything of an interface (detached or deleted);
	// nothing in place is done.
	Unwire(ctx context.Context, id int64, dev string) error
	// Read returns a device's counters as the VM sees them (what the
	// host side sends, the VM receives); a missing device is an error.
	Read(ctx context.Context, dev string) (Counters, error)
	// Sweep removes what is in place for interfaces keep refuses, and
	// says what it removed.
	Sweep(ctx context.Context, keep func(id int64) bool) (Leftovers, error)
}

// WireSpec is everything wiring needs about one interface.
type WireSpec struct {
	ID   int64
	Dev  string
	MAC  net.HardwareAddr
	IPv4 []netip.Addr
	IPv6 []netip.Addr
	// Bandwidth is bit/s, each way; it must be set (Wire refuses 0)
	// unless Unlimited says the device is not to be shaped at all (what
	// shaping there is goes).
	Bandwidth uint64
	// Firewall filters what reaches the VM; nil lets everything in.
	Firewall  *Firewall
	Unlimited bool
}

// Counters are bytes and packets from the VM's point of view.
type Counters struct {
	RxBytes, TxBytes, RxPackets, TxPackets uint64
}

// Leftovers are what a sweep removed: shaping devices and filters of
// interfaces no record refers to.
type Leftovers struct {
	IFBs    []string
	Filters []int64
}

// LinkEvent is a device appearing, changing or going away.
type LinkEvent struct {
	Name string
	Gone bool
	// Counters is what the device had counted, as the kernel reported it
	// with the event (with Gone: its last counts). A Xen vif's counts are
	// zero by then (netback frees its queues, which hold them, before the
	// device goes), a tap's are whole.
	Counters Counters
	Counted  bool
}

// LinkWatcher reports link changes to fn until ctx ends; fn runs on one
// goroutine, in order.
type LinkWatcher func(ctx context.Context, fn func(LinkEvent)) error

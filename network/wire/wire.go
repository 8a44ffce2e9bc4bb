// Package wire puts a VM interface's host side in order once its backend
// device exists (a Xen vifD.N or a QEMU tap): the anti-spoofing rules,
// the bandwidth limit both ways, and its traffic counters. It knows
// nothing of records or hypervisors; the service tells it what to wire.
package wire

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/network/antispoof"
	"github.com/xenagent/xenagent/network/shaper"
	"golang.org/x/sys/unix"
)

// Wirer wires interfaces in one network namespace.
type Wirer struct {
	h      *netlink.Handle
	shape  *shaper.Shaper
	filter *antispoof.Filter
}

// New wires through h (bound to the host's namespace, or a test's) and
// the filter of the same namespace.
func New(h *netlink.Handle, f *antispoof.Filter, opts ...shaper.Option) *Wirer {
	return &Wirer{h: h, shape: shaper.New(h, opts...), filter: f}
}

// Settle waits for the IFB deletions still running in the background
// (see shaper.WithReaper) and reports their failures.
func (w *Wirer) Settle() error { return w.shape.Settle() }

// IFBName is the IFB device that shapes what interface id sends.
func IFBName(id int64) string { return "xa-i" + strconv.FormatInt(id, 10) }

// Wire applies the filter, then the shaping: a device is never shaped
// but unfiltered. Wiring again (a rename, a new rate, a restart) replaces
// what is there.
func (w *Wirer) Wire(_ context.Context, i Iface) error {
	if i.Bandwidth == 0 && !i.Unlimited {
		return fmt.Errorf("wiring iface %d: no bandwidth", i.ID)
	}
	if err := w.filter.Apply(antispoof.Iface{ID: i.ID, Dev: i.Dev, MAC: i.MAC, IPv4: i.IPv4, IPv6: i.IPv6, Inbound: inbound(i.Firewall)}); err != nil {
		return err
	}
	l := shaper.Limits{ToVM: i.Bandwidth, FromVM: i.Bandwidth}
	if i.Unlimited {
		// Zero limits: the shaper takes its qdiscs and the IFB away.
		l = shaper.Limits{}
	}
	return w.shape.Apply(i.Dev, IFBName(i.ID), l)
}

// Unplugged is called when an interface's device went away (its VM
// stopped) or is about to: the IFB goes, the filter stays for the next
// device of the same interface.
func (w *Wirer) Unplugged(_ context.Context, id int64, dev string) error {
	return w.shape.Remove(dev, IFBName(id))
}

// Unwire removes everything of an interface (detached or deleted).
func (w *Wirer) Unwire(_ context.Context, id int64, dev string) error {
	if err := w.shape.Remove(dev, IFBName(id)); err != nil {
		return err
	}
	return w.filter.Remove(id)
}

// State is what is in place for an interface, read back from the kernel.
type State struct {
	Shaping  shaper.State
	Filtered bool
	Dev      string
	// Firewalled: the filter has firewall rules (or a drop policy).
	Firewalled bool
}

// Inspect reads back an interface's wiring.
func (w *Wirer) Inspect(id int64, dev string) (State, error) {
	var st State
	installed, err := w.filter.Installed()
	if err != nil {
		return st, err
	}
	st.Dev, st.Filtered = installed[id]
	if st.Firewalled, err = w.filter.Firewalled(id); err != nil {
		return st, err
	}
	if dev != "" {
		if st.Shaping, err = w.shape.Inspect(dev, IFBName(id)); err != nil {
			var nf netlink.LinkNotFoundError
			if !errors.As(err, &nf) {
				return st, err
			}
		}
	}
	return st, nil
}

// Read returns the device's counters as the VM sees them: what the host
// side transmits, the VM receives.
func (w *Wirer) Read(_ context.Context, dev string) (Counters, error) {
	l, err := w.h.LinkByName(dev)
	if err != nil {
		return Counters{}, err
	}
	s := l.Attrs().Statistics
	if s == nil {
		return Counters{}, fmt.Errorf("%s has no statistics", dev)
	}
	return vmView(s), nil
}

// Sweep removes IFBs and filters of interfaces for which keep is false,
// and returns what it removed. It never touches other devices.
func (w *Wirer) Sweep(ctx context.Context, keep func(id int64) bool) (Leftovers, error) {
	var out Leftovers
	// Deletions still running would race the sweep's own; their failures
	// leave devices that the sweep deletes below.
	_ = w.shape.Settle()
	links, err := w.h.LinkList()
	if err != nil {
		return out, err
	}
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "ifb" {
			continue
		}
		// An IFB retired for deletion belongs to no interface any more.
		if !strings.HasPrefix(name, shaper.RetiredPrefix) {
			id, err := strconv.ParseInt(strings.TrimPrefix(name, "xa-i"), 10, 64)
			if !strings.HasPrefix(name, "xa-i") || err != nil || keep(id) {
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if err := w.h.LinkDel(l); err != nil {
			return out, fmt.Errorf("deleting %s: %w", name, err)
		}
		out.IFBs = append(out.IFBs, name)
	}
	installed, err := w.filter.Installed()
	if err != nil {
		return out, err
	}
	for id := range installed {
		if keep(id) {
			continue
		}
		if err := w.filter.Remove(id); err != nil {
			return out, err
		}
		out.Filters = append(out.Filters, id)
	}
	return out, nil
}

// EnsureBridge creates a bridge if it is missing and brings it up.
func (w *Wirer) EnsureBridge(name string) error {
	l, err := w.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return err
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		if err := w.h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("creating bridge %s: %w", name, err)
		}
		if l, err = w.h.LinkByName(name); err != nil {
			return err
		}
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("%s exists and is a %s, not a bridge", name, l.Type())
	}
	return w.h.LinkSetUp(l)
}

// The wirer speaks the port's vocabulary (agent/host).
type (
	Iface     = host.WireSpec
	Counters  = host.Counters
	Leftovers = host.Leftovers
	LinkEvent = host.LinkEvent
)

var _ host.Wiring = (*Wirer)(nil)

// WatchLinks reports link changes in the namespace ns (nil: the
// caller's) to fn until ctx ends. fn runs on one goroutine, in order.
func WatchLinks(ctx context.Context, ns *netns.NsHandle, fn func(LinkEvent)) error {
	updates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	errs := make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{Namespace: ns, ErrorCallback: func(err error) {
		select {
		case errs <- err:
		default:
		}
	}}
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		return fmt.Errorf("watching links: %w", err)
	}
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return fmt.Errorf("watching links: %w", err)
		case u, ok := <-updates:
			if !ok {
				return errors.New("watching links: subscription closed")
			}
			ev := LinkEvent{Name: u.Attrs().Name, Gone: u.Header.Type == unix.RTM_DELLINK}
			if st := u.Attrs().Statistics; st != nil {
				ev.Counters, ev.Counted = vmView(st), true
			}
			fn(ev)
		}
	}
}

func vmView(s *netlink.LinkStatistics) Counters {
	return Counters{RxBytes: s.TxBytes, TxBytes: s.RxBytes, RxPackets: s.TxPackets, TxPackets: s.RxPackets}
}

package hostfake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
)

// ErrNoDevice means a device the wiring needs is not plugged.
var ErrNoDevice = errors.New("no such device")

// Wiring is an in-memory host.Wiring over devices that tests (or the
// fake Hypervisor, given it as Links) plug and unplug. Like the real one,
// it keys an interface's filter by its id, apart from any device, and its
// shaping by the device.
type Wiring struct {
	Faults

	mu       sync.Mutex
	devs     map[string]host.Counters
	filters  map[int64]Filter
	shaped   map[int64]Shaping
	watchers map[int]chan host.LinkEvent
	nextW    int
}

// Filter is an interface's anti-spoofing filter: only its MAC and IPs
// get out of Dev.
type Filter struct {
	Dev  string
	MAC  net.HardwareAddr
	IPv4 []netip.Addr
	IPv6 []netip.Addr
	// Firewall is what may reach the VM; nil: everything.
	Firewall *host.Firewall
}

// Shaping is an interface's rate limit on Dev, each way, in bit/s; IFB
// is the device that shapes what the VM sends.
type Shaping struct {
	Dev          string
	IFB          string
	ToVM, FromVM uint64
}

// Wired is what is in place for one interface.
type Wired struct {
	Filter  *Filter
	Shaping *Shaping
}

var _ host.Wiring = (*Wiring)(nil)
var _ Links = (*Wiring)(nil)

// NewWiring returns a fake wiring with no devices.
func NewWiring() *Wiring {
	return &Wiring{devs: map[string]host.Counters{}, filters: map[int64]Filter{}, shaped: map[int64]Shaping{},
		watchers: map[int]chan host.LinkEvent{}}
}

func (w *Wiring) lock(ctx context.Context, method, name string, fn func() error) error {
	return w.call(ctx, method, name, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		return fn()
	})
}

func ifbName(id int64) string { return "xa-i" + strconv.FormatInt(id, 10) }

// Wire applies the filter, then the shaping, replacing what is there.
// A missing device fails the shaping: the filter stays, as on a host.
func (w *Wiring) Wire(ctx context.Context, i host.WireSpec) error {
	return w.lock(ctx, "Wire", strconv.FormatInt(i.ID, 10), func() error {
		if i.Bandwidth == 0 && !i.Unlimited {
			return fmt.Errorf("wiring iface %d: no bandwidth", i.ID)
		}
		if i.Dev == "" || len(i.MAC) == 0 {
			return fmt.Errorf("wiring iface %d: device %q, MAC %v: both are needed", i.ID, i.Dev, i.MAC)
		}
		if fw := i.Firewall; fw != nil && len(fw.Rules) > host.MaxFirewallRules {
			return fmt.Errorf("wiring iface %d: %d firewall rules, at most %d", i.ID, len(fw.Rules), host.MaxFirewallRules)
		}
		f := Filter{Dev: i.Dev, MAC: slices.Clone(i.MAC), IPv4: slices.Clone(i.IPv4), IPv6: slices.Clone(i.IPv6)}
		if i.Firewall != nil {
			f.Firewall = &host.Firewall{DropByDefault: i.Firewall.DropByDefault, Rules: slices.Clone(i.Firewall.Rules)}
		}
		w.filters[i.ID] = f
		if _, ok := w.devs[i.Dev]; !ok {
			return fmt.Errorf("shaping %s: %w", i.Dev, ErrNoDevice)
		}
		if i.Unlimited {
			delete(w.shaped, i.ID)
			return nil
		}
		w.shaped[i.ID] = Shaping{Dev: i.Dev, IFB: ifbName(i.ID), ToVM: i.Bandwidth, FromVM: i.Bandwidth}
		return nil
	})
}

// Unplugged removes an interface's shaping; its filter stays.
func (w *Wiring) Unplugged(ctx context.Context, id int64, dev string) error {
	return w.lock(ctx, "Unplugged", strconv.FormatInt(id, 10), func() error {
		delete(w.shaped, id)
		return nil
	})
}

// Unwire removes an interface's shaping and filter.
func (w *Wiring) Unwire(ctx context.Context, id int64, dev string) error {
	return w.lock(ctx, "Unwire", strconv.FormatInt(id, 10), func() error {
		delete(w.shaped, id)
		delete(w.filters, id)
		return nil
	})
}

// Read returns a plugged device's counters.
func (w *Wiring) Read(ctx context.Context, dev string) (host.Counters, error) {
	var c host.Counters
	err := w.lock(ctx, "Read", dev, func() error {
		var ok bool
		if c, ok = w.devs[dev]; !ok {
			return fmt.Errorf("reading %s: %w", dev, ErrNoDevice)
		}
		return nil
	})
	return c, err
}

// Sweep removes the shaping and filters of interfaces keep refuses.
func (w *Wiring) Sweep(ctx context.Context, keep func(id int64) bool) (host.Leftovers, error) {
	var out host.Leftovers
	err := w.lock(ctx, "Sweep", "", func() error {
		for id, s := range w.shaped {
			if !keep(id) {
				delete(w.shaped, id)
				out.IFBs = append(out.IFBs, s.IFB)
			}
		}
		for id := range w.filters {
			if !keep(id) {
				delete(w.filters, id)
				out.Filters = append(out.Filters, id)
			}
		}
		return nil
	})
	sort.Strings(out.IFBs)
	slices.Sort(out.Filters)
	return out, err
}

// Plug makes a backend device (counting from zero), as a domain's start
// does; plugging one that exists does nothing. Watchers hear of it.
func (w *Wiring) Plug(dev string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.devs[dev]; ok {
		return
	}
	w.devs[dev] = host.Counters{}
	w.notify(host.LinkEvent{Name: dev, Counted: true})
}

// Unplug removes a device, as a domain's stop does. Its shaping stays
// until Unplugged or Unwire, as a host's IFB outlives the device it
// shaped. Watchers hear its last counts (whole, as a tap's).
func (w *Wiring) Unplug(dev string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.devs[dev]
	if !ok {
		return
	}
	delete(w.devs, dev)
	w.notify(host.LinkEvent{Name: dev, Gone: true, Counters: c, Counted: true})
}

// SetCounters sets what a plugged device counted, as the VM sees it.
func (w *Wiring) SetCounters(dev string, c host.Counters) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.devs[dev]; !ok {
		return fmt.Errorf("counting on %s: %w", dev, ErrNoDevice)
	}
	w.devs[dev] = c
	return nil
}

// Devices lists the plugged devices, by name.
func (w *Wiring) Devices() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for d := range w.devs {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Wired reads back what is in place for interface id.
func (w *Wiring) Wired(id int64) Wired {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out Wired
	if f, ok := w.filters[id]; ok {
		out.Filter = &f
	}
	if s, ok := w.shaped[id]; ok {
		out.Shaping = &s
	}
	return out
}

// WatchLinks is a host.LinkWatcher over the fake's devices: fn hears of
// every Plug and Unplug from now until ctx ends, in order, on one
// goroutine.
func (w *Wiring) WatchLinks(ctx context.Context, fn func(host.LinkEvent)) error {
	ch := make(chan host.LinkEvent, 256)
	w.mu.Lock()
	id := w.nextW
	w.nextW++
	w.watchers[id] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.watchers, id)
		w.mu.Unlock()
	}()
	for {
		select {
		case ev := <-ch:
			fn(ev)
		case <-ctx.Done():
			return nil
		}
	}
}

func (w *Wiring) notify(ev host.LinkEvent) {
	for _, ch := range w.watchers {
		select {
		case ch <- ev:
		default: // as netlink's, a full subscription loses messages
		}
	}
}

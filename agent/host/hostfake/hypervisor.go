package hostfake

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

// Stopped events carry libvirt's detail codes, as the driver passes them on.
const (
	DetailShutdown  = 0 // the guest powered off
	DetailDestroyed = 1 // the host powered it off
	DetailCrashed   = 2
)

// Links is told when a domain's backend devices appear and go (at start,
// stop and hot-plug): a *Wiring is one.
type Links interface {
	Plug(dev string)
	Unplug(dev string)
}

// RebootStyle is how a guest's reboot shows.
type RebootStyle int

const (
	// RebootEvent: an EventRebooted, the domain id kept (QEMU).
	RebootEvent RebootStyle = iota
	// RebootNewID: the domain stops and starts again with a new id and
	// new devices, raising Stopped then Started (Xen).
	RebootNewID
	// RebootSilent: the reboot is over when Reboot returns and shows
	// nothing; RebootReportsItself is false (libvirt's test driver).
	RebootSilent
)

// Hypervisor is an in-memory host.Hypervisor.
type Hypervisor struct {
	Faults

	mu       sync.Mutex
	doms     map[string]*domain
	guests   map[string]Guest
	watchers map[int]watcher
	nextW    int
	lastID   uint
	style    RebootStyle
	links    Links
	offline  bool
	consoles consoles // console.go
	// noLiveShares: SetCPUShares refuses running domains.
	noLiveShares bool
	// savedDefOnly: Restore runs the saved definition (save.go).
	savedDefOnly bool
}

type watcher struct {
	name string
	ch   chan host.Event
}

// domain is a definition and, while it runs, its live side.
type domain struct {
	spec    host.DomainSpec // Disks and Seed are kept in disks
	disks   map[int]host.DiskSpec
	foreign bool // defined by someone else: no owner mark
	running bool
	paused  bool
	id      uint
	// boot changes at every start, stop and reset: a guest acting on a
	// message it got in an earlier boot does nothing.
	boot  uint64
	live  []host.LiveIface
	memMB int64
	// shares is the running domain's CPU weight (SetCPUShares).
	shares int64
	// maxMB is the most the domain may balloon to, fixed at Define
	// (MaxMemMB, else MemoryMB), as libvirt's <memory> is.
	maxMB int64
	// count is the guest's counter, its memory as far as a test can
	// see (GuestCount, save.go): 0 at every start.
	count int64
}

var _ host.Hypervisor = (*Hypervisor)(nil)

// HypervisorOption configures a fake Hypervisor.
type HypervisorOption func(*Hypervisor)

// WithLinks has the fake plug and unplug its domains' devices into l.
func WithLinks(l Links) HypervisorOption { return func(h *Hypervisor) { h.links = l } }

// WithRebootStyle sets how reboots show (RebootEvent by default).
func WithRebootStyle(s RebootStyle) HypervisorOption { return func(h *Hypervisor) { h.style = s } }

// NewHypervisor returns a fake hypervisor with no domains.
func NewHypervisor(opts ...HypervisorOption) *Hypervisor {
	h := &Hypervisor{doms: map[string]*domain{}, guests: map[string]Guest{}, watchers: map[int]watcher{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// transient is an error the engine retries (host.ErrDisconnected).
type transient struct{ error }

func (transient) Transient() bool    { return true }
func (t transient) Unwrap() error    { return t.error }
func (t transient) Error() string    { return t.error.Error() }
func noDomain(op, name string) error { return fmt.Errorf("%s %s: %w", op, name, host.ErrNoDomain) }

// effects are what a change does outside the fake's lock: devices that
// appear or go, then events, in that order (a vif exists before its
// domain's started event).
type effects struct {
	plug, unplug []string
	events       []host.Event
}

func (e *effects) event(name string, k host.EventKind, detail int) {
	e.events = append(e.events, host.Event{Name: name, Kind: k, Detail: detail, Time: time.Now()})
}

// do runs fn on the fake's state as method on name, then applies its effects.
func (h *Hypervisor) do(ctx context.Context, method, name string, fn func(e *effects) error) error {
	var e effects
	err := h.call(ctx, method, name, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.offline {
			return transient{fmt.Errorf("%s %s: %w", method, name, host.ErrDisconnected)}
		}
		return fn(&e)
	})
	h.apply(e)
	return err
}

func (h *Hypervisor) apply(e effects) {
	if h.links != nil {
		for _, d := range e.unplug {
			h.links.Unplug(d)
		}
		for _, d := range e.plug {
			h.links.Plug(d)
		}
	}
	for _, ev := range e.events {
		h.broadcast(ev)
	}
}

func (h *Hypervisor) broadcast(ev host.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.watchers {
		if w.name != "" && ev.Name != "" && w.name != ev.Name {
			continue
		}
		select {
		case w.ch <- ev:
		default: // a slow watcher loses events, as the driver's do
		}
	}
}

// Watch streams events of domain name ("" for all) until stop.
func (h *Hypervisor) Watch(name string) (<-chan host.Event, func()) {
	ch := make(chan host.Event, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextW
	h.nextW++
	h.watchers[id] = watcher{name: name, ch: ch}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.watchers, id)
	}
}

// Define creates or replaces a definition; a running domain keeps its
// live side. A name defined with another UUID is refused, as libvirt does.
func (h *Hypervisor) Define(ctx context.Context, spec host.DomainSpec) error {
	return h.do(ctx, "Define", spec.Name, func(e *effects) error { return h.define(spec, e) })
}

// define is Define under the fake's lock (Restore defines too).
func (h *Hypervisor) define(spec host.DomainSpec, e *effects) error {
	if spec.Name == "" || spec.MemoryMB <= 0 || spec.VCPUs < 0 {
		return fmt.Errorf("defining %q: a domain needs a name and memory", spec.Name)
	}
	d, ok := h.doms[spec.Name]
	if ok && d.spec.UUID != "" && spec.UUID != "" && d.spec.UUID != spec.UUID {
		return fmt.Errorf("defining %s: it exists with uuid %s", spec.Name, d.spec.UUID)
	}
	detail := 1 // updated
	if !ok {
		d, detail = &domain{}, 0 // added
		h.doms[spec.Name] = d
	}
	d.disks = map[int]host.DiskSpec{}
	for i, disk := range spec.Disks {
		d.disks[i] = disk
	}
	if spec.Seed != "" {
		d.disks[host.SeedPosition] = host.DiskSpec{Path: spec.Seed, ReadOnly: true}
	}
	spec.Disks, spec.Seed = nil, ""
	spec.Ifaces = append([]host.IfaceSpec(nil), spec.Ifaces...)
	d.spec, d.foreign, d.maxMB = spec, false, max(spec.MaxMemMB, spec.MemoryMB)
	e.event(spec.Name, host.EventDefined, detail)
	return nil
}

// Undefine powers a running domain off and forgets it; missing is done.
func (h *Hypervisor) Undefine(ctx context.Context, name string) error {
	return h.do(ctx, "Undefine", name, func(e *effects) error {
		d, ok := h.doms[name]
		if !ok {
			return nil
		}
		h.stop(name, d, DetailDestroyed, e)
		delete(h.doms, name)
		e.event(name, host.EventUndefined, 0)
		return nil
	})
}

// start boots d with a new id and plugs its devices.
func (h *Hypervisor) start(name string, d *domain, e *effects) {
	h.lastID++
	d.running, d.paused, d.id, d.memMB = true, false, h.lastID, d.spec.MemoryMB
	d.shares, d.count = d.spec.CPUShares, 0
	d.boot++
	d.live = nil
	for n, i := range d.spec.Ifaces {
		l := host.LiveIface{MAC: i.MAC, Dev: devName(d.id, n, i)}
		d.live = append(d.live, l)
		e.plug = append(e.plug, l.Dev)
	}
	e.event(name, host.EventStarted, 0)
}

// devName is a backend device's name: the tap we chose where there is
// no bridge (QEMU), else Xen's vifD.N, new at every start.
func devName(id uint, n int, i host.IfaceSpec) string {
	if i.Bridge == "" && i.Target != "" {
		return i.Target
	}
	return fmt.Sprintf("vif%d.%d", id, n)
}

// stop powers d off, if it runs, and unplugs its devices.
func (h *Hypervisor) stop(name string, d *domain, detail int, e *effects) {
	if !d.running {
		return
	}
	d.running, d.paused, d.id = false, false, 0
	d.boot++
	for _, l := range d.live {
		e.unplug = append(e.unplug, l.Dev)
	}
	d.live = nil
	e.event(name, host.EventStopped, detail)
}

// Start boots a domain; a running one is done, a paused one resumes.
func (h *Hypervisor) Start(ctx context.Context, name string) error {
	return h.do(ctx, "Start", name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("starting", name)
		case d.paused:
			d.paused = false
			e.event(name, host.EventResumed, 0)
		case !d.running:
			h.start(name, d, e)
		}
		return nil
	})
}

// Destroy powers a domain off; stopped or missing is done.
func (h *Hypervisor) Destroy(ctx context.Context, name string) error {
	return h.do(ctx, "Destroy", name, func(e *effects) error {
		if d, ok := h.doms[name]; ok {
			h.stop(name, d, DetailDestroyed, e)
		}
		return nil
	})
}

// Reset power-cycles a running domain: it keeps running and its id, and
// nothing is raised (libvirt's test driver does the same); a message its
// guest was acting on is forgotten.
func (h *Hypervisor) Reset(ctx context.Context, name string) error {
	return h.do(ctx, "Reset", name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("resetting", name)
		case !d.running:
			return fmt.Errorf("resetting %s: %w", name, host.ErrNotRunning)
		}
		d.boot++
		d.paused = false
		return nil
	})
}

// State reads a domain's state; missing is State{}.
func (h *Hypervisor) State(ctx context.Context, name string) (host.State, error) {
	var st host.State
	err := h.do(ctx, "State", name, func(*effects) error {
		if d, ok := h.doms[name]; ok {
			st = d.state()
		}
		return nil
	})
	return st, err
}

func (d *domain) state() host.State {
	return host.State{Exists: true, Running: d.running, Paused: d.paused, ID: d.id}
}

// WaitFor re-reads the state at every event for the domain until cond
// holds or ctx ends; a transient failure (disconnected) waits on.
func (h *Hypervisor) WaitFor(ctx context.Context, name string, cond func(host.State) bool) (host.State, error) {
	events, stop := h.Watch(name)
	defer stop()
	for {
		st, err := h.State(ctx, name)
		if err == nil && cond(st) {
			return st, nil
		}
		var t interface{ Transient() bool }
		if err != nil && ctx.Err() == nil && !(errors.As(err, &t) && t.Transient()) {
			return st, err
		}
		select {
		case <-events:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// Domains lists the domains defined through Define, by name.
func (h *Hypervisor) Domains(ctx context.Context) ([]host.Domain, error) {
	var out []host.Domain
	err := h.do(ctx, "Domains", "", func(*effects) error {
		for name, d := range h.doms {
			if !d.foreign {
				out = append(out, host.Domain{Name: name, VMID: d.spec.VMID, Owner: d.spec.Owner, State: d.state()})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// RebootReportsItself is false only for RebootSilent.
func (h *Hypervisor) RebootReportsItself() bool { return h.style != RebootSilent }

// Ping answers unless disconnected.
func (h *Hypervisor) Ping(ctx context.Context) error {
	return h.do(ctx, "Ping", "", func(*effects) error { return nil })
}

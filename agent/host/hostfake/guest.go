package hostfake

import (
	"context"
	"fmt"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

// Guest is how the guest of a fake domain answers what Shutdown and
// Reboot ask. The zero Guest obeys both at once, though never within the
// call: the caller has to wait for it, as with a real guest.
type Guest struct {
	// IgnoreShutdown and IgnoreReboot: the guest does nothing when asked
	// (hung, or without ACPI), so only Destroy or Reset end it.
	IgnoreShutdown bool
	IgnoreReboot   bool
	// Delay is how long an obeying guest takes to act.
	Delay time.Duration
}

// SetGuest sets how the guest of domain name answers from now on,
// whether or not the domain is defined yet; it survives Undefine.
func (h *Hypervisor) SetGuest(name string, g Guest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.guests[name] = g
}

// Shutdown asks the guest to power off; a stopped domain is done.
func (h *Hypervisor) Shutdown(ctx context.Context, name string) error {
	return h.do(ctx, "Shutdown", name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("shutting down", name)
		case !d.running:
			return nil
		}
		g := h.guests[name]
		if !g.IgnoreShutdown {
			h.later(name, d.boot, g.Delay, func(d *domain, e *effects) { h.stop(name, d, DetailShutdown, e) })
		}
		return nil
	})
}

// Reboot asks the guest to reboot; a stopped domain is ErrNotRunning.
// How the reboot shows is the fake's RebootStyle.
func (h *Hypervisor) Reboot(ctx context.Context, name string) error {
	return h.do(ctx, "Reboot", name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("rebooting", name)
		case !d.running:
			return fmt.Errorf("rebooting %s: %w", name, host.ErrNotRunning)
		}
		g := h.guests[name]
		switch {
		case g.IgnoreReboot:
		case h.style == RebootSilent:
			d.boot++ // within the call, and nothing shows
		default:
			h.later(name, d.boot, g.Delay, func(d *domain, e *effects) { h.reboot(name, d, e) })
		}
		return nil
	})
}

func (h *Hypervisor) reboot(name string, d *domain, e *effects) {
	if h.style == RebootNewID {
		h.stop(name, d, DetailShutdown, e)
		h.start(name, d, e)
		return
	}
	d.boot++
	e.event(name, host.EventRebooted, 0)
}

// later has the guest of boot act after delay, unless the domain was
// started, stopped or reset meanwhile (the guest that got the message is
// gone). A paused guest acts once it runs again.
func (h *Hypervisor) later(name string, boot uint64, delay time.Duration, act func(d *domain, e *effects)) {
	time.AfterFunc(delay, func() {
		var e effects
		h.mu.Lock()
		if d, ok := h.doms[name]; ok && d.running && d.boot == boot {
			if d.paused {
				h.mu.Unlock()
				h.later(name, boot, 10*time.Millisecond, act)
				return
			}
			act(d, &e)
		}
		h.mu.Unlock()
		h.apply(e)
	})
}

// Halt has the guest of a running domain power itself off, as `poweroff`
// inside it would (a Stopped event, detail shutdown).
func (h *Hypervisor) Halt(name string) { h.guestStop(name, DetailShutdown) }

// Crash stops a running domain as a crash does (detail crashed).
func (h *Hypervisor) Crash(name string) { h.guestStop(name, DetailCrashed) }

func (h *Hypervisor) guestStop(name string, detail int) {
	var e effects
	h.mu.Lock()
	if d, ok := h.doms[name]; ok {
		h.stop(name, d, detail, &e)
	}
	h.mu.Unlock()
	h.apply(e)
}

// Pause suspends a running domain (an operator's virsh suspend); Start
// resumes it.
func (h *Hypervisor) Pause(name string) {
	var e effects
	h.mu.Lock()
	if d, ok := h.doms[name]; ok && d.running && !d.paused {
		d.paused = true
		e.event(name, host.EventSuspended, 0)
	}
	h.mu.Unlock()
	h.apply(e)
}

// Disconnect makes every call fail with host.ErrDisconnected, transient,
// until Reconnect, as a libvirtd restarting does.
func (h *Hypervisor) Disconnect() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offline = true
}

// Reconnect ends Disconnect and tells every watcher to re-read state
// (EventResync), as the driver does once it has reconnected.
func (h *Hypervisor) Reconnect() {
	h.mu.Lock()
	h.offline = false
	h.mu.Unlock()
	h.broadcast(host.Event{Kind: host.EventResync, Time: time.Now()})
}

// AddForeign defines a domain that is not the agent's (no owner mark):
// Domains never lists it, the other calls see it.
func (h *Hypervisor) AddForeign(name string, running bool) {
	var e effects
	h.mu.Lock()
	d := &domain{spec: host.DomainSpec{Name: name, MemoryMB: 128, VCPUs: 1}, disks: map[int]host.DiskSpec{}, foreign: true, maxMB: 128}
	h.doms[name] = d
	e.event(name, host.EventDefined, 0)
	if running {
		h.start(name, d, &e)
	}
	h.mu.Unlock()
	h.apply(e)
}

// DomainInfo is what the fake holds of a domain.
type DomainInfo struct {
	// Spec is the definition; its Disks and Seed are in Disks.
	Spec  host.DomainSpec
	Disks map[int]host.DiskSpec // by device position; the seed at host.SeedPosition
	State host.State
	// Live are the running domain's interfaces and devices; MemoryMB its
	// balloon, CPUShares its CPU weight.
	Live      []host.LiveIface
	MemoryMB  int64
	CPUShares int64
	Foreign   bool
}

// Domain returns what the fake holds of domain name.
func (h *Hypervisor) Domain(name string) (DomainInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.doms[name]
	if !ok {
		return DomainInfo{}, false
	}
	info := DomainInfo{Spec: d.spec, Disks: map[int]host.DiskSpec{}, State: d.state(), Live: append([]host.LiveIface(nil), d.live...), Foreign: d.foreign}
	info.Spec.Ifaces = append([]host.IfaceSpec(nil), d.spec.Ifaces...)
	for pos, disk := range d.disks {
		info.Disks[pos] = disk
	}
	if d.running {
		info.MemoryMB, info.CPUShares = d.memMB, d.shares
	}
	return info, true
}

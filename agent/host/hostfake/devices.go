package hostfake

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/xenagent/xenagent/agent/host"
)

// AttachDisk plugs a disk at pos, or the next free position when another
// disk holds it; one already plugged (its path) is left as it is.
func (h *Hypervisor) AttachDisk(ctx context.Context, name string, pos int, disk host.DiskSpec) error {
	return h.do(ctx, "AttachDisk", name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("attaching disk to", name)
		case pos < 0 || disk.Path == "":
			return fmt.Errorf("attaching disk to %s: position %d, path %q: need a position from 0 and a path", name, pos, disk.Path)
		}
		for _, have := range d.disks {
			if have.Path == disk.Path {
				return nil
			}
		}
		for {
			if _, taken := d.disks[pos]; !taken {
				break
			}
			pos++
		}
		d.disks[pos] = disk
		e.event(name, host.EventDefined, 1)
		return nil
	})
}

// DetachDisk unplugs the disk of path; absent is done.
func (h *Hypervisor) DetachDisk(ctx context.Context, name, path string) error {
	return h.do(ctx, "DetachDisk", name, func(e *effects) error {
		d, ok := h.doms[name]
		if !ok {
			return nil
		}
		for pos, disk := range d.disks {
			if disk.Path == path {
				delete(d.disks, pos)
				e.event(name, host.EventDefined, 1)
			}
		}
		return nil
	})
}

// AttachIface plugs an interface in the definition and, when the domain
// runs, live (its device appears); one of the same MAC is left as it is.
func (h *Hypervisor) AttachIface(ctx context.Context, name string, n host.IfaceSpec) error {
	return h.do(ctx, "AttachIface", name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("attaching interface to", name)
		case n.MAC == "":
			return fmt.Errorf("attaching interface to %s: no MAC", name)
		}
		if !slices.ContainsFunc(d.spec.Ifaces, func(i host.IfaceSpec) bool { return sameMAC(i.MAC, n.MAC) }) {
			d.spec.Ifaces = append(d.spec.Ifaces, n)
			e.event(name, host.EventDefined, 1)
		}
		if d.running && !slices.ContainsFunc(d.live, func(l host.LiveIface) bool { return sameMAC(l.MAC, n.MAC) }) {
			l := host.LiveIface{MAC: n.MAC, Dev: devName(d.id, len(d.live), n)}
			d.live = append(d.live, l)
			e.plug = append(e.plug, l.Dev)
		}
		return nil
	})
}

// DetachIface unplugs the interface with mac; absent is done.
func (h *Hypervisor) DetachIface(ctx context.Context, name, mac string) error {
	return h.do(ctx, "DetachIface", name, func(e *effects) error {
		d, ok := h.doms[name]
		if !ok {
			return nil
		}
		n := len(d.spec.Ifaces)
		d.spec.Ifaces = slices.DeleteFunc(d.spec.Ifaces, func(i host.IfaceSpec) bool { return sameMAC(i.MAC, mac) })
		if len(d.spec.Ifaces) != n {
			e.event(name, host.EventDefined, 1)
		}
		d.live = slices.DeleteFunc(d.live, func(l host.LiveIface) bool {
			if sameMAC(l.MAC, mac) {
				e.unplug = append(e.unplug, l.Dev)
				return true
			}
			return false
		})
		return nil
	})
}

func sameMAC(a, b string) bool { return strings.EqualFold(a, b) }

// SetMemory sets the memory of the definition and, when running, the
// balloon, within the maximum.
func (h *Hypervisor) SetMemory(ctx context.Context, name string, mb int64) error {
	return h.do(ctx, "SetMemory", name, func(e *effects) error {
		d, ok := h.doms[name]
		if !ok {
			return noDomain("setting memory of", name)
		}
		if mb <= 0 || mb > d.maxMB {
			return fmt.Errorf("setting memory of %s to %d MB: must be from 1 to its maximum, %d MB", name, mb, d.maxMB)
		}
		d.spec.MemoryMB = mb
		if d.running {
			d.memMB = mb
		}
		return nil
	})
}

// LiveIfaces are a running domain's interfaces and devices.
func (h *Hypervisor) LiveIfaces(ctx context.Context, name string) ([]host.LiveIface, error) {
	var out []host.LiveIface
	err := h.do(ctx, "LiveIfaces", name, func(*effects) error {
		d, ok := h.doms[name]
		if !ok {
			return noDomain("reading interfaces of", name)
		}
		out = append(out, d.live...)
		return nil
	})
	return out, err
}

// SetCPUShares sets a running domain's CPU weight (Domain's CPUShares
// reads it); a stopped one takes its definition's at the next start.
// WithoutLiveCPUShares makes it refuse a running one, as a host without
// a CPU cgroup controller does.
func (h *Hypervisor) SetCPUShares(ctx context.Context, name string, shares int64) error {
	return h.do(ctx, "SetCPUShares", name, func(e *effects) error {
		d, ok := h.doms[name]
		if !ok {
			return noDomain("setting cpu shares of", name)
		}
		if shares <= 0 {
			return fmt.Errorf("setting cpu shares of %s to %d: must be positive", name, shares)
		}
		if d.running && h.noLiveShares {
			return fmt.Errorf("setting cpu shares of %s: %w", name, host.ErrUnsupported)
		}
		if d.running {
			d.shares = shares
		}
		return nil
	})
}

// WithoutLiveCPUShares has SetCPUShares refuse running domains with
// host.ErrUnsupported.
func WithoutLiveCPUShares() HypervisorOption { return func(h *Hypervisor) { h.noLiveShares = true } }

package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Define creates or replaces the persistent definition of a domain.
// Defining again with the same name and UUID is harmless.
func (d *Driver) Define(ctx context.Context, spec DomainSpec) error {
	if spec.ConsoleLog == "" && d.cfg.ConsoleDir != "" {
		spec.ConsoleLog = filepath.Join(d.cfg.ConsoleDir, spec.Name+".log")
	}
	xml, err := DomainXML(d.flavor, spec)
	if err != nil {
		return err
	}
	return d.call(ctx, "defining "+spec.Name, func(c *libvirt.Connect) error {
		dom, err := c.DomainDefineXML(xml)
		if err != nil {
			return err
		}
		return dom.Free()
	})
}

// Undefine removes a domain, destroying it first if it runs. A missing
// domain is not an error.
func (d *Driver) Undefine(ctx context.Context, name string) error {
	if err := d.Destroy(ctx, name); err != nil && !errors.Is(err, ErrNoDomain) {
		return err
	}
	err := d.withDomain(ctx, "undefining", name, func(dom *libvirt.Domain) error {
		err := dom.UndefineFlags(libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_NVRAM)
		var lv libvirt.Error
		if errors.As(err, &lv) && (lv.Code == libvirt.ERR_INVALID_ARG || lv.Code == libvirt.ERR_NO_SUPPORT) {
			// Older or simpler drivers refuse the flags.
			err = dom.Undefine()
		}
		return err
	})
	if errors.Is(err, ErrNoDomain) {
		return nil
	}
	return err
}

// State reads a domain's runtime state; a missing domain is Exists=false.
func (d *Driver) State(ctx context.Context, name string) (State, error) {
	var st State
	err := d.withDomain(ctx, "reading state of", name, func(dom *libvirt.Domain) error {
		s, reason, err := dom.GetState()
		if err != nil {
			return err
		}
		st = State{Exists: true, Reason: reason}
		switch s {
		case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED, libvirt.DOMAIN_PMSUSPENDED:
			st.Running = true
		case libvirt.DOMAIN_PAUSED:
			st.Running, st.Paused = true, true
		case libvirt.DOMAIN_SHUTDOWN:
			// Shutting down: still alive until it reaches SHUTOFF.
			st.Running = true
		}
		if st.Running {
			id, err := dom.GetID()
			if err == nil {
				st.ID = id
			}
		}
		return nil
	})
	if errors.Is(err, ErrNoDomain) {
		return State{}, nil
	}
	if err != nil {
		// A call abandoned (timeout, cancelled context) may still be
		// writing st: read it only once the call has returned.
		return State{}, err
	}
	return st, nil
}

// Start boots a defined domain; starting a running domain is a no-op.
// Right after a shutdown a Xen domain may still be "active": Start then
// waits for its stopped event (or re-reads state) and tries again.
func (d *Driver) Start(ctx context.Context, name string) error {
	events, stop := d.Watch(name)
	defer stop()
	for {
		st, err := d.State(ctx, name)
		if err != nil {
			return err
		}
		if !st.Exists {
			return &Error{Op: "starting " + name, Err: ErrNoDomain}
		}
		if st.Running {
			if st.Paused {
				return d.withDomain(ctx, "resuming", name, func(dom *libvirt.Domain) error { return dom.Resume() })
			}
			return nil
		}
		err = d.withDomain(ctx, "starting", name, func(dom *libvirt.Domain) error { return dom.Create() })
		if !errors.Is(err, ErrAlreadyActive) {
			return err
		}
		select {
		case <-events:
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Shutdown asks the guest to power off (ACPI button, Xen control node).
// It returns once the request is delivered, not when the guest is off. A
// stopped domain has nothing to ask: done. Drivers refuse it in their own
// words (the test driver with an internal error, "domain not running"),
// so a refusal is checked against the domain's state.
func (d *Driver) Shutdown(ctx context.Context, name string) error {
	err := d.withDomain(ctx, "shutting down", name, func(dom *libvirt.Domain) error { return dom.Shutdown() })
	if err == nil || errors.Is(err, ErrNotRunning) {
		return nil
	}
	if st, serr := d.State(ctx, name); serr == nil && st.Exists && !st.Running {
		return nil
	}
	return err
}

// Reboot asks the guest to reboot.
func (d *Driver) Reboot(ctx context.Context, name string) error {
	return d.withDomain(ctx, "rebooting", name, func(dom *libvirt.Domain) error { return dom.Reboot(0) })
}

// Destroy powers a domain off at once; an already stopped or missing
// domain is not an error.
func (d *Driver) Destroy(ctx context.Context, name string) error {
	err := d.withDomain(ctx, "destroying", name, func(dom *libvirt.Domain) error { return dom.Destroy() })
	if errors.Is(err, ErrNotRunning) || errors.Is(err, ErrNoDomain) {
		return nil
	}
	return err
}

// Reset power-cycles a running domain. libxl has no reset, so there (and
// wherever reset is unsupported) it is destroy + start.
func (d *Driver) Reset(ctx context.Context, name string) error {
	err := d.withDomain(ctx, "resetting", name, func(dom *libvirt.Domain) error { return dom.Reset(0) })
	if !errors.Is(err, ErrUnsupported) {
		return err
	}
	if err := d.Destroy(ctx, name); err != nil {
		return err
	}
	if _, err := d.WaitFor(ctx, name, func(s State) bool { return !s.Running }); err != nil {
		return err
	}
	return d.Start(ctx, name)
}

// WaitFor blocks until cond holds for the domain's state, re-reading the
// state at every event for it (never by polling), or until ctx ends.
func (d *Driver) WaitFor(ctx context.Context, name string, cond func(State) bool) (State, error) {
	events, stop := d.Watch(name)
	defer stop()
	for {
		st, err := d.State(ctx, name)
		if err == nil && cond(st) {
			return st, nil
		}
		var te interface{ Transient() bool }
		if err != nil && !(errors.As(err, &te) && te.Transient()) {
			return st, err
		}
		select {
		case <-events:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// WaitEvent blocks until an event of one of kinds arrives on events (a
// Watch of one domain), or a resync, or ctx ends.
func (d *Driver) WaitEvent(ctx context.Context, events <-chan Event, kinds ...EventKind) (Event, error) {
	for {
		select {
		case ev := <-events:
			if ev.Kind == EventResync {
				return ev, nil
			}
			for _, k := range kinds {
				if ev.Kind == k {
					return ev, nil
				}
			}
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// modifyDevices applies a device change to the persistent definition by
// redefining it (every driver supports that, unlike AttachDeviceFlags with
// CONFIG), then to the live domain when it runs and the driver can.
func (d *Driver) modifyDevices(ctx context.Context, op, name string, edit func(def *libvirtxml.Domain) (string, bool, error), live func(dom *libvirt.Domain, xml string) error) error {
	var devXML string
	var changed bool
	err := d.call(ctx, op+" "+name, func(c *libvirt.Connect) error {
		dom, err := c.LookupDomainByName(name)
		if err != nil {
			return err
		}
		defer dom.Free()
		x, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
		if err != nil {
			return err
		}
		var def libvirtxml.Domain
		if err := def.Unmarshal(x); err != nil {
			return err
		}
		if devXML, changed, err = edit(&def); err != nil {
			return err
		}
		if changed {
			out, err := def.Marshal()
			if err != nil {
				return err
			}
			nd, err := c.DomainDefineXML(out)
			if err != nil {
				return err
			}
			nd.Free()
		}
		active, err := dom.IsActive()
		if err != nil || !active || d.flavor == FlavorTest {
			// The test driver keeps no live devices to plug.
			return err
		}
		// The running domain is edited on its own: a change redone after
		// a crash between the two still reaches it, and a device to
		// unplug is named as the live domain has it (its live address).
		lx, err := dom.GetXMLDesc(0)
		if err != nil {
			return err
		}
		var liveDef libvirtxml.Domain
		if err := liveDef.Unmarshal(lx); err != nil {
			return err
		}
		if devXML, changed, err = edit(&liveDef); err != nil || !changed {
			return err
		}
		return live(dom, devXML)
	})
	return err
}

// AttachDisk plugs a disk at position pos, live when the domain runs. A
// disk already plugged (its path) is left as it is: a retried attach does
// nothing. When another disk holds pos's device, the disk takes the next
// free one: a disk detached from the middle of a running guest leaves the
// ones after it on their devices (they cannot move while it runs), so
// the records' positions run behind the devices until the next fresh
// start renders the definition again.
func (d *Driver) AttachDisk(ctx context.Context, name string, pos int, disk DiskSpec) error {
	if _, err := diskDev(d.flavor, pos, disk); err != nil {
		return err
	}
	return d.modifyDevices(ctx, "attaching disk to", name, func(def *libvirtxml.Domain) (string, bool, error) {
		taken := map[string]bool{}
		for _, have := range def.Devices.Disks {
			if diskPath(have) == disk.Path {
				return "", false, nil
			}
			if have.Target != nil {
				taken[have.Target.Dev] = true
			}
		}
		for at := pos; at < pos+maxDiskSearch; at++ {
			dev, err := diskDev(d.flavor, at, disk)
			if err != nil {
				return "", false, err
			}
			if !taken[dev.Target.Dev] {
				xml, err := dev.Marshal()
				def.Devices.Disks = append(def.Devices.Disks, dev)
				return xml, true, err
			}
		}
		return "", false, fmt.Errorf("no free disk device from position %d to %d", pos, pos+maxDiskSearch-1)
	}, func(dom *libvirt.Domain, x string) error {
		return dom.AttachDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_LIVE)
	})
}

// maxDiskSearch bounds AttachDisk's search for a free device.
const maxDiskSearch = 64

// diskDev is the device of a disk at position pos.
func diskDev(flavor Flavor, pos int, disk DiskSpec) (libvirtxml.DomainDisk, error) {
	var dev libvirtxml.DomainDisk
	xml, err := diskXML(flavor, pos, disk)
	if err == nil {
		err = dev.Unmarshal(xml)
	}
	return dev, err
}

func diskPath(disk libvirtxml.DomainDisk) string {
	switch {
	case disk.Source == nil:
		return ""
	case disk.Source.File != nil:
		return disk.Source.File.File
	case disk.Source.Block != nil:
		return disk.Source.Block.Dev
	}
	return ""
}

// DetachDisk unplugs the disk whose source is path; absent is not an error.
func (d *Driver) DetachDisk(ctx context.Context, name, path string) error {
	return d.detach(ctx, "detaching disk from", name, func(def *libvirtxml.Domain) (string, bool, error) {
		for i, disk := range def.Devices.Disks {
			if diskPath(disk) == path {
				x, err := disk.Marshal()
				def.Devices.Disks = slices.Delete(def.Devices.Disks, i, i+1)
				return x, true, err
			}
		}
		return "", false, nil
	})
}

// detach removes the device remove finds from the definition and, when
// the domain runs, from the live domain. A missing domain or device is
// not an error: detaching is idempotent.
func (d *Driver) detach(ctx context.Context, op, name string, remove func(def *libvirtxml.Domain) (string, bool, error)) error {
	err := d.modifyDevices(ctx, op, name, remove, func(dom *libvirt.Domain, x string) error {
		return dom.DetachDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_LIVE)
	})
	if errors.Is(err, ErrNoDomain) {
		return nil
	}
	return err
}

// AttachIface plugs a network interface, live when the domain runs.
func (d *Driver) AttachIface(ctx context.Context, name string, n IfaceSpec) error {
	xml, err := ifaceXML(d.flavor, n)
	if err != nil {
		return err
	}
	var dev libvirtxml.DomainInterface
	if err := dev.Unmarshal(xml); err != nil {
		return err
	}
	return d.modifyDevices(ctx, "attaching interface to", name, func(def *libvirtxml.Domain) (string, bool, error) {
		for _, have := range def.Devices.Interfaces {
			if have.MAC != nil && have.MAC.Address == n.MAC {
				return xml, false, nil
			}
		}
		def.Devices.Interfaces = append(def.Devices.Interfaces, dev)
		return xml, true, nil
	}, func(dom *libvirt.Domain, x string) error {
		return dom.AttachDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_LIVE)
	})
}

// DetachIface unplugs the interface with mac; absent is not an error.
func (d *Driver) DetachIface(ctx context.Context, name, mac string) error {
	return d.detach(ctx, "detaching interface from", name, func(def *libvirtxml.Domain) (string, bool, error) {
		for i, n := range def.Devices.Interfaces {
			if n.MAC != nil && n.MAC.Address == mac {
				x, err := n.Marshal()
				def.Devices.Interfaces = slices.Delete(def.Devices.Interfaces, i, i+1)
				return x, true, err
			}
		}
		return "", false, nil
	})
}

// RebootReportsItself says whether a completed reboot is visible (a
// reboot event or a new domain id). libvirt's test driver reboots
// synchronously and reports nothing.
func (d *Driver) RebootReportsItself() bool { return d.flavor != FlavorTest }

// SetMemory sets the balloon target, live when running, within the
// domain's maximum.
func (d *Driver) SetMemory(ctx context.Context, name string, mb int64) error {
	return d.withDomain(ctx, "setting memory of", name, func(dom *libvirt.Domain) error {
		// Some drivers refuse LIVE|CONFIG together: one call each.
		if err := dom.SetMemoryFlags(uint64(mb)*1024, libvirt.DOMAIN_MEM_CONFIG); err != nil {
			return err
		}
		if active, _ := dom.IsActive(); active {
			return dom.SetMemoryFlags(uint64(mb)*1024, libvirt.DOMAIN_MEM_LIVE)
		}
		return nil
	})
}

// Domains lists every domain carrying this agent's ownership metadata.
func (d *Driver) Domains(ctx context.Context) ([]Domain, error) {
	var out []Domain
	err := d.call(ctx, "listing domains", func(c *libvirt.Connect) error {
		doms, err := c.ListAllDomains(0)
		if err != nil {
			return err
		}
		for i := range doms {
			dom := &doms[i]
			name, _ := dom.GetName()
			meta, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, MetadataNS, libvirt.DOMAIN_AFFECT_CONFIG)
			if err == nil {
				var owner ownerMeta
				if uerr := xmlUnmarshal(meta, &owner); uerr == nil {
					out = append(out, Domain{Name: name, VMID: owner.VMID, Owner: owner.Agent})
				}
			}
			dom.Free()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		st, err := d.State(ctx, out[i].Name)
		if err != nil {
			return nil, err
		}
		out[i].State = st
	}
	return out, nil
}

// DomainXMLOf returns the persistent definition of a domain (for tests and diagnostics).
func (d *Driver) DomainXMLOf(ctx context.Context, name string) (string, error) {
	var x string
	err := d.withDomain(ctx, "reading definition of", name, func(dom *libvirt.Domain) error {
		var err error
		x, err = dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
		return err
	})
	if err != nil {
		return "", err // an abandoned call may still be writing x
	}
	return x, nil
}

// LiveIfaces reads a running domain's interfaces and their devices from
// its live definition. A stopped domain has none.
func (d *Driver) LiveIfaces(ctx context.Context, name string) ([]LiveIface, error) {
	var out []LiveIface
	err := d.withDomain(ctx, "reading interfaces of", name, func(dom *libvirt.Domain) error {
		active, err := dom.IsActive()
		if err != nil || !active {
			return err
		}
		x, err := dom.GetXMLDesc(0)
		if err != nil {
			return err
		}
		var def libvirtxml.Domain
		if err := def.Unmarshal(x); err != nil {
			return err
		}
		if def.Devices == nil {
			return nil
		}
		for _, n := range def.Devices.Interfaces {
			li := LiveIface{}
			if n.MAC != nil {
				li.MAC = n.MAC.Address
			}
			if n.Target != nil {
				li.Dev = n.Target.Dev
			}
			out = append(out, li)
		}
		return nil
	})
	if err != nil {
		return nil, err // an abandoned call may still be writing out
	}
	return out, nil
}

package hypervisor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xenagent/xenagent/agent/host"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

var _ host.Stats = (*Driver)(nil)

// statGroups are the groups AllStats asks for. A driver that lacks some
// (libvirt's test driver gives only the state) leaves them out rather
// than failing: the call does not pass ENFORCE_STATS.
const statGroups = libvirt.DOMAIN_STATS_STATE | libvirt.DOMAIN_STATS_CPU_TOTAL | libvirt.DOMAIN_STATS_VCPU |
	libvirt.DOMAIN_STATS_BALLOON | libvirt.DOMAIN_STATS_INTERFACE | libvirt.DOMAIN_STATS_BLOCK

// statsCache remembers, between collection rounds, what the bulk stats
// call does not say: which domains carry an owner mark (fixed once
// defined, so read once per domain) and each running domain's device to
// MAC map (read again only when a device appears that it does not
// know: a Xen vif is named anew at every start). In a steady state a
// round is then one libvirt call, whatever the number of domains.
type statsCache struct {
	// waits: the driver refused NOWAIT (an older libxl checks its
	// flags): ask without it from then on.
	waits  atomic.Bool
	mu     sync.Mutex
	owners map[string]ownerMark         // by UUID
	macs   map[string]map[string]string // domain name -> device -> MAC
}

type ownerMark struct {
	marked bool
	ownerMeta
}

// AllStats reads the counters of every marked domain with one bulk call
// (virConnectGetAllDomainStats). NOWAIT: a domain busy in a job (a start,
// a migration) answers what it has rather than holding the round up.
func (d *Driver) AllStats(ctx context.Context) ([]host.DomainStats, error) {
	var out []host.DomainStats
	err := d.call(ctx, "reading domain stats", func(c *libvirt.Connect) error {
		recs, err := d.bulkStats(c)
		if err != nil {
			return err
		}
		defer func() {
			for i := range recs {
				recs[i].Domain.Free()
			}
		}()
		d.statsCache.mu.Lock()
		defer d.statsCache.mu.Unlock()
		if d.statsCache.owners == nil {
			d.statsCache.owners, d.statsCache.macs = map[string]ownerMark{}, map[string]map[string]string{}
		}
		seen := make(map[string]bool, len(recs))
		names := make(map[string]bool, len(recs))
		for i := range recs {
			r := &recs[i]
			uuid, err := r.Domain.GetUUIDString()
			if err != nil {
				continue
			}
			seen[uuid] = true
			mark, ok := d.statsCache.owners[uuid]
			if !ok {
				if mark, ok = readMark(r.Domain); ok {
					d.statsCache.owners[uuid] = mark
				}
			}
			if !mark.marked {
				continue
			}
			name, err := r.Domain.GetName()
			if err != nil {
				continue
			}
			names[name] = true
			out = append(out, d.domainStats(r, name, mark))
		}
		// Forget what went: undefined domains, stopped domains' devices.
		for uuid := range d.statsCache.owners {
			if !seen[uuid] {
				delete(d.statsCache.owners, uuid)
			}
		}
		for name := range d.statsCache.macs {
			if !names[name] {
				delete(d.statsCache.macs, name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err // an abandoned call may still be writing out
	}
	return out, nil
}

// bulkStats is the one call, with NOWAIT where the driver takes it.
func (d *Driver) bulkStats(c *libvirt.Connect) ([]libvirt.DomainStats, error) {
	if !d.statsCache.waits.Load() {
		recs, err := c.GetAllDomainStats(nil, statGroups, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
		var lerr libvirt.Error
		if err == nil || !errors.As(err, &lerr) || lerr.Code != libvirt.ERR_INVALID_ARG {
			return recs, err
		}
		d.log.Info("libvirt refuses NOWAIT for domain stats; asking without it", "err", err)
		d.statsCache.waits.Store(true)
	}
	return c.GetAllDomainStats(nil, statGroups, 0)
}

// readMark reads a domain's owner mark; ok is false when it could not be
// told (the domain vanished meanwhile), so it is asked again next time.
func readMark(dom *libvirt.Domain) (ownerMark, bool) {
	meta, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, MetadataNS, libvirt.DOMAIN_AFFECT_CONFIG)
	if err != nil {
		var lerr libvirt.Error
		if errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN_METADATA {
			return ownerMark{}, true
		}
		return ownerMark{}, false
	}
	var m ownerMeta
	if err := xmlUnmarshal(meta, &m); err != nil {
		return ownerMark{}, true
	}
	return ownerMark{marked: true, ownerMeta: m}, true
}

// domainStats converts one record; the caller holds statsCache.mu.
func (d *Driver) domainStats(r *libvirt.DomainStats, name string, mark ownerMark) host.DomainStats {
	s := host.DomainStats{Name: name, VMID: mark.VMID}
	if r.State != nil && r.State.StateSet {
		switch r.State.State {
		case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED, libvirt.DOMAIN_PAUSED:
			s.Running = true
		}
	}
	if r.Cpu != nil && r.Cpu.TimeSet {
		s.CPUTimeNs = r.Cpu.Time
	}
	for _, v := range r.Vcpu {
		s.VCPUTimeNs = append(s.VCPUTimeNs, v.Time)
	}
	if b := r.Balloon; b != nil {
		if b.CurrentSet {
			s.BalloonKiB = b.Current
		}
		if b.MaximumSet {
			s.BalloonMaxKiB = b.Maximum
		}
	}
	if len(r.Net) > 0 {
		macs := d.statsCache.macs[name]
		for _, n := range r.Net {
			if _, ok := macs[n.Name]; !ok {
				macs = liveMACs(r.Domain)
				d.statsCache.macs[name] = macs
				break
			}
		}
		for _, n := range r.Net {
			s.Ifaces = append(s.Ifaces, host.IfaceStats{Dev: n.Name, MAC: macs[n.Name],
				Counters: host.Counters{RxBytes: n.RxBytes, TxBytes: n.TxBytes, RxPackets: n.RxPkts, TxPackets: n.TxPkts}})
		}
	}
	for _, b := range r.Block {
		s.Disks = append(s.Disks, host.DiskStats{Dev: b.Name, Path: b.Path, ReadBytes: b.RdBytes, WriteBytes: b.WrBytes,
			ReadReqs: b.RdReqs, WriteReqs: b.WrReqs})
	}
	return s
}

// liveMACs maps a running domain's interface devices to their MACs, from
// its live definition; empty when it cannot be read (the counters are
// still reported, by device).
func liveMACs(dom *libvirt.Domain) map[string]string {
	out := map[string]string{}
	x, err := dom.GetXMLDesc(0)
	if err != nil {
		return out
	}
	var def libvirtxml.Domain
	if def.Unmarshal(x) != nil || def.Devices == nil {
		return out
	}
	for _, n := range def.Devices.Interfaces {
		if n.Target != nil && n.MAC != nil {
			out[n.Target.Dev] = strings.ToLower(n.MAC.Address)
		}
	}
	return out
}

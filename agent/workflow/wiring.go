package workflow

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// wiringState serialises changes to the host's wiring: an iface's filter
// transaction and qdisc replacements must not interleave with another
// wiring of the same iface (an operation and a link event, say).
type wiringState struct {
	mu   sync.Mutex
	kick chan struct{} // a backend device appeared: wire running VMs again
}

// backendDevice tells apart the devices hypervisors make for VM ifaces:
// Xen's vifD.N (and vifD.N-emu for HVM) and the agent's own taps.
func backendDevice(name string) bool {
	return strings.HasPrefix(name, "vif") || strings.HasPrefix(name, "xa-t")
}

func wireSpec(tx *store.Tx, i store.Iface, dev string) (host.WireSpec, error) {
	mac, err := net.ParseMAC(i.MAC)
	if err != nil {
		return host.WireSpec{}, fmt.Errorf("iface %d: %w", i.ID, err)
	}
	// A bandwidth of 0 is unlimited (store.Iface): not shaped at all.
	w := host.WireSpec{ID: i.ID, Dev: dev, MAC: mac, Bandwidth: uint64(i.Bandwidth), Unlimited: i.Bandwidth == 0}
	if w.Firewall, err = hostFirewall(i.Firewall); err != nil {
		return w, fmt.Errorf("iface %d: %w", i.ID, err)
	}
	for _, id := range i.IPIDs {
		ip, ok := tx.IP(id)
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(ip.Addr)
		if err != nil {
			return w, fmt.Errorf("ip %d: %w", ip.ID, err)
		}
		if a.Is4() {
			w.IPv4 = append(w.IPv4, a)
		} else {
			w.IPv6 = append(w.IPv6, a)
		}
	}
	return w, nil
}

// wireVM wires every iface of a running VM whose backend device exists,
// and records the device. It returns the ifaces it wired. Wiring again is
// harmless: a rename, a new rate or a restart replaces what is there.
func (s *Workflows) WireVM(ctx context.Context, vmID int64) (map[int64]string, error) {
	wiring := s.cfg.Network.Wiring
	if wiring == nil {
		return nil, nil
	}
	live, err := s.hv.LiveIfaces(ctx, DomainName(vmID))
	if err != nil {
		return nil, err
	}
	devByMAC := map[string]string{}
	for _, l := range live {
		if l.Dev != "" {
			devByMAC[strings.ToLower(l.MAC)] = l.Dev
		}
	}
	var specs []host.WireSpec
	s.st.View(func(tx *store.Tx) {
		v, ok := tx.VM(vmID)
		if !ok {
			return
		}
		for _, id := range v.IfaceIDs {
			i, ok := tx.Iface(id)
			dev := devByMAC[strings.ToLower(i.MAC)]
			if !ok || dev == "" {
				continue
			}
			w, werr := wireSpec(tx, i, dev)
			if werr != nil {
				err = werr
				return
			}
			specs = append(specs, w)
		}
	})
	if err != nil {
		return nil, err
	}
	s.wiring.mu.Lock()
	defer s.wiring.mu.Unlock()
	wired := map[int64]string{}
	for _, w := range specs {
		if err := wiring.Wire(ctx, w); err != nil {
			return wired, fmt.Errorf("wiring iface %d on %s: %w", w.ID, w.Dev, err)
		}
		if err := s.noteDev(w.ID, w.Dev); err != nil {
			return wired, err
		}
		wired[w.ID] = w.Dev
	}
	return wired, nil
}

// noteDev records an iface's current device; counts of a previous device
// are kept.
func (s *Workflows) noteDev(ifaceID int64, dev string) error {
	return s.st.Update(func(tx *store.Tx) error {
		i, ok := tx.Iface(ifaceID)
		if !ok || i.Dev == dev {
			return nil
		}
		i.Counted, i.DevCounted, i.Dev = i.Total(), store.Traffic{}, dev
		tx.PutIface(i)
		return nil
	})
}

// unwireIface removes an iface's filter and shaping; keepFilter leaves
// the filter for the iface's next device (its VM only stopped).
func (s *Workflows) unwireIface(ctx context.Context, id int64, keepFilter bool) error {
	wiring := s.cfg.Network.Wiring
	if wiring == nil {
		return nil
	}
	var dev string
	s.st.View(func(tx *store.Tx) {
		i, _ := tx.Iface(id)
		dev = i.Dev
	})
	s.wiring.mu.Lock()
	defer s.wiring.mu.Unlock()
	var err error
	if keepFilter {
		err = wiring.Unplugged(ctx, id, dev)
	} else {
		err = wiring.Unwire(ctx, id, dev)
	}
	if err != nil {
		return fmt.Errorf("unwiring iface %d: %w", id, err)
	}
	return s.noteDev(id, "")
}

// wireStep wires a VM's ifaces once its domain runs. A device that is not
// there yet is wired when it appears (RunNetwork); one that is there and
// cannot be wired fails the step, which undoes itself.
func (s *Workflows) wireStep(ctx context.Context, r *ops.Run) error {
	if _, err := s.WireVM(ctx, r.Op().VMID); err != nil {
		_ = s.unplugVM(ctx, r)
		return err
	}
	return nil
}

// unplugVM takes shaping off the ifaces of a VM that stopped; the
// filters stay for the next start.
func (s *Workflows) unplugVM(ctx context.Context, r *ops.Run) error {
	return s.eachIfaceOf(r.Op().VMID, func(id int64) error { return s.unwireIface(ctx, id, true) })
}

// unwireVM removes everything of a VM's ifaces (it is being deleted).
func (s *Workflows) unwireVM(ctx context.Context, r *ops.Run) error {
	return s.eachIfaceOf(r.Op().VMID, func(id int64) error { return s.unwireIface(ctx, id, false) })
}

func (s *Workflows) eachIfaceOf(vmID int64, fn func(id int64) error) error {
	var ids []int64
	s.st.View(func(tx *store.Tx) {
		v, _ := tx.VM(vmID)
		ids = v.IfaceIDs
	})
	var errs []error
	for _, id := range ids {
		errs = append(errs, fn(id))
	}
	return errors.Join(errs...)
}

// wireAttached wires a hot-plugged iface; the VM being halted, there is
// nothing to wire until it starts.
func (s *Workflows) wireAttached(ctx context.Context, r *ops.Run) error {
	running, err := s.IsRunning(ctx, DomainName(r.Op().VMID))
	if err != nil || !running {
		return err
	}
	wired, err := s.WireVM(ctx, r.Op().VMID)
	if err != nil {
		return err
	}
	if _, ok := wired[r.Op().IfaceID]; !ok && s.cfg.Network.Wiring != nil {
		return fmt.Errorf("iface %d: no backend device in the running domain", r.Op().IfaceID)
	}
	return nil
}

// unwireStep removes the wiring of the operation's iface.
func (s *Workflows) unwireStep(ctx context.Context, r *ops.Run) error {
	return s.unwireIface(ctx, r.Op().IfaceID, false)
}

// HandleLink follows the host's backend devices: a device that goes away
// hands its final counters to its iface's record and its IFB is removed;
// one that appears gets wired (a Xen guest that rebooted itself has new
// vifs and no operation to wire them).
func (s *Workflows) HandleLink(ctx context.Context, ev host.LinkEvent) {
	if !backendDevice(ev.Name) || s.cfg.Network.Wiring == nil {
		return
	}
	id := s.wiredDev(ev.Name)
	if !ev.Gone {
		if id == 0 {
			select {
			case s.wiring.kick <- struct{}{}:
			default:
			}
			return
		}
		// A wired device's change (down, carrier lost while its VM goes)
		// is a reading: the last one before Xen zeroes a vif's counts.
		if ev.Counted {
			if err := s.recordReading(id, ev.Name, store.Traffic(ev.Counters)); err != nil {
				s.log.Warn("recording traffic", "dev", ev.Name, "iface_id", id, "err", err)
			}
		}
		return
	}
	if id == 0 {
		return
	}
	s.wiring.mu.Lock()
	defer s.wiring.mu.Unlock()
	err := s.st.Update(func(tx *store.Tx) error {
		i, ok := tx.Iface(id)
		if !ok || i.Dev != ev.Name {
			return nil
		}
		tx.PutIface(deviceGone(i, store.Traffic(ev.Counters)))
		return nil
	})
	if err == nil {
		err = s.cfg.Network.Wiring.Unplugged(ctx, id, "")
	}
	if err != nil {
		s.log.Warn("device gone", "dev", ev.Name, "iface_id", id, "err", err)
	}
}

// wiredDev is the iface wired on dev, or 0.
func (s *Workflows) wiredDev(dev string) int64 {
	var id int64
	s.st.View(func(tx *store.Tx) {
		tx.EachIface(func(i *store.Iface) bool {
			if i.Dev == dev {
				id = i.ID
				return false
			}
			return true
		})
	})
	return id
}

// Kick asks for the running VMs' devices to be wired again soon (new
// backend devices, perhaps: a VM started or rebooted).
func (s *Workflows) Kick() {
	select {
	case s.wiring.kick <- struct{}{}:
	default:
	}
}

// Kicked delivers the kicks, one at a time.
func (s *Workflows) Kicked() <-chan struct{} { return s.wiring.kick }

// Sweep removes the filters and shaping of ifaces keep refuses, while no
// step wires.
func (s *Workflows) Sweep(ctx context.Context, keep func(id int64) bool) (host.Leftovers, error) {
	s.wiring.mu.Lock()
	defer s.wiring.mu.Unlock()
	return s.cfg.Network.Wiring.Sweep(ctx, keep)
}

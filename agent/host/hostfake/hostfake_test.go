package hostfake_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/host/hosttest"
)

func hypervisorRig(h *hostfake.Hypervisor) hosttest.HypervisorRig {
	return hosttest.HypervisorRig{
		Hypervisor: h,
		Defined: func(_ context.Context, name string) (hosttest.Devices, error) {
			var d hosttest.Devices
			info, ok := h.Domain(name)
			if !ok {
				return d, host.ErrNoDomain
			}
			for _, disk := range info.Disks {
				d.Disks = append(d.Disks, disk.Path)
			}
			for _, i := range info.Spec.Ifaces {
				d.MACs = append(d.MACs, i.MAC)
			}
			return d, nil
		},
		Guest: func(name string, ignore bool) {
			h.SetGuest(name, hostfake.Guest{IgnoreShutdown: ignore, IgnoreReboot: ignore})
		},
	}
}

// The fake passes the suite whichever way its reboots show.
func TestHypervisorConformance(t *testing.T) {
	for _, c := range []struct {
		name  string
		style hostfake.RebootStyle
	}{{"reboot event", hostfake.RebootEvent}, {"reboot as a new id", hostfake.RebootNewID}, {"silent reboot", hostfake.RebootSilent}} {
		t.Run(c.name, func(t *testing.T) {
			hosttest.HypervisorSuite(t, func(t *testing.T) hosttest.HypervisorRig {
				return hypervisorRig(hostfake.NewHypervisor(hostfake.WithRebootStyle(c.style)))
			})
		})
	}
}

func TestVolumesConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []hostfake.VolumesOption
	}{{"files", nil}, {"block devices", []hostfake.VolumesOption{hostfake.Block()}}} {
		t.Run(c.name, func(t *testing.T) {
			hosttest.VolumesSuite(t, func(t *testing.T) hosttest.VolumesRig {
				v := hostfake.NewVolumes(c.opts...)
				return hosttest.VolumesRig{Volumes: v, Prefix: "xa-conf-", Data: v}
			})
		})
	}
}

func wiringRig(w *hostfake.Wiring) hosttest.WiringRig {
	return hosttest.WiringRig{
		Wiring: w,
		Plug:   func(_ *testing.T, i host.WireSpec) { w.Plug(i.Dev) },
		Unplug: func(_ *testing.T, dev string) { w.Unplug(dev) },
		Inspect: func(id int64, dev string) (hosttest.Wired, error) {
			var out hosttest.Wired
			got := w.Wired(id)
			if f := got.Filter; f != nil {
				out.Filtered, out.FilterDev, out.Firewalled = true, f.Dev, f.Firewall != nil
			}
			if s := got.Shaping; s != nil {
				out.IFB = true
				if s.Dev == dev && slices.Contains(w.Devices(), dev) {
					out.ToVM, out.FromVM = s.ToVM, s.FromVM
				}
			}
			return out, nil
		},
		Traffic: func(t *testing.T, i host.WireSpec) {
			c, err := w.Read(context.Background(), i.Dev)
			if err == nil {
				c.RxPackets, c.TxPackets, c.RxBytes, c.TxBytes = c.RxPackets+2, c.TxPackets+2, c.RxBytes+196, c.TxBytes+196
				err = w.SetCounters(i.Dev, c)
			}
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestWiringConformance(t *testing.T) {
	hosttest.WiringSuite(t, func(t *testing.T) hosttest.WiringRig { return wiringRig(hostfake.NewWiring()) })
}

func TestSeedsConformance(t *testing.T) {
	hosttest.SeedsSuite(t, func(t *testing.T) hosttest.SeedsRig {
		s := hostfake.NewSeeds()
		return hosttest.SeedsRig{
			Seeds: s,
			Holds: func(path string, spec host.SeedSpec) (bool, error) {
				got, err := s.Read(path)
				return reflect.DeepEqual(got, spec), err
			},
			Crash:     func(_ *testing.T, vmID int64) { s.PutPartial(vmID) },
			Leftovers: func(*testing.T) int { return s.Partial() },
		}
	})
}

func TestExtentsConformance(t *testing.T) {
	hosttest.ExtentsSuite(t, func(t *testing.T) hosttest.ExtentsRig {
		v := hostfake.NewVolumes()
		return hosttest.ExtentsRig{VolumesRig: hosttest.VolumesRig{Volumes: v, Prefix: "xa-conf-", Data: v}, Extents: v, Grain: 4096, Punches: true}
	})
}

// Save and Restore on the fake, whose guests count (GuestCount), as a
// QEMU guest taking new disk paths and as libxl keeping the saved ones.
func TestSaveConformance(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  []hostfake.HypervisorOption
		fixed bool
	}{{"new definition at restore", nil, false}, {"saved definition at restore", []hostfake.HypervisorOption{hostfake.WithSavedDefinition()}, true}} {
		t.Run(c.name, func(t *testing.T) {
			hosttest.SaveSuite(t, func(t *testing.T) hosttest.SaveRig {
				h := hostfake.NewHypervisor(c.opts...)
				return hosttest.SaveRig{Hypervisor: h, Spec: hosttest.DomainSpec, Defined: hypervisorRig(h).Defined, Live: hypervisorRig(h).Defined,
					Count: func(_ context.Context, name string) (int64, error) { return h.GuestCount(name) }, SavedDefinition: c.fixed}
			})
		})
	}
}

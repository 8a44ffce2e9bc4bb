package wire

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/agent/testenv"
)

// The port's suite on the wirer in a pair of network namespaces: the
// host's (a bridge, the VMs' backend devices, the filters and IFBs) and
// the guests' (the other ends of the veths). It needs root, as the rest
// of this package's tests, and under make test fails without it.
func TestWiringConformance(t *testing.T) {
	hosttest.WiringSuite(t, func(t *testing.T) hosttest.WiringRig {
		r := newRig(t)
		t.Cleanup(func() {
			if err := r.w.Settle(); err != nil {
				t.Errorf("IFB deletions: %v", err)
			}
		})
		r.host.Addr(t, "xabr0", "10.8.0.1/24")
		peers := map[string]string{}
		return hosttest.WiringRig{
			Wiring: r.w,
			Plug: func(t *testing.T, i host.WireSpec) {
				peer := fmt.Sprintf("eth%d", len(peers))
				r.plugVM(t, i, peer)
				peers[i.Dev] = peer
			},
			Unplug: func(t *testing.T, dev string) {
				l, err := r.host.H.LinkByName(dev)
				if err == nil {
					err = r.host.H.LinkDel(l)
				}
				if err != nil {
					t.Fatalf("removing %s: %v", dev, err)
				}
			},
			Inspect: r.inspect,
			Traffic: func(t *testing.T, i host.WireSpec) {
				testenv.Tool(t, "ping", "iputils-ping")
				a := i.IPv4[0].As4()
				gw := netip.AddrFrom4([4]byte{a[0], a[1], a[2], 1})
				if out, err := r.guest.Run("ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", peers[i.Dev], gw.String()); err != nil {
					t.Fatalf("ping from %s through the wiring: %v\n%s", i.Dev, err, out)
				}
			},
		}
	})
}

// plugVM makes a VM's backend device dev on the bridge, its other end
// peer in the guests' namespace with the VM's MAC and address.
func (r *rig) plugVM(t *testing.T, i host.WireSpec, peer string) {
	t.Helper()
	vif, eth := r.host.Veth(t, i.Dev, r.guest, peer)
	br, err := r.host.H.LinkByName("xabr0")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.host.H.LinkSetMaster(vif, br); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return r.guest.H.LinkSetDown(eth) },
		func() error { return r.guest.H.LinkSetHardwareAddr(eth, i.MAC) },
		func() error { return r.guest.H.LinkSetUp(eth) },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up %s: %v", peer, err)
		}
	}
	r.guest.Addr(t, peer, i.IPv4[0].String()+"/24")
}

// inspect reads back an iface's wiring: its filter, its IFB, and the
// rates on dev (what the VM sends is shaped only once redirected).
func (r *rig) inspect(id int64, dev string) (hosttest.Wired, error) {
	st, err := r.w.Inspect(id, dev)
	if err != nil {
		return hosttest.Wired{}, err
	}
	out := hosttest.Wired{Filtered: st.Filtered, FilterDev: st.Dev, Firewalled: st.Firewalled, ToVM: st.Shaping.ToVM}
	if st.Shaping.Redirected {
		out.FromVM = st.Shaping.FromVM
	}
	_, err = r.host.H.LinkByName(IFBName(id))
	var nf netlink.LinkNotFoundError
	switch {
	case err == nil:
		out.IFB = true
	case !errors.As(err, &nf):
		return out, err
	}
	return out, nil
}

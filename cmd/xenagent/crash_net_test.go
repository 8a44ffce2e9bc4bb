package main

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/xenagent/xenagent/network/antispoof"
	"github.com/xenagent/xenagent/network/wire"
)

// The agents of these tests wire their QEMU guests' taps in this host's
// namespace (libvirtd makes them there), with the real filter table and
// IFBs; tests in this package run one at a time, so each agent's sweep
// sees only its own objects.

func hostWirer(t *testing.T) (*wire.Wirer, *netlink.Handle) {
	t.Helper()
	h, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	f, err := antispoof.New()
	if err != nil {
		t.Fatal(err)
	}
	return wire.New(h, f), h
}

// unwireAll removes what agents of a test left in the host's namespace.
func unwireAll(t *testing.T) {
	w, h := hostWirer(t)
	defer h.Close()
	if _, err := w.Sweep(context.Background(), func(int64) bool { return false }); err != nil {
		t.Errorf("sweeping after the test: %v", err)
	}
}

// checkWiring asserts that exactly the ifaces in running are wired (their
// QEMU tap filtered and shaped both ways at bandwidth), that the ifaces in
// stopped keep only their filter, and that no other IFB or filter exists.
func (l *lab) checkWiring(running map[int64]float64, stopped ...int64) {
	l.t.Helper()
	w, h := hostWirer(l.t)
	defer h.Close()
	want := map[int64]bool{}
	for id, bw := range running {
		want[id] = true
		tap := fmt.Sprintf("xa-t%d", id)
		st, err := w.Inspect(id, tap)
		if err != nil {
			l.t.Errorf("iface %d: %v", id, err)
			continue
		}
		if !st.Filtered || st.Dev != tap || !st.Shaping.Redirected || st.Shaping.ToVM != uint64(bw) || st.Shaping.FromVM != uint64(bw) {
			l.t.Errorf("iface %d wiring = %+v, want filtered on %s and shaped both ways at %.0f bit/s", id, st, tap, bw)
		}
	}
	for _, id := range stopped {
		want[id] = true
		st, err := w.Inspect(id, "")
		if err != nil || !st.Filtered {
			l.t.Errorf("stopped iface %d: filtered %v (%v); the filter stays for its next device", id, st.Filtered, err)
		}
		if _, err := h.LinkByName(wire.IFBName(id)); err == nil {
			l.t.Errorf("stopped iface %d still has its IFB", id)
		}
	}
	links, _ := h.LinkList()
	for _, link := range links {
		var id int64
		if name := link.Attrs().Name; link.Type() == "ifb" && strings.HasPrefix(name, "xa-i") {
			fmt.Sscan(strings.TrimPrefix(name, "xa-i"), &id)
			if _, ok := running[id]; !ok {
				l.t.Errorf("leaked IFB %s", name)
			}
		}
	}
	f, _ := antispoof.New()
	installed, err := f.Installed()
	if err != nil {
		l.t.Fatal(err)
	}
	for id, dev := range installed {
		if !want[id] {
			l.t.Errorf("leaked filter of iface %d (dev %s)", id, dev)
		}
	}
}

// must0 lists every object of a kind.
func (l *lab) must0(method string) []any {
	l.t.Helper()
	return l.must(method, map[string]any{"items_per_page": int64(500)}).([]any)
}

// An iface goes through create, attach to a running VM, detach and
// delete, with the agent killed at one boundary of the cycle; a client
// then retries every call with its idempotency key. After each call the
// host's wiring matches the records, and at the end nothing is left.
func TestCrashDuringIfaceOperations(t *testing.T) {
	boundaries := []string{
		"iface_create:begin:finish", "iface_create:done:finish",
		"iface_attach:begin:attach", "iface_attach:done:attach", "iface_attach:begin:wire", "iface_attach:done:wire",
		"iface_detach:begin:detach", "iface_detach:done:detach", "iface_detach:begin:unwire", "iface_detach:done:unwire",
		"iface_delete:begin:unwire", "iface_delete:done:unwire", "iface_delete:begin:forget", "iface_delete:done:forget",
	}
	l := newLab(t, "")
	vmID := 920000 + rand.Int63n(70000)
	t.Cleanup(func() { undefine(vmID); unwireAll(t) })
	l.start("")
	l.createFrom(vmID)
	l.checkWhole(vmID, true)
	l.checkWiring(map[int64]float64{vmID: 102400})
	ips := len(l.must0("hosting.ip.list"))
	l.stop()
	for n, fp := range boundaries {
		t.Run(fp, func(t *testing.T) {
			l.t = t
			ifaceID := vmID + 100000 + int64(n)
			key := func(call string) map[string]any {
				return map[string]any{"idempotency_key": fmt.Sprintf("%s-%d", call, ifaceID), "iface_id": ifaceID}
			}
			calls := []func(){
				func() {
					l.create("hosting.iface.create", map[string]any{"datacenter_id": int64(1), "bandwidth": 4e6}, key("create"))
				},
				func() {
					l.call("hosting.vm.iface_attach", vmID, ifaceID, map[string]any{"idempotency_key": fmt.Sprint("attach-", ifaceID)})
				},
				func() {
					l.call("hosting.vm.iface_detach", vmID, ifaceID, map[string]any{"idempotency_key": fmt.Sprint("detach-", ifaceID)})
				},
				func() {
					l.call("hosting.iface.delete", ifaceID, map[string]any{"idempotency_key": fmt.Sprint("delete-", ifaceID)})
				},
			}
			checks := []func(){
				func() { l.checkWiring(map[int64]float64{vmID: 102400}) },
				func() { l.checkWiring(map[int64]float64{vmID: 102400, ifaceID: 4e6}) },
				func() { l.checkWiring(map[int64]float64{vmID: 102400}) },
				func() {
					l.checkWiring(map[int64]float64{vmID: 102400})
					if got := len(l.must0("hosting.ip.list")); got != ips {
						t.Errorf("%d IPs after the delete, want %d", got, ips)
					}
				},
			}
			// The fail point fires in the operation of its call.
			killedIn := slices.IndexFunc([]string{"iface_create", "iface_attach", "iface_detach", "iface_delete"},
				func(typ string) bool { return strings.HasPrefix(fp, typ+":") })
			l.start(fp)
			for i, call := range calls[:killedIn+1] {
				call()
				if i < killedIn {
					l.checkDisks()
					checks[i]()
				}
			}
			l.waitKilled()
			l.start("")
			for i := killedIn; i < len(calls); i++ {
				calls[i]()
				l.checkDisks()
				checks[i]()
			}
			l.checkWhole(vmID, true)
			l.stop()
		})
	}
}

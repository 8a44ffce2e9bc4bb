// Package nettest makes throwaway network namespaces for tests that need
// real links, qdiscs and nftables rules without touching the host's.
package nettest

import (
	"fmt"
	"math/rand"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/xenagent/xenagent/agent/testenv"
)

// NS is a named network namespace and a netlink handle bound to it.
type NS struct {
	Name string
	Fd   netns.NsHandle
	H    *netlink.Handle
}

// New makes a namespace with lo up, removed when the test ends.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	testenv.Root(t, "for network namespaces")
	testenv.Tool(t, "ip", "iproute2")
	name := fmt.Sprintf("%s-%d", prefix, rand.Intn(1e6))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	fd, err := netns.NewNamed(name) // switches this thread into it
	if serr := netns.Set(orig); serr != nil {
		panic(fmt.Sprintf("cannot return to the original namespace: %v", serr))
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		t.Fatal(err)
	}
	ns := &NS{Name: name, Fd: fd, H: h}
	t.Cleanup(func() {
		h.Close()
		fd.Close()
		netns.DeleteNamed(name)
	})
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return ns
}

// Run runs a command inside the namespace and returns its output.
func (ns *NS) Run(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Sysctl sets a per-namespace kernel setting (net.*) inside the namespace.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	testenv.Tool(t, "sysctl", "procps")
	if out, err := ns.Run("sysctl", "-qw", key+"="+value); err != nil {
		t.Fatalf("sysctl %s=%s in %s: %v: %s", key, value, ns.Name, err, out)
	}
}

// Veth links two namespaces with a veth pair: a in ns, b in peer.
func (ns *NS) Veth(t testing.TB, a string, peer *NS, b string) (netlink.Link, netlink.Link) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = a
	if err := ns.H.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: b, PeerNamespace: netlink.NsFd(peer.Fd)}); err != nil {
		t.Fatalf("veth %s/%s: %v", a, b, err)
	}
	la, err := ns.H.LinkByName(a)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := peer.H.LinkByName(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		h *netlink.Handle
		l netlink.Link
	}{{ns.H, la}, {peer.H, lb}} {
		if err := x.h.LinkSetUp(x.l); err != nil {
			t.Fatal(err)
		}
	}
	return la, lb
}

// Addr adds an address (CIDR) to a link of the namespace.
func (ns *NS) Addr(t testing.TB, link, cidr string) {
	t.Helper()
	l, err := ns.H.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	a.Flags |= 0x02 // IFA_F_NODAD: tests use IPv6 at once
	if err := ns.H.AddrAdd(l, a); err != nil {
		t.Fatalf("address %s on %s: %v", cidr, link, err)
	}
}

// Do runs fn on a thread inside the namespace: sockets fn opens stay in
// it, and may be used from any goroutine afterwards.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns.Fd); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering %s: %w", ns.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so it dies with its goroutine
		// instead of serving others in the wrong namespace.
		return fmt.Errorf("leaving %s: %w", ns.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

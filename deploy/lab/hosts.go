package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// A lab of two hosts (issue 15: VMs move between them) is two outer
// machines booted from the one cached image, each with its own overlays,
// share, agent, thin pool and forwarded ports, and a second NIC each on
// one virtual segment: QEMU carries its frames as UDP datagrams between
// two loopback ports (-netdev dgram, one machine's local port the other's
// remote). In dom0 that NIC is a port of xenbr0, the guests' bridge, so
// the bridges of both hosts are one segment: a guest on either host
// answers at its address from both dom0s, and the agents reach each other
// dom0 to dom0 on it (A at 10.99.0.1:8080, B at 10.99.0.2:8080), where a
// transfer between them goes. None of this is in the image (its cache key
// stays): the harness joins the segment over ssh at every boot.

// Host is what tells a lab host apart: the outer machine's size and
// dom0's place on the guests' segment, 10.99.0.0/24.
type Host struct {
	// Name is the host's short name: dom0's hostname is lab-<name>.
	Name string
	// MemoryMB and CPUs size the outer machine; Dom0MemoryMB is dom0's
	// share of it, the rest is for guests.
	MemoryMB, CPUs, Dom0MemoryMB int
	// Addr is dom0's address on xenbr0 (CIDR). HostA's is the gateway of
	// both agents' pools: one gateway for the segment, as a datacenter's
	// hosts share their router, so a guest keeps its address and its
	// route on whichever host it runs.
	Addr string
	// PoolFirst..PoolLast is the agent's range of guest addresses,
	// disjoint between hosts so two agents never hand out one address.
	// A guest that moves keeps its address all the same: a target takes
	// any guest address of its network (hosting.migration.ticket's
	// same_network), and the host it left holds it meanwhile.
	PoolFirst, PoolLast string
	// LinkMAC is the shared NIC's, by which dom0 finds it. BridgeMAC is
	// xenbr0's, set because the hosts boot one image: one machine-id,
	// from which systemd derives a bridge's MAC (MACAddressPolicy=
	// persistent), would give both bridges one address, and each would
	// drop the other's frames as its own.
	LinkMAC, BridgeMAC string
}

var (
	// HostA is the lab's first host, the one a single-host lab has: the
	// size measured to carry the scenarios (LAB-NOTES), 2 vCPUs.
	HostA = Host{Name: "a", MemoryMB: 3072, CPUs: 2, Dom0MemoryMB: 1536,
		Addr: "10.99.0.1/24", PoolFirst: "10.99.0.10", PoolLast: "10.99.0.200",
		LinkMAC: "52:54:00:99:00:0a", BridgeMAC: "52:54:00:99:01:0a"}
	// HostB is the second host, smaller: one vCPU, so that the two
	// machines' three TCG threads leave the 2 cores of CI some room,
	// and room for two or three 256 MB guests beside a 1 GB dom0.
	HostB = Host{Name: "b", MemoryMB: 2048, CPUs: 1, Dom0MemoryMB: 1024,
		Addr: "10.99.0.2/24", PoolFirst: "10.99.0.201", PoolLast: "10.99.0.240",
		LinkMAC: "52:54:00:99:00:0b", BridgeMAC: "52:54:00:99:01:0b"}
)

// IP is dom0's address on the guests' segment, without its prefix length.
func (h Host) IP() string { ip, _, _ := strings.Cut(h.Addr, "/"); return ip }

// Link is a host's end of the shared segment: UDP ports on 127.0.0.1.
type Link struct {
	Local, Remote int
}

// LinkPair allocates the two ends of a segment between two hosts.
func LinkPair() (a, b Link, err error) {
	var ports [2]int
	for i := range ports {
		// Held until both are chosen, so the two differ.
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return a, b, fmt.Errorf("choosing a UDP port for the shared segment: %w", err)
		}
		defer c.Close()
		ports[i] = c.LocalAddr().(*net.UDPAddr).Port
	}
	return Link{Local: ports[0], Remote: ports[1]}, Link{Local: ports[1], Remote: ports[0]}, nil
}

// joinScript makes dom0 a member of the shared segment: its hostname,
// xenbr0's own MAC and address (the image gives every dom0 10.99.0.1;
// dropped before the port joins, so the segment never sees it twice),
// then the NIC with LinkMAC as a port of xenbr0. Run at every boot;
// running it twice changes nothing.
func joinScript(h Host) string {
	return fmt.Sprintf(`set -e
dev=
for d in /sys/class/net/*; do [ "$(cat $d/address)" = %[1]q ] && dev=${d##*/}; done
[ -n "$dev" ] || { echo "no NIC with MAC %[1]s" >&2; ip -br link >&2; exit 1; }
echo lab-%[2]s > /etc/hostname
hostname lab-%[2]s
ip link set xenbr0 address %[3]s
ip -4 addr flush dev xenbr0
ip addr add %[4]s dev xenbr0
ip link set "$dev" master xenbr0
ip link set "$dev" up
ip link set xenbr0 up
`, h.LinkMAC, h.Name, h.BridgeMAC, h.Addr)
}

// NewPair builds the run's artefacts once and makes hosts A and B under
// run (run/a, run/b), joined by a segment, with agent(h) as each host's
// agent configuration. Neither is booted (BootAll).
func NewPair(ctx context.Context, repo, cache, run string, log func(string, ...any), agent func(Host) string) (a, b *Lab, err error) {
	art, err := Build(ctx, repo, cache, filepath.Join(run, "build"), log)
	if err != nil {
		return nil, nil, err
	}
	linkA, linkB, err := LinkPair()
	if err != nil {
		return nil, nil, err
	}
	var labs [2]*Lab
	for i, h := range []struct {
		host Host
		link Link
	}{{HostA, linkA}, {HostB, linkB}} {
		dir := filepath.Join(run, h.host.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		if labs[i], err = art.NewHost(ctx, Config{Repo: repo, Cache: cache, RunDir: dir, Log: log,
			Host: h.host, Link: &h.link, Agent: agent(h.host)}); err != nil {
			return nil, nil, fmt.Errorf("host %s: %w", h.host.Name, err)
		}
	}
	return labs[0], labs[1], nil
}

// BootAll boots the hosts at once and waits for all of them; the first
// that fails stops the others waiting, and its error is returned.
func BootAll(ctx context.Context, labs ...*Lab) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(labs))
	for _, l := range labs {
		go func(l *Lab) {
			err := l.Boot(ctx)
			if err != nil {
				cancel()
				err = fmt.Errorf("host %s: %w", l.cfg.Host.Name, err)
			}
			errs <- err
		}(l)
	}
	var first error
	for range labs {
		// The cause, not the cancellations it caused in the others.
		if err := <-errs; err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	return first
}

// Host is the host this lab machine is.
func (l *Lab) Host() Host { return l.cfg.Host }

// RunDir is the host's run directory (overlays, share, console.log).
func (l *Lab) RunDir() string { return l.cfg.RunDir }

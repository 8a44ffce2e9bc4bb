package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/xenagent/xenagent/network/antispoof"
	"github.com/xenagent/xenagent/network/shaper"
	"github.com/xenagent/xenagent/network/wire"
)

// netRows measures the shaper's accuracy with iperf3 between two
// namespaces joined by a veth pair (the host side standing in for a
// vif), at 1, 10, 100 and 1000 Mbit/s, both ways, every second after
// the first. The ceiling for TCP goodput is the rate x 1448/1514.
func netRows(seconds int, ratesMbps []uint64) ([]row, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the network benchmark needs root for namespaces")
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return nil, fmt.Errorf("the network benchmark needs iperf3 (make deps installs it)")
	}
	host, guest := "xa-bench-host", "xa-bench-guest"
	hostNS, err := makeNS(host)
	if err != nil {
		return nil, err
	}
	defer netns.DeleteNamed(host)
	guestNS, err := makeNS(guest)
	if err != nil {
		return nil, err
	}
	defer netns.DeleteNamed(guest)
	h, err := netlink.NewHandleAt(hostNS)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "vifb.0"
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(guestNS)}); err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{host, "ip", "addr", "add", "10.97.0.1/24", "dev", "vifb.0"}, {host, "ip", "link", "set", "vifb.0", "up"},
		{guest, "ip", "addr", "add", "10.97.0.2/24", "dev", "eth0"}, {guest, "ip", "link", "set", "eth0", "up"},
		{host, "ip", "link", "set", "lo", "up"}, {guest, "ip", "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"netns", "exec"}, c...)...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %v %s", c, err, out)
		}
	}
	// -J: a client asking for the server's output gets its intervals as
	// JSON only from a JSON server; otherwise it gets text.
	server := exec.Command("ip", "netns", "exec", host, "iperf3", "-s", "-J", "-B", "10.97.0.1")
	if err := server.Start(); err != nil {
		return nil, err
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	time.Sleep(300 * time.Millisecond) // iperf3 -s has no readiness signal; the client retries below anyway

	s := shaper.New(h)
	var rows []row
	for _, mbps := range ratesMbps {
		bps := mbps * 1_000_000
		if err := s.Apply("vifb.0", "xa-ib", shaper.Limits{ToVM: bps, FromVM: bps}); err != nil {
			return nil, err
		}
		ceiling := float64(bps) * 1448 / 1514
		for _, dir := range []struct {
			name    string
			reverse bool
		}{{"from the VM", false}, {"to the VM", true}} {
			rates, err := iperf(guest, seconds, dir.reverse)
			if err != nil {
				return nil, fmt.Errorf("%d Mbit/s %s: %w", mbps, dir.name, err)
			}
			worst := 0.0
			for _, r := range rates {
				if d := (r - ceiling) / ceiling; math.Abs(d) > math.Abs(worst) {
					worst = d
				}
			}
			lo, hi := minMax(rates)
			rows = append(rows, row{
				name:   fmt.Sprintf("bandwidth %4d Mbit/s %s, per second (ceiling %.3f)", mbps, dir.name, ceiling/1e6),
				value:  fmt.Sprintf("%.3f-%.3f Mbit/s, worst %+.1f%%", lo/1e6, hi/1e6, worst*100),
				target: "within ±3 %",
				ok:     math.Abs(worst) <= 0.03,
			})
		}
	}
	if err := s.Remove("vifb.0", "xa-ib"); err != nil {
		return nil, err
	}
	wrows, err := wireRows(h, hostNS, 100)
	return append(rows, wrows...), err
}

// wireRows times wiring an interface (filter, shaping both ways) and
// unwiring it, one at a time, and apart from that the deletion of its
// IFB, which the kernel makes wait for an RCU grace period and the agent
// leaves to a background reaper.
func wireRows(h *netlink.Handle, ns netns.NsHandle, rounds int) ([]row, error) {
	f, err := antispoof.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return nil, err
	}
	reaper, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer reaper.Close()
	w := wire.New(h, f, shaper.WithReaper(reaper))
	iface := wire.Iface{ID: 1, Dev: "vifb.0", MAC: net.HardwareAddr{0xaa, 0, 0, 0, 0, 1},
		IPv4: []netip.Addr{netip.MustParseAddr("10.97.0.2")}, Bandwidth: 100_000_000}
	var both, reap []time.Duration
	for range rounds {
		start := time.Now()
		if err := w.Wire(context.Background(), iface); err != nil {
			return nil, err
		}
		if err := w.Unwire(context.Background(), iface.ID, iface.Dev); err != nil {
			return nil, err
		}
		both = append(both, time.Since(start))
		start = time.Now()
		if err := w.Settle(); err != nil {
			return nil, err
		}
		reap = append(reap, time.Since(start))
	}
	med, p99 := quantiles(both)
	rmed, rp99 := quantiles(reap)
	return []row{
		{name: "wire + unwire an iface (median, p99)", value: ms(med) + ", " + ms(p99), target: "≤ 20 ms", ok: p99 <= 20*time.Millisecond},
		{name: "  its IFB deleted in the background after (median, p99)", value: ms(rmed) + ", " + ms(rp99), target: "-", ok: true},
	}, nil
}

func makeNS(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	netns.DeleteNamed(name) // a previous run's, if it was killed
	ns, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		panic(serr)
	}
	return ns, err
}

// iperf runs a client in the guest namespace and returns the goodput of
// each whole second after the first, as the receiver saw it (a sender's
// seconds measure what entered its socket buffer, which at 1 Mbit/s swings
// by half): the client's with -R, the server's otherwise. The last,
// partial interval is left out: a tenth of a second holds a frame or two.
func iperf(guest string, seconds int, reverse bool) ([]float64, error) {
	args := []string{"netns", "exec", guest, "iperf3", "-c", "10.97.0.1", "-J", "-t", strconv.Itoa(seconds + 1)}
	if reverse {
		args = append(args, "-R")
	} else {
		args = append(args, "--get-server-output")
	}
	var out []byte
	var err error
	for range 10 {
		if out, err = exec.Command("ip", args...).Output(); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("iperf3: %v %s", err, out)
	}
	return receivedRates(out, reverse)
}

// receivedRates reads the receiver's whole seconds after the first from
// an iperf3 client's JSON report.
func receivedRates(report []byte, reverse bool) ([]float64, error) {
	type intervals []struct {
		Sum struct {
			Seconds       float64 `json:"seconds"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum"`
	}
	var res struct {
		Intervals intervals `json:"intervals"`
		Server    *struct {
			Intervals intervals `json:"intervals"`
		} `json:"server_output_json"`
	}
	if err := json.Unmarshal(report, &res); err != nil {
		return nil, err
	}
	received := res.Intervals
	if !reverse {
		if res.Server == nil {
			return nil, fmt.Errorf("iperf3 sent no JSON server report (is the server running with -J?)")
		}
		received = res.Server.Intervals
	}
	var rates []float64
	for i, iv := range received {
		if i > 0 && iv.Sum.Seconds >= 0.9 {
			rates = append(rates, iv.Sum.BitsPerSecond)
		}
	}
	if len(rates) == 0 {
		return nil, fmt.Errorf("iperf3 reported no whole second after the first")
	}
	return rates, nil
}

func minMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

package lab

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ifaceOf is the id of a VM's first iface.
func (s *scenario) ifaceOf(vmID int64) int64 {
	info := s.c.must("hosting.vm.info", vmID).(map[string]any)
	return info["ifaces"].([]any)[0].(map[string]any)["id"].(int64)
}

// wiredVif asserts that a running VM's first vif is filtered and shaped
// both ways at bps, and returns its name.
func (s *scenario) wiredVif(vmID, ifaceID int64, bps float64) string {
	s.t.Helper()
	vif := fmt.Sprintf("vif%s.0", s.domid(vmID))
	rate := fmt.Sprintf("rate %s", tcRate(bps))
	ifb := fmt.Sprintf("xa-i%d", ifaceID)
	toVM, fromVM := s.dom0("tc qdisc show dev "+vif), s.dom0("tc qdisc show dev "+ifb)
	if !strings.Contains(toVM, "tbf") || !strings.Contains(toVM, rate) || !strings.Contains(toVM, "ingress") {
		s.t.Fatalf("%s is not shaped to the VM at %s:\n%s", vif, rate, toVM)
	}
	if !strings.Contains(fromVM, "tbf") || !strings.Contains(fromVM, rate) {
		s.t.Fatalf("%s does not shape what the VM sends at %s:\n%s", ifb, rate, fromVM)
	}
	// nft prints the Go library's ifname keys as "" (it reads them with
	// another byte order), so only the jump is counted here: one per iface,
	// the old vif's element replaced. The spoofing check below shows the
	// chain is the one this vif's frames go through.
	if m := s.dom0("nft list map bridge xenagent vifs"); len(regexp.MustCompile(fmt.Sprintf(`jump iface-%d\b`, ifaceID)).FindAllString(m, -1)) != 1 {
		s.t.Fatalf("%s is not filtered by iface-%d (one map element):\n%s", vif, ifaceID, m)
	}
	return vif
}

// tcRate is how tc prints a rate of bps bit/s.
func tcRate(bps float64) string {
	switch {
	case bps >= 1e6 && int64(bps)%1000000 == 0:
		return fmt.Sprintf("%dMbit", int64(bps/1e6))
	case bps >= 1e3 && int64(bps)%1000 == 0:
		return fmt.Sprintf("%dKbit", int64(bps/1e3))
	}
	return fmt.Sprintf("%dbit", int64(bps))
}

// measure runs a TCP stream with the guest for a few seconds and returns
// the rate in bit/s that the shaping let through, read from the kernel's
// counters over 5 s once the stream runs: toward the guest, what its vif
// sent; from the guest, what its IFB passed on.
func (s *scenario) measure(ip, vif, ifb string, toVM bool) float64 {
	s.t.Helper()
	stream, counter := fmt.Sprintf("cat /dev/zero > /dev/tcp/%s/5001", ip), "/sys/class/net/"+vif+"/statistics/tx_bytes"
	if !toVM {
		stream, counter = fmt.Sprintf("cat < /dev/tcp/%s/5002 > /dev/null", ip), "/sys/class/net/"+ifb+"/statistics/tx_bytes"
	}
	// The clock is read with the counter: under TCG "sleep 5" and the
	// forks around it take visibly longer than 5 s.
	out := s.dom0(fmt.Sprintf("(timeout 9 bash -c '%s' 2>/dev/null &); sleep 2; a=$(cat %s); s=$(date +%%s%%N); sleep 5; b=$(cat %s); e=$(date +%%s%%N); echo $((b-a)) $((e-s))", stream, counter, counter))
	var bytes, ns float64
	if _, err := fmt.Sscan(out, &bytes, &ns); err != nil || ns <= 0 {
		s.t.Fatalf("measuring: %q", out)
	}
	time.Sleep(3 * time.Second) // the stream ends before the next one
	return bytes * 8 / (ns / 1e9)
}

// networkScenario: a running guest's iface is filtered and shaped on its
// vif, both ways, at the rate its record says; hosting.iface.update
// changes the rate live; the guest cannot use an address that is not its
// own; traffic counters reach the API. It returns what the iface had
// counted, for a later check that a restart (new vif) keeps it.
func (s *scenario) networkScenario(vmID int64, ip, vifBefore string) int64 {
	t := s.t
	ifaceID := s.ifaceOf(vmID)
	ifb := fmt.Sprintf("xa-i%d", ifaceID)
	const rate = 4e6
	vif := s.wiredVif(vmID, ifaceID, rate)
	var streamed int64
	t.Logf("bandwidth and filter on the vif after reboot: %s (was %s before the restarts)", vif, vifBefore)
	for _, bps := range []float64{rate, rate / 2} {
		if bps != rate {
			start := time.Now()
			s.c.wait(s.c.must("hosting.iface.update", ifaceID, map[string]any{"bandwidth": bps}), time.Minute)
			t.Logf("iface.update to %.0f bit/s: DONE in %v", bps, time.Since(start).Round(time.Millisecond))
			s.wiredVif(vmID, ifaceID, bps)
		}
		to, from := s.measure(ip, vif, ifb, true), s.measure(ip, vif, ifb, false)
		t.Logf("shaped at %.1f Mbit/s: to the guest %.3f Mbit/s (%+.1f%%), from the guest %.3f Mbit/s (%+.1f%%)",
			bps/1e6, to/1e6, (to/bps-1)*100, from/1e6, (from/bps-1)*100)
		// Shaping never lets more through; how close the guest (nested,
		// under TCG) comes is what it can do, so below only a floor.
		for _, got := range []float64{to, from} {
			if got > bps*1.05 || got < bps*0.3 {
				t.Fatalf("measured %.0f bit/s with the iface shaped at %.0f", got, bps)
			}
		}
		if bps == rate {
			streamed = int64(to * 5 / 8)
		}
	}
	s.c.wait(s.c.must("hosting.iface.update", ifaceID, map[string]any{"bandwidth": rate}), time.Minute)

	// The guest claims 10.99.0.250 too; its answers carry that address
	// and are dropped at its vif, with the drop counted.
	if _, err := s.l.Exec(s.ctx, "ping -c3 -W1 10.99.0.250"); err == nil {
		t.Fatalf("a spoofed address answered ping through the filter")
	}
	chain := s.dom0(fmt.Sprintf("nft list chain bridge xenagent iface-%d", ifaceID))
	t.Logf("spoofed 10.99.0.250 unreachable, guest's own %s reachable; its filter chain:\n%s", ip, chain)
	dropped := false
	for _, m := range regexp.MustCompile(`packets (\d+) bytes \d+ drop`).FindAllStringSubmatch(chain, -1) {
		dropped = dropped || m[1] != "0"
	}
	if !dropped {
		t.Fatalf("no drop counted in iface-%d", ifaceID)
	}
	s.pingable(ip)

	traffic := s.c.must("hosting.iface.info", ifaceID).(map[string]any)["traffic"].(map[string]any)
	rx, tx := traffic["rx_bytes"].(int64), traffic["tx_bytes"].(int64)
	t.Logf("iface.info traffic: rx %d bytes, tx %d bytes", rx, tx)
	if rx < streamed || tx == 0 {
		t.Fatalf("traffic counters missed the streams: %v", traffic)
	}
	return rx
}

// countersKept asserts that an iface's counts survived its VM's restarts.
func (s *scenario) countersKept(vmID int64, rxBefore int64) {
	rx := s.c.must("hosting.iface.info", s.ifaceOf(vmID)).(map[string]any)["traffic"].(map[string]any)["rx_bytes"].(int64)
	s.t.Logf("traffic counted across the restarts (new vifs): rx %d bytes (was %d)", rx, rxBefore)
	if rx < rxBefore {
		s.t.Fatalf("rx_bytes went back from %d to %d", rxBefore, rx)
	}
}

package lab

import (
	"fmt"
	"strings"
	"time"
)

// firewallScenario: an inbound firewall on a running Xen guest's iface
// (policy drop, TCP 5001 from the lab network) lets dom0 reach port 5001
// only (the guest's nc listeners, guesttest), not 5002 nor ping; the
// rules hold after a reboot (a new domain id, a new vif); removing them
// lets everything in again.
func (s *scenario) firewallScenario(vmID int64, ip string) {
	t := s.t
	ifaceID := s.ifaceOf(vmID)
	lan := ip[:strings.LastIndex(ip, ".")] + ".0/24"
	apply := func(fw map[string]any) time.Duration {
		start := time.Now()
		s.c.wait(s.c.must("hosting.iface.firewall_apply", ifaceID, fw), time.Minute)
		return time.Since(start)
	}
	connects := func(port int) bool {
		_, err := s.l.Exec(s.ctx, fmt.Sprintf("timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%d'", ip, port))
		return err == nil
	}
	pings := func() bool {
		_, err := s.l.Exec(s.ctx, "ping -c2 -W1 "+ip)
		return err == nil
	}
	took := apply(map[string]any{"policy": "drop", "rules": []any{
		map[string]any{"protocol": "tcp", "port_min": int64(5001), "source": lan, "action": "accept"}}})
	removed := false
	defer func() {
		if !removed {
			apply(map[string]any{"policy": "accept", "rules": []any{}})
		}
	}()
	check := func(when string) {
		t.Helper()
		if !connects(5001) || connects(5002) || pings() {
			t.Errorf("firewall %s: 5001 %v (want open), 5002 %v, ping %v (want both dropped); chain:\n%s", when,
				connects(5001), connects(5002), pings(), s.dom0(fmt.Sprintf("nft list chain bridge xenagent in-%d", ifaceID)))
		}
	}
	t.Logf("firewall_apply on a running guest: DONE in %v", took.Round(time.Millisecond))
	check("applied")
	before := s.domid(vmID)
	s.action("hosting.vm.reboot", vmID)
	// Ping is dropped: the guest is back when its open port answers.
	deadline := time.Now().Add(3 * time.Minute)
	for !connects(5001) {
		if time.Now().After(deadline) {
			t.Fatalf("port 5001 of the rebooted guest never answered through its firewall")
		}
		time.Sleep(time.Second)
	}
	t.Logf("firewall after reboot (domain %s -> %s, vif%s.0):", before, s.domid(vmID), s.domid(vmID))
	check("after the reboot")
	apply(map[string]any{"policy": "accept", "rules": []any{}})
	removed = true
	if !connects(5002) || !pings() {
		t.Errorf("firewall removed: 5002 %v, ping %v, want both through", connects(5002), pings())
	}
}

package lab

import (
	"fmt"
	"strings"
	"time"

	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// credentialsScenario gives a running PV guest that has a seed a new
// password, reboots it through the agent (a fresh start: Xen recreates
// the domain from its definition) and waits for the guest to print the
// new seed's line on its console (xenconsoled's log): the next
// instance-id and the digest of the credentials dom0 reads in the seed.
func (s *scenario) credentialsScenario(vmID int64) {
	s.t.Helper()
	start := time.Now()
	op := s.c.must("hosting.vm.update", vmID, map[string]any{"password": "lab-pass-2"}).(map[string]any)
	if op["params"].(map[string]any)["effective"] != "next_boot" {
		s.t.Fatalf("vm.update with a password: %v, want params.effective next_boot", op)
	}
	s.c.wait(op, 2*time.Minute)
	if p := s.c.must("hosting.vm.info", vmID).(map[string]any)["restart_pending"]; p != true {
		s.t.Fatalf("restart_pending = %v after a new password", p)
	}
	seed := s.dom0(fmt.Sprintf(`mkdir -p /tmp/seed && mount -o loop,ro /var/lib/xenagent/seeds/xa-seed-%d.iso /tmp/seed && `+
		`creds() { %s; } && echo "$(grep -o '"instance-id": "[^"]*"' /tmp/seed/meta-data) creds=$(creds /tmp/seed/user-data)"; umount /tmp/seed`,
		vmID, guesttest.CredsScript))
	if !strings.Contains(seed, `-g1" creds=`) {
		s.t.Fatalf("seed after a new password: %s", seed)
	}
	want := "xenagent-guest: seed " + seed
	s.action("hosting.vm.reboot", vmID)
	if p := s.c.must("hosting.vm.info", vmID).(map[string]any)["restart_pending"]; p != false {
		s.t.Fatalf("restart_pending = %v after the reboot", p)
	}
	log := fmt.Sprintf("/var/log/xen/console/guest-xa-vm-%d.log", vmID)
	deadline := time.Now().Add(3 * time.Minute)
	for s.dom0(fmt.Sprintf("grep -cF %q %s || true", want, log)) == "0" {
		if time.Now().After(deadline) {
			s.t.Fatalf("the guest never printed %q; its console:\n%s", want, s.dom0("tail -20 "+log))
		}
		time.Sleep(2 * time.Second)
	}
	s.t.Logf("credentials: the PV guest read the new seed (%s) %v after vm.update", seed, time.Since(start).Round(time.Second))
}

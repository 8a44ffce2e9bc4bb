package lab

import (
	"fmt"
	"time"
)

// powerScenario drives the day-two power verbs on a running stubborn PV
// guest (it ignores Xen's shutdown requests): a force stop sent while a
// graceful stop waits on the guest ends both at once, far before the
// graceful deadline; then pause stops the guest answering ping and
// resume brings it back, and a force reboot resets it at once.
func (s *scenario) powerScenario(vmID int64, ip string, gracefulDeadline time.Duration) {
	t := s.t
	t.Helper()
	graceful := s.c.must("hosting.vm.stop", vmID)
	time.Sleep(3 * time.Second) // the graceful stop is now waiting on the guest
	start := time.Now()
	forced := s.c.must("hosting.vm.stop", vmID, map[string]any{"force": true})
	s.c.wait([]any{graceful, forced}, 2*time.Minute)
	took := time.Since(start)
	t.Logf("force stop behind a waiting graceful stop: both DONE %v after the force call (graceful deadline %v)", took.Round(time.Millisecond), gracefulDeadline)
	if took >= gracefulDeadline-3*time.Second || s.state(vmID) != "halted" {
		t.Fatalf("force stop behind a graceful one: DONE after %v, state %s", took, s.state(vmID))
	}

	s.action("hosting.vm.start", vmID)
	s.pingable(ip)
	took = s.action("hosting.vm.pause", vmID)
	if st := s.state(vmID); st != "paused" {
		t.Fatalf("state after vm.pause: %s", st)
	}
	if _, err := s.l.Exec(s.ctx, "ping -c3 -W1 "+ip); err == nil {
		t.Fatalf("a paused guest answered ping")
	}
	t.Logf("pause: DONE in %v, no ping answer while paused", took.Round(time.Millisecond))
	took = s.action("hosting.vm.resume", vmID)
	t.Logf("resume: DONE in %v, ping %v later", took.Round(time.Millisecond), s.pingable(ip).Round(time.Millisecond))

	before := s.domid(vmID)
	took = s.c.wait(s.c.must("hosting.vm.reboot", vmID, map[string]any{"force": true}), 2*time.Minute)
	t.Logf("force reboot: DONE in %v, domain id %s -> %s", took.Round(time.Millisecond), before, s.domid(vmID))
	// libxl has no reset: destroy and start, ~25 s under TCG; a graceful
	// reboot of this guest waits for its 60 s deadline first.
	if took >= 60*time.Second || s.domid(vmID) == before || s.state(vmID) != "running" {
		t.Fatalf("force reboot: DONE in %v, domain %s -> %s, state %s", took, before, s.domid(vmID), s.state(vmID))
	}
	s.pingable(ip)

	// CPU weight on Xen: logged, not asserted (libvirt's libxl driver sets
	// it live only under the credit scheduler; Xen 4.17 defaults to
	// credit2, where the weight applies at the next fresh start).
	s.c.wait(s.c.must("hosting.vm.update", vmID, map[string]any{"cpu_shares": int64(512)}), time.Minute)
	pending := s.c.must("hosting.vm.info", vmID).(map[string]any)["restart_pending"]
	out, err := s.l.Exec(s.ctx, fmt.Sprintf("xl sched-credit2 -d xa-vm-%[1]d 2>&1 || xl sched-credit -d xa-vm-%[1]d 2>&1", vmID))
	t.Logf("cpu_shares 512 on Xen: restart_pending %v; xl says (%v):\n%s", pending, err, out)
}

package lab

import (
	"fmt"
	"math/rand"
	"net/url"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/console/consoletest"
)

// consoleScenario opens the console of a running PV guest (its hvc0,
// through libvirt's console stream on libxl) over the agent's WebSocket,
// types a command into the guest's shell and reads its answer; then
// deactivating the console closes the session. Everything under TCG is
// slow: generous timeouts, and every failure shows what came.
func (s *scenario) consoleScenario(vmID int64) {
	s.t.Helper()
	start := time.Now()
	s.c.wait(s.c.must("hosting.vm.update", vmID, map[string]any{"console": true}), 2*time.Minute)
	if u, _ := s.c.must("hosting.vm.info", vmID).(map[string]any)["console_url"].(string); !strings.Contains(u, "/console/") {
		s.t.Fatalf("console_url %q after activating the console", u)
	}
	link := s.reachable(s.c.must("hosting.vm.console", vmID).(map[string]any)["url"].(string))

	old := consoletest.Wait
	consoletest.Wait = time.Minute
	defer func() { consoletest.Wait = old }()
	c := consoletest.Dial(s.t, link)
	if h := c.Frame("hello"); h["writer"] != true || h["vm_id"] != float64(vmID) {
		s.t.Fatalf("console hello %v: want the writer of vm %d", h, vmID)
	}
	x, y := 100+rand.Intn(900), 100+rand.Intn(900)
	want := fmt.Sprintf("lab-%d", x+y)
	// The shell may still be starting, or a line lost while it does:
	// type again every 5 s until the answer shows.
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(c.Output(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q from the guest's hvc0 after 2 min; console output:\n%s\nframes: %v", want, c.Output(), c.Frames())
		}
		c.Type(fmt.Sprintf("echo lab-$((%d+%d))\r", x, y))
		for i := 0; i < 50 && !strings.Contains(c.Output(), want); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	s.t.Logf("console: the PV guest answered %q on hvc0 %v after activation", want, time.Since(start).Round(time.Millisecond))
	if m, _ := consoletest.Dial(s.t, link).Frame("error")["message"].(string); !strings.Contains(m, "already used") {
		s.t.Fatalf("a console link used twice: %q", m)
	}

	s.c.wait(s.c.must("hosting.vm.update", vmID, map[string]any{"console": false}), 2*time.Minute)
	if st := c.Frame("status"); st["state"] != "closed" || !strings.Contains(fmt.Sprint(st["message"]), "deactivated") {
		s.t.Fatalf("status after deactivating the console: %v", st)
	}
	c.WaitClosed()
}

// reachable points a console link at the lab's forwarded port: the agent
// builds it from its own address inside dom0, which this side cannot
// reach.
func (s *scenario) reachable(link string) string {
	s.t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		s.t.Fatalf("console link %q: %v", link, err)
	}
	api, _ := url.Parse(s.l.URL())
	u.Scheme, u.Host = api.Scheme, api.Host
	return u.String()
}

// statsReport logs what the stats collector measured of a Xen guest
// through libxl (hosting.vm.stats: how many points per series were
// measured, the latest cpu figure). It reports, it does not judge: libxl's
// bulk stats call differs between versions, and a round it refuses is
// the agent's logged warning, not a failed lab.
func (s *scenario) statsReport(vmID int64) {
	v, err := s.c.call("hosting.vm.stats", vmID, map[string]any{"window": "1h"})
	if err != nil {
		s.t.Logf("stats: hosting.vm.stats on the Xen guest: %v", err)
		return
	}
	r, _ := v.(map[string]any)
	measured := func(series any) (n int, last any) {
		l, _ := series.([]any)
		for _, p := range l {
			if p != nil {
				n, last = n+1, p
			}
		}
		return n, last
	}
	cpu, _ := r["cpu"].(map[string]any)
	n, last := measured(cpu["cpu_used"])
	if n == 0 {
		out, _ := s.l.Exec(s.ctx, "journalctl -u xenagent --no-pager | grep -i stats | tail -5")
		s.t.Logf("stats on Xen: nothing measured; the agent's journal says:\n%s", out)
	}
	s.t.Logf("stats on Xen: %d cpu points measured in the last hour (latest %v vCPUs busy), ifaces %d, disks %d",
		n, last, len(asList(r["ifaces"])), len(asList(r["disks"])))
	for _, d := range asList(r["disks"]) {
		m, _ := d.(map[string]any)
		n, last := measured(m["write_bytes"])
		s.t.Logf("stats on Xen: disk %v: %d write points, latest %v B/s", m["disk_id"], n, last)
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

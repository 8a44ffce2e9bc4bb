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

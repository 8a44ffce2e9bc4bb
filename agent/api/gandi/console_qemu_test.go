package gandi

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/console/consoletest"
)

// The console of a real QEMU guest (busybox, a shell on its serial)
// through the agent: a WebSocket client types a command and reads the
// guest's answer; a late joiner gets the scrollback; a reader's
// keystrokes are dropped; deactivating closes the sessions; a stop ends
// them with "VM N stopped".
func TestQEMUConsole(t *testing.T) {
	q := newQEMUAgent(t, 60*time.Second, 60*time.Second)
	vmID := q.boot("coop")
	_, _, _ = q.serveConsoles(q.hv)
	q.setConsole(q.alice, vmID, true)
	link := func() string {
		return q.mustCall(q.alice, "hosting.vm.console", vmID).(map[string]any)["url"].(string)
	}

	w := consoletest.Dial(t, link())
	if h := w.Frame("hello"); h["writer"] != true {
		t.Fatalf("first client's hello %v: want the writer", h)
	}
	x, y := 1000+rand.Intn(9000), 1000+rand.Intn(9000)
	want := fmt.Sprintf("hello-%d", x+y)
	// The typed line echoes as "hello-$((x+y))": only the shell's answer
	// has the sum.
	w.Type(fmt.Sprintf("echo hello-$((%d+%d))\r", x, y))
	w.WaitOutput(want, 60*time.Second)
	t.Logf("guest answered %q", want)

	late := consoletest.Dial(t, link())
	if h := late.Frame("hello"); h["writer"] != false {
		t.Fatalf("late joiner's hello %v: want a reader", h)
	}
	late.WaitOutput(want, 0) // from the scrollback

	late.Type("echo reader-$((40+2))\r")
	w.Type(fmt.Sprintf("echo writer-$((%d+1))\r", x))
	w.WaitOutput(fmt.Sprintf("writer-%d", x+1), 60*time.Second)
	late.WaitOutput(fmt.Sprintf("writer-%d", x+1), 0)
	if strings.Contains(w.Output(), "reader-42") || strings.Contains(w.Output(), "reader-$((40+2))") {
		t.Fatalf("a reader's keystrokes reached the guest: %q", w.Output())
	}

	// Deactivating closes both sessions.
	q.setConsole(q.alice, vmID, false)
	for _, c := range []*consoletest.Client{w, late} {
		if st := c.Frame("status"); st["state"] != "closed" || !strings.Contains(st["message"].(string), "deactivated") {
			t.Errorf("status after deactivation: %v", st)
		}
		c.WaitClosed()
	}

	// Active again; the VM stopping ends the session with "VM N stopped".
	q.setConsole(q.alice, vmID, true)
	s := consoletest.Dial(t, link())
	s.Frame("hello")
	s.WaitOutput("", 0)
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.stop", vmID))
	if st := s.Frame("status"); st["state"] != "stopped" || st["message"] != fmt.Sprintf("VM %d stopped", vmID) {
		t.Errorf("status after the stop: %v", st)
	}
	s.WaitClosed()
	if _, f := q.call(q.alice, "hosting.vm.console", vmID); f == nil || !strings.Contains(f.Msg, "needs a running vm") {
		t.Errorf("console link of a stopped VM: %v", f)
	}
}

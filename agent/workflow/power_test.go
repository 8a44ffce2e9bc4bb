package workflow

import (
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// vm_stop is graceful while the guest obeys, and powers off at the
// deadline when it ignores both messages. Either way the VM ends halted,
// its devices unshaped and its filter kept for the next start.
func TestStop(t *testing.T) {
	tests := []struct {
		name                 string
		guest                hostfake.Guest
		timeouts             Timeouts
		shutdowns, destroyed int
		forced               bool
	}{
		{"the guest obeys the first message", hostfake.Guest{}, longTimeouts, 1, 0, false},
		{"the guest ignores both: destroyed at the deadline", hostfake.Guest{IgnoreShutdown: true}, shortTimeouts, 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBench(t, tt.timeouts)
			b.runningVM()
			b.hv.SetGuest(DomainName(vmID), tt.guest)
			began := time.Now()
			op := b.run(vmOp("vm_stop"))[0]
			took := time.Since(began)
			if p := progressOf[StopProgress](t, op); op.Step != store.StepDone || p.Forced != tt.forced || p.Messages != tt.shutdowns {
				t.Fatalf("vm_stop ended %s (%s), progress %+v", op.Step, op.LastError, p)
			}
			if n, d := b.hv.Count("Shutdown"), b.hv.Count("Destroy"); n != tt.shutdowns || d != tt.destroyed {
				t.Errorf("%d shutdown messages and %d destroys, want %d and %d", n, d, tt.shutdowns, tt.destroyed)
			}
			if tt.forced && took < tt.timeouts.Stop {
				t.Errorf("powered off after %v, before the deadline (%v)", took, tt.timeouts.Stop)
			}
			if st := b.state(); st.Running || !st.Exists {
				t.Errorf("domain %+v", st)
			}
			if v, _ := b.vm(); v.State != store.VMHalted {
				t.Errorf("vm %s", v.State)
			}
			w := b.net.Wired(ifaceID)
			if w.Filter == nil || w.Shaping != nil || len(b.net.Devices()) != 0 {
				t.Errorf("wiring after the stop: %+v, devices %v", w, b.net.Devices())
			}
		})
	}
}

// vm_reboot is confirmed by what the hypervisor shows (an event, a new
// domain id), assumed where it shows nothing (libvirt's test driver), and
// forced by a reset when the guest does not come back in time. The VM
// then runs, wired on whatever device it has now.
func TestReboot(t *testing.T) {
	tests := []struct {
		name     string
		style    hostfake.RebootStyle
		guest    hostfake.Guest
		timeouts Timeouts
		resets   int
		forced   bool
		dev      string
	}{
		{"confirmed by a reboot event", hostfake.RebootEvent, hostfake.Guest{}, longTimeouts, 0, false, "vif1.0"},
		{"confirmed by a new domain id", hostfake.RebootNewID, hostfake.Guest{}, longTimeouts, 0, false, "vif2.0"},
		{"assumed where nothing shows", hostfake.RebootSilent, hostfake.Guest{}, longTimeouts, 0, false, "vif1.0"},
		{"ignored: reset after the timeout", hostfake.RebootEvent, hostfake.Guest{IgnoreReboot: true}, shortTimeouts, 1, true, "vif1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBench(t, tt.timeouts, hostfake.WithRebootStyle(tt.style))
			b.runningVM()
			b.hv.SetGuest(DomainName(vmID), tt.guest)
			began := time.Now()
			op := b.run(vmOp("vm_reboot"))[0]
			took := time.Since(began)
			if p := progressOf[RebootProgress](t, op); op.Step != store.StepDone || p.Forced != tt.forced || !p.Sent {
				t.Fatalf("vm_reboot ended %s (%s), progress %+v", op.Step, op.LastError, p)
			}
			if n := b.hv.Count("Reset"); n != tt.resets || b.hv.Count("Reboot") != 1 {
				t.Errorf("%d reboot messages, %d resets; want 1 and %d", b.hv.Count("Reboot"), n, tt.resets)
			}
			if tt.resets > 0 && took < tt.timeouts.Reboot {
				t.Errorf("reset after %v, before the timeout (%v)", took, tt.timeouts.Reboot)
			}
			if v, _ := b.vm(); v.State != store.VMRunning || !b.state().Running {
				t.Errorf("vm %s, domain %+v", v.State, b.state())
			}
			w := b.net.Wired(ifaceID)
			if w.Filter == nil || w.Filter.Dev != tt.dev || w.Shaping == nil || w.Shaping.Dev != tt.dev {
				t.Errorf("wiring after the reboot: %+v, want on %s", w, tt.dev)
			}
		})
	}
}

// progressOf is what an operation's steps journalled, as T.
func progressOf[T any](t *testing.T, op store.Operation) T {
	t.Helper()
	p, err := ops.ProgressOf[T](op)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

package workflow

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/store"
)

// forceOp is a force vm_stop or vm_reboot of the bench's VM.
func forceOp(typ string) store.Operation {
	o := vmOp(typ)
	o.Input = json.RawMessage(`{"force":true}`)
	return o
}

// submit creates and enqueues one operation, as the service does, and
// returns its id without waiting.
func (b *bench) submit(o store.Operation) int64 {
	b.t.Helper()
	err := b.st.Update(func(tx *store.Tx) error {
		o.ID = tx.NextID("operation", tx.HasOperation)
		o.AccountID, o.Step, o.DateCreated, o.DateUpdated = 1, store.StepWait, now(), now()
		b.eng.Create(tx, o)
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.eng.Enqueue(o.ID)
	return o.ID
}

// await waits for operation id to end, within d, and returns it.
func (b *bench) await(id int64, d time.Duration) store.Operation {
	b.t.Helper()
	select {
	case <-b.eng.Done(id):
	case <-time.After(d):
		b.t.Fatalf("operation %d still running after %v", id, d)
	}
	var o store.Operation
	b.st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
	return o
}

// waitFor polls cond (a fake's call count) within 5 s.
func (b *bench) waitFor(what string, cond func() bool) {
	b.t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(end) {
			b.t.Fatalf("still waiting for %s", what)
		}
	}
}

// A force stop powers off a guest that ignores stop messages at once,
// sending none; a force reboot resets one that ignores reboots at once.
// Both are far within the graceful timeouts (a minute).
func TestForce(t *testing.T) {
	tests := []struct {
		typ               string
		destroys, resets  int
		state             string
		running           bool
		messages, reboots int
	}{
		{"vm_stop", 1, 0, store.VMHalted, false, 0, 0},
		{"vm_reboot", 0, 1, store.VMRunning, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			b := newBench(t, longTimeouts)
			b.runningVM()
			b.hv.SetGuest(DomainName(vmID), hostfake.Guest{IgnoreShutdown: true, IgnoreReboot: true})
			began := time.Now()
			op := b.run(forceOp(tt.typ))[0]
			if op.Step != store.StepDone || time.Since(began) > 5*time.Second {
				t.Fatalf("%s ended %s (%s) after %v", tt.typ, op.Step, op.LastError, time.Since(began))
			}
			if d, r, m, rb := b.hv.Count("Destroy"), b.hv.Count("Reset"), b.hv.Count("Shutdown"), b.hv.Count("Reboot"); d != tt.destroys || r != tt.resets || m != tt.messages || rb != tt.reboots {
				t.Errorf("%d destroys, %d resets, %d stop and %d reboot messages", d, r, m, rb)
			}
			if v, _ := b.vm(); v.State != tt.state || b.state().Running != tt.running {
				t.Errorf("vm %s, domain %+v", v.State, b.state())
			}
		})
	}
}

// A force operation submitted while a graceful stop or reboot waits on
// a stubborn guest does not wait behind it: the graceful one takes its
// forced path at once and ends DONE, naming the force operation
// (EscalatedBy); then the force one runs. A force reboot behind a
// graceful reboot does not reset the VM a second time (DoneBy).
func TestForceWhileGracefulWaits(t *testing.T) {
	tests := []struct {
		graceful, force  string
		pending          bool // the reboot applies a pending change (restartFresh)
		destroys, resets int
		state            string
	}{
		{"vm_stop", "vm_stop", false, 1, 0, store.VMHalted},
		{"vm_stop", "vm_reboot", false, 1, 0, store.VMRunning}, // powered off, then booted by the reboot
		{"vm_reboot", "vm_reboot", false, 0, 1, store.VMRunning},
		{"vm_reboot", "vm_stop", false, 1, 1, store.VMHalted},
		{"vm_reboot", "vm_reboot", true, 1, 0, store.VMRunning},
	}
	for _, tt := range tests {
		name := tt.graceful + " then force " + tt.force
		if tt.pending {
			name += " with a change pending"
		}
		t.Run(name, func(t *testing.T) {
			b := newBench(t, longTimeouts)
			b.runningVM()
			if tt.pending {
				b.st.Update(func(tx *store.Tx) error {
					v, _ := tx.VM(vmID)
					v.RestartPending = true
					tx.PutVM(v)
					return nil
				})
			}
			b.hv.SetGuest(DomainName(vmID), hostfake.Guest{IgnoreShutdown: true, IgnoreReboot: true})
			g := b.submit(vmOp(tt.graceful))
			b.waitFor("the graceful message", func() bool { return b.hv.Count("Shutdown")+b.hv.Count("Reboot") > 0 })
			began := time.Now()
			f := b.submit(forceOp(tt.force))
			b.wf.ForceSubmitted(vmID)
			gop, fop := b.await(g, 5*time.Second), b.await(f, 5*time.Second)
			took := time.Since(began)
			if gop.Step != store.StepDone || fop.Step != store.StepDone {
				t.Fatalf("graceful %s (%s), force %s (%s)", gop.Step, gop.LastError, fop.Step, fop.LastError)
			}
			var escalatedBy int64
			if tt.graceful == "vm_stop" {
				p := progressOf[StopProgress](t, gop)
				escalatedBy = p.EscalatedBy
				if !p.Forced {
					t.Errorf("graceful stop's progress %+v", p)
				}
			} else {
				p := progressOf[RebootProgress](t, gop)
				escalatedBy = p.EscalatedBy
				if !p.Forced {
					t.Errorf("graceful reboot's progress %+v", p)
				}
			}
			if escalatedBy != f {
				t.Errorf("graceful escalated by %d, want %d", escalatedBy, f)
			}
			if tt.graceful == "vm_reboot" && tt.force == "vm_reboot" {
				if p := progressOf[RebootProgress](t, fop); p.DoneBy != g {
					t.Errorf("force reboot's progress %+v, want done by %d", p, g)
				}
			}
			if d, r := b.hv.Count("Destroy"), b.hv.Count("Reset"); d != tt.destroys || r != tt.resets {
				t.Errorf("%d destroys and %d resets, want %d and %d", d, r, tt.destroys, tt.resets)
			}
			if v, _ := b.vm(); v.State != tt.state || v.RestartPending {
				t.Errorf("vm %s (restart pending %v), want %s", v.State, v.RestartPending, tt.state)
			}
			t.Logf("both done %v after the force operation was submitted (graceful timeouts: %v)", took.Round(time.Millisecond), longTimeouts.Stop)
		})
	}
}

// An agent that dies while a graceful stop waits, with a force stop
// queued behind it, escalates at once when it starts again: nothing
// rings, the queue and the journal say it.
func TestForceEscalatesAfterRestart(t *testing.T) {
	b := newBench(t, longTimeouts)
	b.runningVM()
	b.hv.SetGuest(DomainName(vmID), hostfake.Guest{IgnoreShutdown: true})
	g := b.submit(vmOp("vm_stop"))
	b.waitFor("the stop message", func() bool { return b.hv.Count("Shutdown") > 0 })
	f := b.submit(forceOp("vm_stop")) // no ForceSubmitted: the agent dies first
	b.cancel()
	b.eng.Wait()
	b.startEngine()
	gop, fop := b.await(g, 5*time.Second), b.await(f, 5*time.Second)
	if gop.Step != store.StepDone || fop.Step != store.StepDone {
		t.Fatalf("graceful %s (%s), force %s (%s)", gop.Step, gop.LastError, fop.Step, fop.LastError)
	}
	if p := progressOf[StopProgress](t, gop); p.EscalatedBy != f || !p.Forced {
		t.Errorf("graceful stop's progress %+v", p)
	}
	if v, _ := b.vm(); v.State != store.VMHalted || b.state().Running {
		t.Errorf("vm %s, domain %+v", v.State, b.state())
	}
}

// A crash at every journal boundary of a force stop, a force reboot, a
// pause and a resume: the restarted agent finishes the operation and the
// VM ends as asked.
func TestPowerCrashAtEveryBoundary(t *testing.T) {
	type chain struct {
		name       string
		setup      func(b *bench)
		op         store.Operation
		boundaries []string
		state      string
		check      func(t *testing.T, b *bench)
	}
	paused := func(b *bench) {
		if err := b.hv.Suspend(b.ctx, DomainName(vmID)); err != nil {
			b.t.Fatal(err)
		}
		b.st.Update(func(tx *store.Tx) error { RecordVMState(tx, vmID, store.VMPaused, false); return nil })
	}
	chains := []chain{
		{"force stop", nil, forceOp("vm_stop"), []string{"begin:stop", "done:stop", "begin:unplug", "done:unplug", "begin:finish"}, store.VMHalted,
			func(t *testing.T, b *bench) {
				if st := b.state(); st.Running {
					t.Errorf("domain %+v", st)
				}
			}},
		{"force reboot", nil, forceOp("vm_reboot"), []string{"begin:reboot", "done:reboot", "begin:wire", "done:wire", "begin:finish"}, store.VMRunning,
			func(t *testing.T, b *bench) {
				if st := b.state(); !st.Running || st.Paused {
					t.Errorf("domain %+v", st)
				}
				if n := b.hv.Count("Reset"); n < 1 || n > 2 {
					t.Errorf("%d resets: want one, or two when the crash came between the journal and the reset's end", n)
				}
			}},
		{"force stop of a paused vm", paused, forceOp("vm_stop"), []string{"begin:stop", "done:stop"}, store.VMHalted, nil},
		{"pause", nil, vmOp("vm_pause"), []string{"begin:pause", "done:pause", "begin:finish"}, store.VMPaused,
			func(t *testing.T, b *bench) {
				if st := b.state(); !st.Running || !st.Paused {
					t.Errorf("domain %+v", st)
				}
			}},
		{"resume", paused, vmOp("vm_resume"), []string{"begin:resume", "done:resume", "begin:finish"}, store.VMRunning,
			func(t *testing.T, b *bench) {
				if st := b.state(); !st.Running || st.Paused {
					t.Errorf("domain %+v", st)
				}
			}},
	}
	for _, c := range chains {
		for _, at := range c.boundaries {
			t.Run(c.name+" at "+at, func(t *testing.T) {
				b := newBench(t, longTimeouts)
				b.runningVM()
				b.hv.SetGuest(DomainName(vmID), hostfake.Guest{IgnoreShutdown: true, IgnoreReboot: true})
				if c.setup != nil {
					c.setup(b)
				}
				crashed := make(chan struct{})
				b.onBoundary = func(op store.Operation, boundary string) {
					if boundary == at {
						b.onBoundary = nil
						b.cancel()
						close(crashed)
					}
				}
				id := b.submit(c.op)
				select {
				case <-crashed:
				case <-time.After(5 * time.Second):
					t.Fatalf("never reached %s", at)
				}
				b.eng.Wait()
				b.startEngine()
				op := b.await(id, 5*time.Second)
				if op.Step != store.StepDone {
					t.Fatalf("after the restart: %s (%s)", op.Step, op.LastError)
				}
				if v, _ := b.vm(); v.State != c.state {
					t.Errorf("vm %s, want %s", v.State, c.state)
				}
				if c.check != nil {
					c.check(t, b)
				}
			})
		}
	}
}

// vm_pause suspends a running VM and records it paused; vm_resume lets
// it run on. A graceful stop of a paused VM resumes it first, so that the
// guest hears the message and stops by itself; pausing a halted VM fails
// the operation, naming why, and changes nothing.
func TestPauseResume(t *testing.T) {
	b := newBench(t, longTimeouts)
	b.runningVM()
	before := b.state()
	if op := b.run(vmOp("vm_pause"))[0]; op.Step != store.StepDone {
		t.Fatalf("vm_pause %s (%s)", op.Step, op.LastError)
	}
	if v, _ := b.vm(); v.State != store.VMPaused || !b.state().Paused || b.state().ID != before.ID {
		t.Fatalf("after pause: vm %s, domain %+v", v.State, b.state())
	}
	if op := b.run(vmOp("vm_resume"))[0]; op.Step != store.StepDone {
		t.Fatalf("vm_resume %s (%s)", op.Step, op.LastError)
	}
	if v, _ := b.vm(); v.State != store.VMRunning || b.state().Paused {
		t.Fatalf("after resume: vm %s, domain %+v", v.State, b.state())
	}
	b.run(vmOp("vm_pause"))
	resumes := b.hv.Count("Resume")
	op := b.run(vmOp("vm_stop"))[0]
	if p := progressOf[StopProgress](t, op); op.Step != store.StepDone || p.Forced {
		t.Fatalf("stop of a paused vm: %s (%s), progress %+v", op.Step, op.LastError, p)
	}
	if n := b.hv.Count("Resume") - resumes; n != 1 || b.hv.Count("Destroy") != 0 {
		t.Errorf("%d resumes and %d destroys: want the guest resumed and stopped by itself", n, b.hv.Count("Destroy"))
	}
	if v, _ := b.vm(); v.State != store.VMHalted {
		t.Errorf("vm %s", v.State)
	}
	op = b.run(vmOp("vm_pause"))[0]
	if op.Step != store.StepError || op.LastError == "" {
		t.Fatalf("pause of a halted vm: %s (%s)", op.Step, op.LastError)
	}
	t.Logf("pause of a halted vm: %s", op.LastError)
	if v, _ := b.vm(); v.State != store.VMHalted {
		t.Errorf("vm %s after a failed pause", v.State)
	}
}

package gandi

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/console/consoletest"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// submitRunning submits an action and waits until its operation runs
// and has had time to send the guest its message.
func (q *qemuAgent) submitRunning(method string, vmID int64, params ...any) int64 {
	q.t.Helper()
	id := q.mustCall(q.alice, method, append([]any{vmID}, params...)...).(map[string]any)["id"].(int64)
	waitFor(q.t, func() bool { return q.mustCall(q.alice, "operation.info", id).(map[string]any)["step"] == "RUN" })
	time.Sleep(time.Second)
	return id
}

func (q *qemuAgent) ended(id int64, within time.Duration) store.Operation {
	q.t.Helper()
	select {
	case <-q.eng.Done(id):
	case <-time.After(within):
		q.t.Fatalf("operation %d not ended within %v", id, within)
	}
	var o store.Operation
	q.st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
	if o.Step != store.StepDone {
		q.t.Fatalf("operation %d (%s) ended %s: %s", id, o.Type, o.Step, o.LastError)
	}
	return o
}

func (q *qemuAgent) consoleCount(vmID int64, marker string) int {
	b, _ := os.ReadFile(filepath.Join(q.consoles, workflow.DomainName(vmID)+".log"))
	return strings.Count(string(b), marker)
}

// A guest that ignores stop and reboot messages, with graceful timeouts
// of a minute: a force stop submitted while a graceful stop waits ends
// both within seconds (the graceful one escalated, DONE), and so does a
// force reboot behind a graceful reboot, the guest booting once more (one
// reset, not two); a force reboot alone resets at once.
func TestQEMUForce(t *testing.T) {
	t.Parallel()
	const patience = 60 * time.Second
	q := newQEMUAgent(t, patience, patience)
	vmID := q.boot("stubborn")
	ctx := context.Background()
	name := workflow.DomainName(vmID)

	g := q.submitRunning("hosting.vm.stop", vmID)
	began := time.Now()
	f := q.mustCall(q.alice, "hosting.vm.stop", vmID, map[string]any{"force": true}).(map[string]any)["id"].(int64)
	gop, fop := q.ended(g, 20*time.Second), q.ended(f, 20*time.Second)
	took := time.Since(began)
	t.Logf("force stop behind a waiting graceful stop: both DONE %v after the force call (graceful deadline %v)", took, patience)
	if p := stopProgress(t, gop); !p.Forced || p.EscalatedBy != f || p.Messages != 1 {
		t.Fatalf("graceful stop's journal %+v, want one message then escalated by %d", p, f)
	}
	if p := stopProgress(t, fop); !p.Forced || p.Messages != 0 {
		t.Fatalf("force stop's journal %+v", p)
	}
	if st, _ := q.hv.State(ctx, name); st.Running {
		t.Fatal("domain still running after the force stop")
	}
	if took > 15*time.Second {
		t.Fatalf("took %v", took)
	}
	if s := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; s != "halted" {
		t.Fatalf("state %v", s)
	}

	q.timedOp("hosting.vm.start", vmID)
	q.waitConsole(vmID, guesttest.ReadyMarker, 2)
	g = q.submitRunning("hosting.vm.reboot", vmID)
	began = time.Now()
	f = q.mustCall(q.alice, "hosting.vm.reboot", vmID, map[string]any{"force": true}).(map[string]any)["id"].(int64)
	gop, fop = q.ended(g, 20*time.Second), q.ended(f, 20*time.Second)
	took = time.Since(began)
	t.Logf("force reboot behind a waiting graceful reboot: both DONE %v after the force call (graceful deadline %v)", took, patience)
	if p := rebootProgress(t, gop); !p.Forced || p.EscalatedBy != f {
		t.Fatalf("graceful reboot's journal %+v, want escalated by %d", p, f)
	}
	if p := rebootProgress(t, fop); p.DoneBy != g {
		t.Fatalf("force reboot's journal %+v, want done by %d", p, g)
	}
	q.waitConsole(vmID, guesttest.ReadyMarker, 3)
	time.Sleep(3 * time.Second)
	if n := q.consoleCount(vmID, guesttest.ReadyMarker); n != 3 {
		t.Fatalf("the guest came up %d times: want 3 (one reset)", n)
	}

	o, took := q.timedOpAt2("hosting.vm.reboot", vmID, map[string]any{"force": true})
	t.Logf("force reboot: DONE %v after submit (graceful deadline %v)", took, patience)
	if p := rebootProgress(t, o); !p.Forced || took > 15*time.Second {
		t.Fatalf("force reboot journal %+v after %v", p, took)
	}
	q.waitConsole(vmID, guesttest.ReadyMarker, 4)
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.delete", vmID))
}

func (q *qemuAgent) timedOpAt2(method string, vmID int64, opts map[string]any) (store.Operation, time.Duration) {
	q.t.Helper()
	start := time.Now()
	id := q.mustCall(q.alice, method, vmID, opts).(map[string]any)["id"].(int64)
	o := q.ended(id, 60*time.Second)
	return o, time.Since(start)
}

// Pause and resume of a real guest: paused, its shell stops answering
// the console (the typed line waits) and libvirt says paused; resumed,
// it answers. A graceful stop of a paused VM resumes it so the guest
// stops by itself; a paused VM is deleted.
func TestQEMUPauseResume(t *testing.T) {
	t.Parallel()
	q := newQEMUAgent(t, 60*time.Second, 60*time.Second)
	vmID := q.boot("coop")
	ctx := context.Background()
	name := workflow.DomainName(vmID)
	q.serveConsoles(q.hv)
	q.setConsole(q.alice, vmID, true)
	link := q.mustCall(q.alice, "hosting.vm.console", vmID).(map[string]any)["url"].(string)
	w := consoletest.Dial(t, link)
	w.Frame("hello")
	x := 1000 + rand.Intn(9000)
	w.Type(fmt.Sprintf("echo before-$((%d+1))\r", x))
	w.WaitOutput(fmt.Sprintf("before-%d", x+1), 60*time.Second)

	q.timedOp("hosting.vm.pause", vmID)
	if s := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; s != "paused" {
		t.Fatalf("vm.info state %v after pause", s)
	}
	if st, _ := q.hv.State(ctx, name); !st.Paused {
		t.Fatalf("libvirt state %+v after pause", st)
	}
	want := fmt.Sprintf("paused-%d", x+2)
	w.Type(fmt.Sprintf("echo paused-$((%d+2))\r", x))
	time.Sleep(3 * time.Second)
	if strings.Contains(w.Output(), want) {
		t.Fatalf("a paused guest answered: %q", w.Output())
	}
	t.Logf("paused: no answer in 3 s")
	resumedAt := time.Now()
	q.timedOp("hosting.vm.resume", vmID)
	w.WaitOutput(want, 30*time.Second)
	t.Logf("resumed: the guest answered %v after the resume call", time.Since(resumedAt).Round(time.Millisecond))
	if s := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; s != "running" {
		t.Fatalf("vm.info state %v after resume", s)
	}

	q.timedOp("hosting.vm.pause", vmID)
	o, took := q.timedOp("hosting.vm.stop", vmID)
	t.Logf("graceful stop of a paused vm: DONE %v after submit", took)
	if p := stopProgress(t, o); p.Forced {
		t.Fatalf("the stop of a paused cooperative guest was forced: %+v", p)
	}
	q.timedOp("hosting.vm.start", vmID)
	q.waitConsole(vmID, guesttest.ReadyMarker, 2)
	q.timedOp("hosting.vm.pause", vmID)
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.delete", vmID))
	if st, _ := q.hv.State(ctx, name); st.Exists {
		t.Fatal("domain of a paused vm left after delete")
	}
}

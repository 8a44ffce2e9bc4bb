package gandi

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

var (
	guestsOnce sync.Once
	guestsDir  string
	guestsErr  error
)

// guests builds the busybox guests once per test binary.
func guests(t *testing.T) string {
	guestsOnce.Do(func() {
		guestsDir, guestsErr = os.MkdirTemp("", "xenagent-guests-")
		if guestsErr == nil {
			os.Chmod(guestsDir, 0o755)
			guestsErr = guesttest.Build(guestsDir)
		}
	})
	if guestsErr != nil {
		t.Fatal(guestsErr)
	}
	return guestsDir
}

type qemuAgent struct {
	*agent
	consoles string
	images   map[string]int64
}

// newQEMUAgent is an agent on qemu:///system with the test guests as
// kernels. QEMU runs as libvirt-qemu, so the directories are world-readable.
func newQEMUAgent(t *testing.T, stop, reboot time.Duration) *qemuAgent {
	guesttest.RequireQEMU(t)
	kernels := guests(t)
	dir := t.TempDir()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	consoles := filepath.Join(dir, "consoles")
	os.MkdirAll(consoles, 0o777)
	a := openAgent(t, dir, hypervisor.Config{URI: "qemu:///system", ConsoleDir: consoles}, true, func(c *agentConfig) {
		c.KernelsDir = kernels
		c.Timeouts = workflow.Timeouts{Stop: stop, StopMessages: 2, Reboot: reboot}
		c.Network.Bridge = "" // bare taps: no bridge needed on this machine
	})
	os.Chmod(filepath.Join(dir, "disks"), 0o777)
	q := &qemuAgent{agent: a, consoles: consoles, images: map[string]int64{}}
	for _, behaviour := range []string{"coop", "stubborn"} {
		if err := a.wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: behaviour, OSArch: "x86-64", SizeMB: 8, KernelVersion: behaviour, Cmdline: "console=ttyS0 quiet panic=-1"}); err != nil {
			t.Fatal(err)
		}
	}
	a.st.View(func(tx *store.Tx) {
		tx.EachImage(func(i *store.Image) bool { q.images[i.Label] = i.DiskID; return true })
	})
	return q
}

// boot creates a VM of the given behaviour and waits for the guest to be ready.
func (q *qemuAgent) boot(behaviour string) int64 {
	q.t.Helper()
	id := 910000 + rand.Int63n(80000)
	spec := vmSpec(behaviour)
	spec["memory"] = int64(256)
	// Ids on the shared libvirtd must not collide: chosen, so by the operator key.
	ops := q.mustCall(q.op, "hosting.vm.create_from", spec, map[string]any{}, q.images[behaviour],
		map[string]any{"vm_id": id, "iface_id": id, "account_id": q.alice.AccountID})
	q.t.Cleanup(func() {
		// Leave nothing on the shared libvirtd, whatever the test did.
		ctx := context.Background()
		q.hv.Undefine(ctx, workflow.DomainName(id))
	})
	q.mustDone(q.alice, ops)
	q.waitConsole(id, guesttest.ReadyMarker, 1)
	// The guest mounted its first-boot seed (the spec has a password) and
	// read the instance-id the agent wrote.
	q.waitConsole(id, fmt.Sprintf(`xenagent-guest: seed "instance-id": %q`, q.wf.UUID(id)), 1)
	return id
}

// waitConsole waits until marker has appeared n times on the guest's console.
func (q *qemuAgent) waitConsole(vmID int64, marker string, n int) {
	q.t.Helper()
	path := filepath.Join(q.consoles, workflow.DomainName(vmID)+".log")
	deadline := time.Now().Add(120 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), marker) >= n {
			return
		}
		if time.Now().After(deadline) {
			q.t.Fatalf("guest %d: %q not seen %d times on the console:\n%s", vmID, marker, n, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// timedOp submits an action and returns its operation's final record and
// how long it took from submission to DONE as the engine records it.
func (q *qemuAgent) timedOp(method string, vmID int64) (store.Operation, time.Duration) {
	o, took, _ := q.timedOpAt(method, vmID)
	return o, took
}

func (q *qemuAgent) timedOpAt(method string, vmID int64) (store.Operation, time.Duration, time.Time) {
	q.t.Helper()
	start := time.Now()
	op := q.mustCall(q.alice, method, vmID).(map[string]any)
	id := op["id"].(int64)
	<-q.eng.Done(id)
	doneAt := time.Now()
	took := doneAt.Sub(start)
	var o store.Operation
	q.st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
	if o.Step != store.StepDone {
		q.t.Fatalf("%s ended %s: %s", method, o.Step, o.LastError)
	}
	return o, took, doneAt
}

func TestQEMUCooperativeGuest(t *testing.T) {
	t.Parallel()
	q := newQEMUAgent(t, 60*time.Second, 60*time.Second)
	vmID := q.boot("coop")
	ctx := context.Background()
	events, stop := q.hv.Watch(workflow.DomainName(vmID))
	defer stop()

	// The running guest's interface is the tap the agent named.
	live, err := q.hv.LiveIfaces(ctx, workflow.DomainName(vmID))
	if err != nil || len(live) != 1 || live[0].Dev != workflow.TapName(vmID) {
		t.Fatalf("live interfaces = %+v, %v; want one on %s", live, err, workflow.TapName(vmID))
	}

	// Graceful stop: DONE within a second of the guest powering off.
	o, took, doneAt := q.timedOpAt("hosting.vm.stop", vmID)
	var stoppedAt time.Time
	for ev := range events {
		if ev.Kind == hypervisor.EventStopped {
			stoppedAt = ev.Time
			break
		}
	}
	lag := doneAt.Sub(stoppedAt)
	t.Logf("cooperative stop: DONE %v after submit; %v after libvirt reported the guest off", took, lag)
	if p := stopProgress(t, o); p.Forced || p.Messages != 1 {
		t.Fatalf("a cooperative guest needed force: %+v", p)
	}
	if took > 30*time.Second || lag > time.Second {
		t.Fatalf("stop took %v, %v after power off", took, lag)
	}
	if st, _ := q.hv.State(ctx, workflow.DomainName(vmID)); st.Running {
		t.Fatal("domain still running after stop")
	}

	// Start again, then a graceful reboot: the guest comes back by itself.
	q.timedOp("hosting.vm.start", vmID)
	q.waitConsole(vmID, guesttest.ReadyMarker, 2)
	o, took = q.timedOp("hosting.vm.reboot", vmID)
	t.Logf("cooperative reboot: DONE %v after submit", took)
	if p := rebootProgress(t, o); p.Forced {
		t.Fatalf("a cooperative guest was reset: %+v", p)
	}
	q.waitConsole(vmID, guesttest.ReadyMarker, 3)
	if got := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; got != "running" {
		t.Fatalf("state after reboot = %v", got)
	}

	// The guest powers itself off (power button pressed outside the agent).
	if err := q.hv.Shutdown(ctx, workflow.DomainName(vmID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["state"] == "halted" })
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.delete", vmID))
	if st, _ := q.hv.State(ctx, workflow.DomainName(vmID)); st.Exists {
		t.Fatal("domain left after delete")
	}
}

func TestQEMUStubbornGuest(t *testing.T) {
	t.Parallel()
	const stopAfter, resetAfter = 6 * time.Second, 5 * time.Second
	q := newQEMUAgent(t, stopAfter, resetAfter)
	vmID := q.boot("stubborn")
	ctx := context.Background()

	// A running stop cancelled while it waits on the guest: CANCEL at once,
	// and the VM is left as it is (running).
	op := q.mustCall(q.alice, "hosting.vm.stop", vmID).(map[string]any)
	opID := op["id"].(int64)
	waitFor(t, func() bool { return q.mustCall(q.alice, "operation.info", opID).(map[string]any)["step"] == "RUN" })
	cancelAt := time.Now()
	if got := q.mustCall(q.alice, "operation.cancel", opID); got != true {
		t.Fatalf("cancel = %v", got)
	}
	<-q.eng.Done(opID)
	info := q.mustCall(q.alice, "operation.info", opID).(map[string]any)
	t.Logf("running stop cancelled: CANCEL %v after the request", time.Since(cancelAt))
	if info["step"] != "CANCEL" || time.Since(cancelAt) > 2*time.Second {
		t.Fatalf("cancelled stop = %v after %v", info, time.Since(cancelAt))
	}
	if st, _ := q.hv.State(ctx, workflow.DomainName(vmID)); !st.Running {
		t.Fatal("a cancelled stop powered the guest off")
	}
	waitFor(t, func() bool {
		return q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["state"] == "running"
	})

	// Stop: two messages ignored, destroyed at the deadline.
	o, took := q.timedOp("hosting.vm.stop", vmID)
	t.Logf("stubborn stop: DONE %v after submit (deadline %v)", took, stopAfter)
	if p := stopProgress(t, o); !p.Forced || p.Messages != 2 {
		t.Fatalf("stubborn stop journal = %+v, want 2 messages then force", p)
	}
	if took < stopAfter || took > stopAfter+10*time.Second {
		t.Fatalf("stop took %v, want just past %v", took, stopAfter)
	}
	if st, _ := q.hv.State(ctx, workflow.DomainName(vmID)); st.Running {
		t.Fatal("domain still running after a forced stop")
	}

	// Reboot: the message is ignored, so the domain is reset at the deadline.
	q.timedOp("hosting.vm.start", vmID)
	q.waitConsole(vmID, guesttest.ReadyMarker, 2)
	o, took = q.timedOp("hosting.vm.reboot", vmID)
	t.Logf("stubborn reboot: DONE %v after submit (deadline %v)", took, resetAfter)
	if p := rebootProgress(t, o); !p.Forced {
		t.Fatalf("stubborn reboot was not reset: %+v", p)
	}
	if took < resetAfter || took > resetAfter+10*time.Second {
		t.Fatalf("reboot took %v, want just past %v", took, resetAfter)
	}
	q.waitConsole(vmID, guesttest.ReadyMarker, 3)
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.delete", vmID))
}

func stopProgress(t *testing.T, o store.Operation) workflow.StopProgress {
	t.Helper()
	p, err := ops.ProgressOf[workflow.StopProgress](o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rebootProgress(t *testing.T, o store.Operation) workflow.RebootProgress {
	t.Helper()
	p, err := ops.ProgressOf[workflow.RebootProgress](o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

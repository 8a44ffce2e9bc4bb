package migration_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// A live move on real QEMU (qemu:///system, TCG): two agents in this
// process share the host's libvirtd, each with its own state, disks,
// memory and console directories. QEMU takes the target's definition at
// restore, so the guest resumes at the target's disk paths. The guest
// counts on its console every half second (guesttest's xenagent.count):
// moved live it counts on from where it was, on the target's console;
// moved cold it boots again and counts from 1. Both downtimes are
// logged: the operation's downtime_ms (the source's pause or stop to
// the target's resume or start) and the gap the guest saw between its
// counts.
//
// One libvirtd holds one domain of a name: the target's definition
// replaces the source's (same name and UUID), and the source's cleanup
// leaves a domain carrying another agent's mark (migCleanupDomain).

var (
	qemuGuestsOnce sync.Once
	qemuGuestsDir  string
	qemuGuestsErr  error
)

func qemuGuests(t *testing.T) string {
	qemuGuestsOnce.Do(func() {
		qemuGuestsDir, qemuGuestsErr = os.MkdirTemp("", "xenagent-guests-")
		if qemuGuestsErr == nil {
			os.Chmod(qemuGuestsDir, 0o755)
			qemuGuestsErr = guesttest.Build(qemuGuestsDir)
		}
	})
	if qemuGuestsErr != nil {
		t.Fatal(qemuGuestsErr)
	}
	return qemuGuestsDir
}

func newQEMUAgent(t *testing.T, name string) *agent {
	t.Helper()
	consoles := t.TempDir()
	os.Chmod(consoles, 0o777)
	a := newAgentWith(t, name, "10.0.0.0/24", rigOpts{qemu: true, kernels: qemuGuests(t), consoles: consoles})
	a.consoles = consoles
	return a
}

// consoleCount waits for the next count the guest of vm prints on a's
// console after the call; when it comes.
func (a *agent) consoleCount(vmID int64, within time.Duration) (int64, time.Time) {
	a.t.Helper()
	log := filepath.Join(a.consoles, workflow.DomainName(vmID)+".log")
	from := int64(0)
	if fi, err := os.Stat(log); err == nil {
		from = fi.Size()
	}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(log); err == nil {
			if int64(len(b)) < from {
				from = 0
			}
			lines := strings.Split(string(b[from:]), "\n")
			for _, line := range lines[:len(lines)-1] {
				i := strings.Index(line, guesttest.CountPrefix)
				if i < 0 {
					continue
				}
				if n, err := strconv.ParseInt(strings.TrimSpace(line[i+len(guesttest.CountPrefix):]), 10, 64); err == nil {
					return n, time.Now()
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.t.Fatalf("%s: no count on the console of vm %d within %s", a.name, vmID, within)
	return 0, time.Time{}
}

// createQEMUVM makes a running VM of a random id (the host's libvirtd
// may hold other tests' domains) and removes its domain at the end.
func (a *agent) createQEMUVM() int64 {
	a.t.Helper()
	id := 930000 + rand.Int64N(60000)
	mem := int64(128)
	var image int64
	a.st.View(func(tx *store.Tx) { tx.EachImage(func(i *store.Image) bool { image = i.DiskID; return false }) })
	ops, err := a.svc.CreateVMFrom(context.Background(), operator, service.VMCreateFrom{
		VMSpec:    service.VMSpec{DatacenterID: 1, Hostname: "mover", Memory: &mem},
		SrcDiskID: image,
		DataDisks: []service.DataDisk{{Name: "data", SizeMB: 4}},
		Options:   service.CallOptions{AccountID: a.acct, VMID: id, DiskID: id, IfaceID: id},
	})
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() {
		name := workflow.DomainName(id)
		exec.Command("virsh", "-c", "qemu:///system", "destroy", name).Run()
		exec.Command("virsh", "-c", "qemu:///system", "undefine", name).Run()
	})
	a.done(ops...)
	return ops[len(ops)-1].VMID
}

// countWatch notes when each new count shows on either agent's console
// of vm: the gap the guest saw is from its last count on one to its
// first on the other.
type countWatch struct {
	mu   sync.Mutex
	last map[*agent]struct {
		n  int64
		at time.Time
	}
	first map[*agent]time.Time // the first count after the watch began
}

func watchCounts(t *testing.T, vmID int64, as ...*agent) (*countWatch, func()) {
	w := &countWatch{last: map[*agent]struct {
		n  int64
		at time.Time
	}{}, first: map[*agent]time.Time{}}
	for _, a := range as {
		w.last[a] = struct {
			n  int64
			at time.Time
		}{lastCount(t, a, vmID), time.Now()} // the caller just saw the count
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for _, a := range as {
				n := lastCount(t, a, vmID)
				w.mu.Lock()
				if l := w.last[a]; n != l.n {
					now := time.Now()
					w.last[a] = struct {
						n  int64
						at time.Time
					}{n, now}
					if _, ok := w.first[a]; !ok {
						w.first[a] = now
					}
				}
				w.mu.Unlock()
			}
		}
	}()
	return w, func() { close(done); <-stopped }
}

// gap is from the last count src showed to the first dst showed.
func (w *countWatch) gap(src, dst *agent) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[dst].Sub(w.last[src].at)
}

// moveTimed moves vm from src to dst (live unless cold) and returns the
// operation's progress and the gap the guest saw: from its last count on
// src to its first on dst.
func moveTimed(t *testing.T, src, dst *agent, vmID int64, cold bool) (workflow.VMMigrateProgress, int64, int64, time.Duration) {
	t.Helper()
	was, _ := src.consoleCount(vmID, 2*time.Minute)
	w, stop := watchCounts(t, vmID, src, dst)
	ms := service.MigrateSpec{Target: dst.url, Ticket: dst.ticketFor(src, vmID)}
	if cold {
		no := false
		ms.Live = &no
	}
	op, err := src.svc.MigrateVM(context.Background(), operator, vmID, ms, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The guest's last count before the pause: what src's console shows
	// last once the move began.
	src.done(op)
	dst.done(service.Operation{ID: dst.incoming(vmID).ID})
	last := lastCount(t, src, vmID)
	began := time.Now()
	now, _ := dst.consoleCount(vmID, 2*time.Minute)
	_ = began
	time.Sleep(50 * time.Millisecond)
	stop()
	p := src.progressOf(op.ID)
	return p, max(last, was), now, w.gap(src, dst)
}

// lastCount is the last count on a's console of vm.
func lastCount(t *testing.T, a *agent, vmID int64) int64 {
	b, _ := os.ReadFile(filepath.Join(a.consoles, workflow.DomainName(vmID)+".log"))
	var n int64
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, guesttest.CountPrefix); i >= 0 {
			if v, err := strconv.ParseInt(strings.TrimSpace(line[i+len(guesttest.CountPrefix):]), 10, 64); err == nil {
				n = v
			}
		}
	}
	return n
}

func TestLiveMoveQEMU(t *testing.T) {
	guesttest.RequireQEMU(t)
	a, b := newQEMUAgent(t, "a"), newQEMUAgent(t, "b")
	vmID := a.createQEMUVM()
	started := time.Now()
	a.consoleCount(vmID, 2*time.Minute) // booted: it counts
	t.Logf("first boot: the guest counted %s after its domain started", time.Since(started).Round(time.Millisecond))
	p, before, after, gap := moveTimed(t, a, b, vmID, false)
	if p.Mode != workflow.ModeLive {
		t.Fatalf("progress %+v: want live", p)
	}
	if after <= before {
		t.Fatalf("the guest counts %d on b, %d on a before: it booted again rather than resumed", after, before)
	}
	t.Logf("live a->b: downtime_ms %d, memory file %.1f MiB, guest counted %d on a then %d on b; it saw %s between counts (one every 500ms)",
		p.DowntimeMS, float64(p.MemoryBytes)/(1<<20), before, after, gap.Round(time.Millisecond))
	noMemoryLeft(t, a, b)
	// The same guest, back cold.
	p, before, after, gap = moveTimed(t, b, a, vmID, true)
	if p.Mode != workflow.ModeCold || after > before {
		t.Fatalf("back cold: progress %+v, counts %d then %d: want cold, counting again from 1", p, before, after)
	}
	t.Logf("cold b->a: downtime_ms %d (stop to start; the guest then boots), counts from %d again; %s from its last count on b to its first on a",
		p.DowntimeMS, after, gap.Round(time.Millisecond))
	noMemoryLeft(t, a, b)
}

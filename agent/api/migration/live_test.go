package migration_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/api/migration"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The rules of a live move (workflow/migrate_memory.go), on hostfake's
// hypervisor, whose guest counts (GuestCount) and whose Save and Restore
// keep the count: a guest that moved live counts on, one that moved cold
// starts again from nothing.

// countTo has the guest of vm on a count n times and returns the count.
func (a *agent) countTo(vmID int64, n int) int64 {
	a.t.Helper()
	var c int64
	for range n {
		var err error
		if c, err = a.fake.GuestCount(workflow.DomainName(vmID)); err != nil {
			a.t.Fatal(err)
		}
	}
	return c
}

// progressOf is vm_migrate op's progress on a.
func (a *agent) progressOf(id int64) workflow.VMMigrateProgress {
	a.t.Helper()
	o := a.wait(id)
	p, err := ops.ProgressOf[workflow.VMMigrateProgress](o)
	if err != nil {
		a.t.Fatal(err)
	}
	return p
}

// memoryFiles are the files left in a's memory directory.
func (a *agent) memoryFiles() []string {
	ents, err := os.ReadDir(a.memDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// lastMove is a's last vm_migrate.
func (a *agent) lastMove() store.Operation {
	var out store.Operation
	a.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if o.Type == "vm_migrate" {
				out = *o
			}
			return true
		})
	})
	return out
}

// noMemoryLeft fails if either agent keeps a memory file.
func noMemoryLeft(t *testing.T, as ...*agent) {
	t.Helper()
	for _, a := range as {
		if left := a.memoryFiles(); len(left) > 0 {
			t.Fatalf("%s keeps the memory files %v", a.name, left)
		}
	}
}

// A running VM moves live where the target's hypervisor takes new disk
// paths at restore: its guest counts on on the target, there and back;
// the operation says live and the downtime, and no memory file is left.
func TestLiveMove(t *testing.T) {
	a, b := newAgentFake(t, "a"), newAgentFake(t, "b")
	vmID := a.createVM()
	before := a.countTo(vmID, 5)
	move(t, a, b, vmID)
	p := a.progressOf(a.lastMove().ID)
	if p.Mode != workflow.ModeLive || p.ModeReason != "" || p.MemoryBytes == 0 || p.DowntimeMS <= 0 {
		t.Fatalf("progress %+v: want a live move with its memory sent and its downtime", p)
	}
	after := b.countTo(vmID, 1)
	if after != before+1 {
		t.Fatalf("the guest counts %d on b after %d on a: want it to count on (%d)", after, before, before+1)
	}
	noMemoryLeft(t, a, b)
	t.Logf("live there: %d ms down, %d bytes of memory", p.DowntimeMS, p.MemoryBytes)
	move(t, b, a, vmID)
	if got := a.countTo(vmID, 1); got != after+1 {
		t.Fatalf("the guest counts %d back on a after %d on b", got, after)
	}
	if p := b.progressOf(b.lastMove().ID); p.Mode != workflow.ModeLive {
		t.Fatalf("back: %+v, want live", p)
	}
	noMemoryLeft(t, a, b)
}

// Where live cannot be, the move is cold and says why: a target whose
// hypervisor runs the saved definition while the disk paths differ (two
// agents' file backends), an operator's live: false, a VM that does not
// run, and libvirt's test driver (the existing moves: cold).
func TestLiveFallsBackCold(t *testing.T) {
	cases := []struct {
		name string
		mk   func(t *testing.T) (a, b *agent)
		spec func(s *service.MigrateSpec)
		stop bool
		why  string
	}{
		{name: "saved definition, not asked", why: "live is not the default",
			mk: func(t *testing.T) (*agent, *agent) {
				return newAgentFake(t, "a", hostfake.WithSavedDefinition()), newAgentFake(t, "b", hostfake.WithSavedDefinition())
			}},
		{name: "saved definition, other paths", why: "disk paths must be equal", spec: func(s *service.MigrateSpec) { yes := true; s.Live = &yes },
			mk: func(t *testing.T) (*agent, *agent) {
				return newAgentFake(t, "a", hostfake.WithSavedDefinition()), newAgentFake(t, "b", hostfake.WithSavedDefinition())
			}},
		{name: "live false", why: "live: false", spec: func(s *service.MigrateSpec) { no := false; s.Live = &no },
			mk: func(t *testing.T) (*agent, *agent) { return newAgentFake(t, "a"), newAgentFake(t, "b") }},
		{name: "halted", why: "not running", stop: true,
			mk: func(t *testing.T) (*agent, *agent) { return newAgentFake(t, "a"), newAgentFake(t, "b") }},
		{name: "test driver", why: "disk paths must be equal", spec: func(s *service.MigrateSpec) { yes := true; s.Live = &yes },
			mk: func(t *testing.T) (*agent, *agent) { return newAgent(t, "a"), newAgent(t, "b") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := c.mk(t)
			vmID := a.createVM()
			if c.stop {
				op, err := a.svc.StopVM(context.Background(), operator, vmID, service.CallOptions{})
				if err != nil {
					t.Fatal(err)
				}
				a.done(op)
			}
			ms := service.MigrateSpec{Target: b.url, Ticket: b.ticketFor(a, vmID)}
			if c.spec != nil {
				c.spec(&ms)
			}
			op, err := a.svc.MigrateVM(context.Background(), operator, vmID, ms, service.CallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			a.done(op)
			b.done(service.Operation{ID: b.incoming(vmID).ID})
			p := a.progressOf(op.ID)
			if p.Mode != workflow.ModeCold || !strings.Contains(p.ModeReason, c.why) || p.MemoryBytes != 0 {
				t.Fatalf("progress %+v: want cold, the reason naming %q", p, c.why)
			}
			if b.fake != nil && !c.stop {
				if got := b.countTo(vmID, 1); got != 1 {
					t.Fatalf("the guest counts %d on b: want a fresh boot (1)", got)
				}
			}
			// operation.info says it too.
			info, err := a.svc.Operation(operator, op.ID)
			if err != nil {
				t.Fatal(err)
			}
			if info.Transfer == nil || info.Transfer.Mode != workflow.ModeCold || info.Transfer.ModeReason != p.ModeReason {
				t.Fatalf("operation.info transfer %+v: want cold and why", info.Transfer)
			}
			noMemoryLeft(t, a, b)
		})
	}
}

// A live move that fails after the source saved the VM rolls back with
// the VM restored on the source from its memory (its guest counts on),
// never booted afresh, never on both: the target refusing the prepare,
// and the target failing to restore (its define step rolls back, the
// source's prepare reads aborted).
func TestLiveRollbackRestoresSource(t *testing.T) {
	cases := []struct {
		name string
		arm  func(a, b *agent)
		why  string
	}{
		{name: "prepare refused", why: "refused by the test", arm: func(a, b *agent) {
			b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.TrimPrefix(r.URL.Path, migration.Prefix) == "prepare" {
					http.Error(w, `{"error":"refused by the test"}`, http.StatusBadRequest)
					return false
				}
				return true
			})
		}},
		{name: "restore fails on the target", why: "aborted", arm: func(a, b *agent) {
			b.fake.Fail("Restore", hostfake.Fault{Err: errors.New("injected: the restore fails")})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := newAgentFake(t, "a"), newAgentFake(t, "b")
			vmID := a.createVM()
			before := a.countTo(vmID, 4)
			c.arm(a, b)
			op := migrate(t, a, b, vmID)
			got := a.wait(op.ID)
			if got.Step != store.StepError || !strings.Contains(got.LastError, c.why) {
				t.Fatalf("vm_migrate ended %s: %s; want ERROR naming %q", got.Step, got.LastError, c.why)
			}
			if p := a.progressOf(op.ID); p.Mode != workflow.ModeLive {
				t.Fatalf("progress %+v: want the save made (live)", p)
			}
			stayed(t, a, b, vmID)
			if n := a.fake.Count("Restore"); n != 1 {
				t.Fatalf("the source restored %d times; want once (from its memory)", n)
			}
			if after := a.countTo(vmID, 1); after != before+1 {
				t.Fatalf("the guest counts %d on a after the rollback, %d before: want it to count on", after, before)
			}
			noMemoryLeft(t, a, b)
		})
	}
}

// A target older than live moves refuses the begin's memory offer (an
// unknown field): the source begins again without it and moves cold,
// saying why.
func TestLiveOlderTarget(t *testing.T) {
	a, b := newAgentFake(t, "a"), newAgentFake(t, "b")
	vmID := a.createVM()
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.TrimPrefix(r.URL.Path, migration.Prefix) != "begin" {
			return true
		}
		raw, _ := io.ReadAll(r.Body)
		if bytes.Contains(raw, []byte(`"memory":{`)) {
			http.Error(w, `{"error":"body: json: unknown field \"memory\""}`, http.StatusBadRequest)
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		return true
	})
	move(t, a, b, vmID)
	if p := a.progressOf(a.lastMove().ID); p.Mode != workflow.ModeCold || !strings.Contains(p.ModeReason, "older than live moves") {
		t.Fatalf("progress %+v: want cold, naming the older target", p)
	}
	noMemoryLeft(t, a, b)
}

// A save or a restore whose answer is lost after it acted (a timeout, a
// cut connection to libvirtd) leaves the guest on exactly one host,
// counting on: the save is found done (a domain shut off with its file),
// the restore found running when its step runs again, or rolled back
// with the source restoring its copy.
func TestLiveAnswerLost(t *testing.T) {
	for _, call := range []string{"Save", "Restore"} {
		t.Run(call, func(t *testing.T) {
			a, b := newAgentFake(t, "a"), newAgentFake(t, "b")
			vmID := a.createVM()
			before := a.countTo(vmID, 4)
			victim := a
			if call == "Restore" {
				victim = b
			}
			victim.fake.Fail(call, hostfake.Fault{Err: errors.New("injected: the answer is lost"), After: true, Times: 1})
			op := migrate(t, a, b, vmID)
			got := a.wait(op.ID)
			p := a.progressOf(op.ID)
			if p.Mode != workflow.ModeLive {
				t.Fatalf("progress %+v: want live (the save was made)", p)
			}
			on := b
			if got.Step != store.StepDone {
				on = a
				stayed(t, a, b, vmID)
			} else if in := b.wait(b.incoming(vmID).ID); in.Step != store.StepDone {
				t.Fatalf("vm_migrate DONE, vm_migrate_in %s: %s", in.Step, in.LastError)
			}
			if after := on.countTo(vmID, 1); after != before+1 {
				t.Fatalf("vm_migrate %s; the guest counts %d on %s, %d before: want it to count on", got.Step, after, on.name, before)
			}
			t.Logf("vm_migrate %s (%s); the guest counts on on %s", got.Step, got.LastError, on.name)
			noMemoryLeft(t, a, b)
		})
	}
}

// Once the target committed, the VM is its alone: a resume (live) or a
// start (cold) that fails, a loaded host's libvirt call abandoned at its
// deadline, is tried again until the VM runs, and the target's operation
// ends DONE, never ERROR with the VM stopped and its records half moved.
func TestStartAfterCommitRetried(t *testing.T) {
	for _, call := range []string{"Resume", "Start"} {
		t.Run(call, func(t *testing.T) {
			a, b := newAgentFake(t, "a"), newAgentFake(t, "b")
			vmID := a.createVM()
			before := a.countTo(vmID, 4)
			b.fake.Fail(call, hostfake.Fault{Err: errors.New("injected: libvirt call abandoned: context deadline exceeded"), Times: 1})
			ms := service.MigrateSpec{Target: b.url, Ticket: b.ticketFor(a, vmID)}
			if call == "Start" { // the cold way: the memory stays behind
				no := false
				ms.Live = &no
			}
			op, err := a.svc.MigrateVM(context.Background(), operator, vmID, ms, service.CallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := a.wait(op.ID)
			if got.Step != store.StepDone {
				t.Fatalf("vm_migrate %s: %s", got.Step, got.LastError)
			}
			in := b.wait(b.incoming(vmID).ID)
			if in.Step != store.StepDone {
				t.Fatalf("vm_migrate_in %s: %s", in.Step, in.LastError)
			}
			// Live, it counts on; cold, it booted again and counts anew.
			if after := b.countTo(vmID, 1); call == "Resume" && after <= before {
				t.Fatalf("the guest counts %d on b, %d before the move: want it running on there", after, before)
			}
		})
	}
}

package ops

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

type harness struct {
	t    *testing.T
	path string
	st   *store.Store
	e    *Engine
	stop context.CancelFunc
	once sync.Once
}

func newHarness(t *testing.T, path string, register func(e *Engine)) *harness {
	t.Helper()
	st, err := store.Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{RetryFor: time.Second})
	register(e)
	ctx, cancel := context.WithCancel(context.Background())
	e.Start(ctx)
	h := &harness{t: t, path: path, st: st, e: e, stop: cancel}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.once.Do(func() {
		h.stop()
		h.e.Wait()
		if err := h.st.Check(); err != nil {
			h.t.Error(err)
		}
		h.st.Close()
	})
}

func (h *harness) submit(typ string, keys []string, after ...int64) int64 {
	var id int64
	if err := h.st.Update(func(tx *store.Tx) error {
		id = tx.NextID("op", tx.HasOperation)
		tx.PutOperation(store.Operation{ID: id, Type: typ, Step: store.StepWait, Keys: keys, After: after})
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	h.e.Enqueue(id)
	return id
}

func (h *harness) wait(id int64) store.Operation {
	h.t.Helper()
	select {
	case <-h.e.Done(id):
	case <-time.After(10 * time.Second):
		h.t.Fatalf("operation %d did not finish", id)
	}
	var o store.Operation
	h.st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
	return o
}

type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func step(rec *recorder, name string, fail error) Step {
	return Step{
		Name: name,
		Do:   func(context.Context, *Run) error { rec.add("do:" + name); return fail },
		Undo: func(context.Context, *Run) error { rec.add("undo:" + name); return nil },
	}
}

func TestSameKeyRunsInOrderOneAtATime(t *testing.T) {
	var mu sync.Mutex
	active, maxActive := 0, 0
	var order []int64
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("slow", Workflow{Steps: []Step{{Name: "s", Do: func(ctx context.Context, r *Run) error {
			mu.Lock()
			active++
			maxActive = max(maxActive, active)
			order = append(order, r.Op().ID)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			active--
			mu.Unlock()
			return nil
		}}}})
	})
	var ids []int64
	for i := 0; i < 10; i++ {
		ids = append(ids, h.submit("slow", []string{"vm:1"}))
	}
	for _, id := range ids {
		if o := h.wait(id); o.Step != store.StepDone {
			t.Fatalf("op %d step %s", id, o.Step)
		}
	}
	if maxActive != 1 {
		t.Errorf("max concurrent on one key = %d, want 1", maxActive)
	}
	for i := range ids {
		if order[i] != ids[i] {
			t.Fatalf("order = %v, want %v", order, ids)
		}
	}
}

func TestIndependentKeysRunInParallel(t *testing.T) {
	release := make(chan struct{})
	started := make(chan int64, 2)
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("block", Workflow{Steps: []Step{{Name: "b", Do: func(ctx context.Context, r *Run) error {
			started <- r.Op().ID
			<-release
			return nil
		}}}})
	})
	a := h.submit("block", []string{"vm:1"})
	b := h.submit("block", []string{"vm:2"})
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("independent operations did not start together")
		}
	}
	close(release)
	h.wait(a)
	h.wait(b)
}

func TestFailureRollsBackAndAbandons(t *testing.T) {
	rec := &recorder{}
	abandoned := false
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("w", Workflow{
			Steps:   []Step{step(rec, "a", nil), step(rec, "b", nil), step(rec, "c", errors.New("disk full"))},
			Abandon: func(*store.Tx, store.Operation) { abandoned = true },
		})
	})
	o := h.wait(h.submit("w", nil))
	if o.Step != store.StepError || o.LastError != "c: disk full" {
		t.Fatalf("op = %s %q", o.Step, o.LastError)
	}
	want := []string{"do:a", "do:b", "do:c", "undo:c", "undo:b", "undo:a"}
	if got := rec.get(); !equal(got, want) {
		t.Errorf("log = %v, want %v", got, want)
	}
	if !abandoned {
		t.Error("Abandon was not called")
	}
}

func TestCancelWaitingAndRunning(t *testing.T) {
	rec := &recorder{}
	entered := make(chan struct{})
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("w", Workflow{Steps: []Step{
			step(rec, "a", nil),
			{Name: "wait", Do: func(ctx context.Context, r *Run) error {
				close(entered)
				<-ctx.Done()
				return ctx.Err()
			}, Undo: func(context.Context, *Run) error { rec.add("undo:wait"); return nil }},
			step(rec, "never", nil),
		}})
	})
	running := h.submit("w", []string{"vm:1"})
	waiting := h.submit("w", []string{"vm:1"})
	<-entered
	if err := h.e.Cancel(waiting); err != nil {
		t.Fatal(err)
	}
	if o := h.wait(waiting); o.Step != store.StepCancel {
		t.Fatalf("waiting op step = %s", o.Step)
	}
	if err := h.e.Cancel(running); err != nil {
		t.Fatal(err)
	}
	if o := h.wait(running); o.Step != store.StepCancel {
		t.Fatalf("running op step = %s", o.Step)
	}
	want := []string{"do:a", "undo:wait", "undo:a"}
	if got := rec.get(); !equal(got, want) {
		t.Errorf("log = %v, want %v", got, want)
	}
	if err := h.e.Cancel(running); !errors.Is(err, ErrFinished) {
		t.Errorf("second cancel err = %v", err)
	}
}

func TestCancelRefusedPastNoReturn(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("del", Workflow{Steps: []Step{{Name: "destroy", NoReturn: true, Do: func(ctx context.Context, r *Run) error {
			close(entered)
			<-release
			return nil
		}}}})
	})
	id := h.submit("del", nil)
	<-entered
	if err := h.e.Cancel(id); !errors.Is(err, ErrPastNoReturn) {
		t.Fatalf("cancel err = %v", err)
	}
	close(release)
	if o := h.wait(id); o.Step != store.StepDone {
		t.Fatalf("step = %s", o.Step)
	}
}

func TestDependencyFailureCancelsFollower(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("bad", Workflow{Steps: []Step{step(rec, "x", errors.New("nope"))}})
		e.Register("good", Workflow{Steps: []Step{step(rec, "y", nil)}})
	})
	a := h.submit("bad", []string{"disk:1"})
	b := h.submit("good", []string{"disk:1", "vm:1"}, a)
	if o := h.wait(b); o.Step != store.StepCancel {
		t.Fatalf("follower step = %s (%s)", o.Step, o.LastError)
	}
	for _, l := range rec.get() {
		if l == "do:y" {
			t.Error("follower ran after its dependency failed")
		}
	}
}

// A restart in the middle of a step runs that step again and goes on.
func TestResumeAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	rec := &recorder{}
	entered := make(chan struct{})
	register := func(block bool) func(e *Engine) {
		return func(e *Engine) {
			e.Register("w", Workflow{Steps: []Step{
				step(rec, "a", nil),
				{Name: "b", Do: func(ctx context.Context, r *Run) error {
					rec.add("do:b")
					if block {
						close(entered)
						<-ctx.Done()
						return ctx.Err()
					}
					return nil
				}},
				step(rec, "c", nil),
			}})
		}
	}
	h := newHarness(t, path, register(true))
	id := h.submit("w", nil)
	<-entered
	h.close()
	var o store.Operation
	st, _ := store.Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
	st.Close()
	if o.Step != store.StepRun || o.Cursor != 1 || !o.InStep {
		t.Fatalf("journal after stop = %s cursor %d inStep %v", o.Step, o.Cursor, o.InStep)
	}
	h2 := newHarness(t, path, register(false))
	if o := h2.wait(id); o.Step != store.StepDone {
		t.Fatalf("after restart step = %s", o.Step)
	}
	want := []string{"do:a", "do:b", "do:b", "do:c"}
	if got := rec.get(); !equal(got, want) {
		t.Errorf("log = %v, want %v", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type noSpace struct{}

func (noSpace) Error() string { return "write s.db: no space left on device" }

// A step whose journal write the state disk refuses leaves its operation
// unfinished, resumable and first in its queue: nothing behind it runs,
// and once the disk takes writes again it runs to DONE from the journal.
func TestRefusedWriteSuspendsTheOperation(t *testing.T) {
	rec := &recorder{}
	var tries sync.Map
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("w", Workflow{Steps: []Step{
			step(rec, "a", nil),
			{Name: "b", Do: func(ctx context.Context, r *Run) error {
				rec.add("do:b")
				if _, again := tries.LoadOrStore(r.Op().ID, true); !again {
					r.Store().SetWriteFault(func() error { return noSpace{} })
				}
				return r.Set("b", "done")
			}, Undo: func(context.Context, *Run) error { rec.add("undo:b"); return nil }},
			step(rec, "c", nil),
		}})
		e.Register("next", Workflow{Steps: []Step{step(rec, "next", nil)}})
	})
	first := h.submit("w", []string{"vm:1"})
	for h.e.Healthy() == nil {
		time.Sleep(time.Millisecond) // until the engine says it waits
	}
	if err := h.e.Healthy(); !strings.Contains(err.Error(), "1 operations wait for the state disk") {
		t.Fatalf("engine health = %v", err)
	}
	// While the disk refuses, nothing new is accepted.
	if err := h.st.Update(func(tx *store.Tx) error { tx.PutOperation(store.Operation{ID: 99}); return nil }); !errors.Is(err, store.ErrUnwritable) {
		t.Fatalf("write while failed = %v", err)
	}
	var o store.Operation
	h.st.View(func(tx *store.Tx) { o, _ = tx.Operation(first) })
	if o.Finished() || o.Data["b"] != "" || o.RollingBack {
		t.Fatalf("operation after the refused write = %+v", o)
	}
	h.st.SetWriteFault(nil)
	if err := h.st.Probe(); err != nil {
		t.Fatal(err)
	}
	second := h.submit("next", []string{"vm:1"})
	if o := h.wait(first); o.Step != store.StepDone || o.Data["b"] != "done" {
		t.Fatalf("first = %+v", o)
	}
	if o := h.wait(second); o.Step != store.StepDone {
		t.Fatalf("second = %+v", o)
	}
	got := rec.get()
	if got[len(got)-1] != "do:next" || slices.Contains(got, "undo:a") || slices.Contains(got, "undo:b") {
		t.Fatalf("steps = %v: want no rollback, and the second operation after the first", got)
	}
	if err := h.e.Healthy(); err != nil {
		t.Fatal(err)
	}
}

package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"path/filepath"
	"runtime"
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

// testProgress is a workflow's progress, as the tests journal it.
type testProgress struct {
	B string `json:"b,omitempty"`
}

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
				return SetProgress(r, testProgress{B: "done"})
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
	if p, _ := ProgressOf[testProgress](o); o.Finished() || p.B != "" || o.RollingBack {
		t.Fatalf("operation after the refused write = %+v", o)
	}
	h.st.SetWriteFault(nil)
	if err := h.st.Probe(); err != nil {
		t.Fatal(err)
	}
	second := h.submit("next", []string{"vm:1"})
	if o := h.wait(first); o.Step != store.StepDone || string(o.Progress) != `{"b":"done"}` {
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

// Ids are given in the store's transaction and the submitter enqueues
// after it: two submitters racing between the two must not make a higher
// id run before a lower one that shares a key (the issue saw 49 of 1,200
// overlapping calls on one VM run out of order). Operations sharing no key
// may run in any order.
func TestConcurrentSubmittersRunInIDOrder(t *testing.T) {
	var mu sync.Mutex
	runs := map[string][]int64{}
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("rec", Workflow{Steps: []Step{{Name: "s", Do: func(ctx context.Context, r *Run) error {
			mu.Lock()
			for _, k := range r.Op().Keys {
				runs[k] = append(runs[k], r.Op().ID)
			}
			mu.Unlock()
			return nil
		}}}})
	})
	const workers, each = 16, 40
	var wg sync.WaitGroup
	var all sync.Map
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				keys := []string{"vm:1"}
				if i%3 == 0 {
					keys = append(keys, fmt.Sprintf("disk:%d", w%4))
				}
				var id int64
				if err := h.st.Update(func(tx *store.Tx) error {
					id = tx.NextID("op", tx.HasOperation)
					h.e.Create(tx, store.Operation{ID: id, Type: "rec", Step: store.StepWait, Keys: keys})
					return nil
				}); err != nil {
					t.Error(err)
					return
				}
				// The window the calls fell into: another
				// submitter's transaction and enqueue can land here.
				for j := rand.Intn(3); j > 0; j-- {
					runtime.Gosched()
				}
				h.e.Enqueue(id)
				all.Store(id, true)
			}
		}(w)
	}
	wg.Wait()
	all.Range(func(k, _ any) bool {
		if o := h.wait(k.(int64)); o.Step != store.StepDone {
			t.Errorf("op %d ended %s: %s", o.ID, o.Step, o.LastError)
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if got := len(runs["vm:1"]); got != workers*each {
		t.Fatalf("%d operations ran on vm:1, want %d", got, workers*each)
	}
	for k, order := range runs {
		if !slices.IsSorted(order) {
			bad := 0
			for i := 1; i < len(order); i++ {
				if order[i] < order[i-1] {
					bad++
				}
			}
			t.Errorf("key %s: %d of %d operations ran after a higher id: %v", k, bad, len(order), order)
		}
	}
}

// A transaction that is undone after it created an operation leaves
// nothing queued: the key it held is free again.
func TestUndoneCreationFreesItsKey(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("noop", Workflow{Steps: []Step{{Name: "s", Do: func(context.Context, *Run) error { return nil }}}})
	})
	refused := errors.New("refused later in the same call")
	err := h.st.Update(func(tx *store.Tx) error {
		id := tx.NextID("op", tx.HasOperation)
		h.e.Create(tx, store.Operation{ID: id, Type: "noop", Step: store.StepWait, Keys: []string{"vm:7"}})
		if !h.e.Busy("vm:7") {
			t.Error("a created operation does not hold its key")
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatal(err)
	}
	if h.e.Busy("vm:7") {
		t.Fatal("an undone creation still holds its key")
	}
	id := h.submit("noop", []string{"vm:7"})
	if o := h.wait(id); o.Step != store.StepDone {
		t.Fatalf("op %d ended %s", id, o.Step)
	}
}

// Whatever order operations reach Enqueue in before the engine starts (a
// submitter late after its write, the resume of a restart), they run in
// id order on a shared key.
func TestEnqueueOrderDoesNotDecideRunOrder(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	var order []int64
	e := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{RetryFor: time.Second})
	e.Register("rec", Workflow{Steps: []Step{{Name: "s", Do: func(ctx context.Context, r *Run) error {
		mu.Lock()
		order = append(order, r.Op().ID)
		mu.Unlock()
		return nil
	}}}})
	var ids []int64
	for i := 0; i < 20; i++ {
		st.Update(func(tx *store.Tx) error {
			id := tx.NextID("op", tx.HasOperation)
			tx.PutOperation(store.Operation{ID: id, Type: "rec", Step: store.StepWait, Keys: []string{"vm:1"}})
			ids = append(ids, id)
			return nil
		})
	}
	for i := len(ids) - 1; i >= 0; i-- {
		e.Enqueue(ids[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); e.Wait() }()
	e.Start(ctx)
	for _, id := range ids {
		<-e.Done(id)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, ids) {
		t.Fatalf("ran %v, want %v", order, ids)
	}
}

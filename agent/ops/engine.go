package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// Errors returned by Cancel.
var (
	ErrNotFound        = errors.New("operation not found")
	ErrFinished        = errors.New("operation already finished")
	ErrPastNoReturn    = errors.New("operation is past its point of no return")
	ErrUnknownWorkflow = errors.New("no workflow for operation type")
)

// Step is one idempotent action of a workflow.
type Step struct {
	Name string
	Do   func(ctx context.Context, r *Run) error
	// Undo reverses Do; it must be harmless when Do never ran or ran half.
	Undo func(ctx context.Context, r *Run) error
	// NoReturn marks a step that cannot be undone (a deletion).
	NoReturn bool
	// Prepare, when set, returns the operation's progress with what the
	// step needs recorded before it acts (a deadline), journalled in the
	// durable write that records the step's beginning. Make it with
	// PrepareProgress; an error fails the step.
	Prepare func(op store.Operation) (json.RawMessage, error)
	// Atomic marks a step that acts only through one Run.Update: that
	// transaction also records the step's completion (and the operation's
	// DONE when it is the last step), so it needs no journal writes of its own.
	Atomic bool
}

// Workflow is what an operation type does.
type Workflow struct {
	Steps []Step
	// Abandon removes what the submission reserved; it runs in the
	// transaction that records ERROR or CANCEL.
	Abandon func(tx *store.Tx, op store.Operation)
	// Recover runs instead of the steps when an operation this one
	// depends on did not end DONE: a chain that took something apart
	// (stop, detach, ...) puts back what it can before it is cancelled.
	// It runs again after a restart, so it must be idempotent.
	Recover func(ctx context.Context, r *Run) error
}

// Transient is implemented by errors worth retrying (a lost connection).
type Transient interface{ Transient() bool }

func isTransient(err error) bool {
	var t Transient
	return errors.As(err, &t) && t.Transient()
}

// Config tunes the engine.
type Config struct {
	// RetryFor bounds how long a step failing with a transient error is retried.
	RetryFor time.Duration
	// OnBoundary, when set, is called at every journal boundary; crash
	// tests use it to kill the process there.
	OnBoundary func(op store.Operation, boundary string)
}

// Engine schedules and runs operations.
type Engine struct {
	st        *store.Store
	log       *slog.Logger
	cfg       Config
	workflows map[string]Workflow

	mu     sync.Mutex
	queues map[string][]int64
	queued map[int64][]string
	// held are operations created in a transaction not yet durable: they
	// keep their place in their keys' queues but do not start.
	held     map[int64]bool
	running  map[int64]context.CancelFunc
	ctx      context.Context
	wg       sync.WaitGroup
	waiters  map[int64][]chan struct{}
	onFinish func(op store.Operation)
	onEnd    []func(End)         // end.go
	began    map[int64]time.Time // submitted in this process: when (end.go)
	waiting  atomic.Int64        // operations suspended until the store takes writes
}

// Healthy reports nil while the engine runs operations: started, not
// stopping, and none held up by a state disk that refuses writes.
func (e *Engine) Healthy() error {
	e.mu.Lock()
	ctx := e.ctx
	e.mu.Unlock()
	switch {
	case ctx == nil:
		return errors.New("operation engine: not started")
	case ctx.Err() != nil:
		return errors.New("operation engine: stopping")
	}
	if n := e.waiting.Load(); n > 0 {
		return fmt.Errorf("operation engine: %d operations wait for the state disk to take writes", n)
	}
	return nil
}

// OnFinish sets a hook called after each operation reaches a final step.
func (e *Engine) OnFinish(fn func(op store.Operation)) { e.onFinish = fn }

// New returns an engine; register workflows, then call Start.
func New(st *store.Store, log *slog.Logger, cfg Config) *Engine {
	if cfg.RetryFor == 0 {
		cfg.RetryFor = 2 * time.Minute
	}
	return &Engine{
		st: st, log: log, cfg: cfg,
		workflows: map[string]Workflow{},
		queues:    map[string][]int64{},
		queued:    map[int64][]string{},
		held:      map[int64]bool{},
		running:   map[int64]context.CancelFunc{},
		waiters:   map[int64][]chan struct{}{},
		began:     map[int64]time.Time{},
	}
}

// Register sets the workflow for an operation type.
func (e *Engine) Register(opType string, wf Workflow) { e.workflows[opType] = wf }

// Start resumes every unfinished operation in id order, then runs new
// ones as they are enqueued, until ctx ends.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	var pending []int64
	e.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if !o.Finished() {
				pending = append(pending, o.ID)
			}
			return true
		})
	})
	if len(pending) > 0 {
		e.log.Info("resuming unfinished operations", "count", len(pending))
	}
	e.Enqueue(pending...)
}

// Wait blocks until all running operations have returned (after ctx ended).
func (e *Engine) Wait() { e.wg.Wait() }

// Busy reports whether any unfinished operation holds key.
func (e *Engine) Busy(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.queues[key]) > 0
}

// Holder returns the first unfinished operation holding key, or 0.
func (e *Engine) Holder(key string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if q := e.queues[key]; len(q) > 0 {
		return q[0]
	}
	return 0
}

// Holders returns every unfinished operation holding key, in the order
// they run (id order; the first is Holder's). The slice is the caller's.
func (e *Engine) Holders(key string) []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.queues[key])
}

// Done returns a channel closed when operation id finishes.
func (e *Engine) Done(id int64) <-chan struct{} {
	ch := make(chan struct{})
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.queued[id]; !ok {
		close(ch)
		return ch
	}
	e.waiters[id] = append(e.waiters[id], ch)
	return ch
}

// Create records a new operation in tx and takes its place in its keys'
// queues at once, under the store's write lock that also gave it its id,
// so that queues are in id order whatever order submitters enqueue in
// afterwards: an operation never starts while a lower id sharing a key
// waits. It starts once Enqueue is called after tx is durable; if tx is
// undone, it leaves the queues.
func (e *Engine) Create(tx *store.Tx, o store.Operation) {
	tx.PutOperation(o)
	e.mu.Lock()
	if e.admitLocked(o) {
		e.held[o.ID] = true
	}
	e.began[o.ID] = time.Now()
	e.mu.Unlock()
	tx.OnUndo(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.began, o.ID)
		if e.held[o.ID] {
			e.dropLocked(o.ID)
		}
	})
}

// Enqueue schedules persisted WAIT or RUN operations. Each takes its
// place in its keys' queues in id order (it may be there already, from
// Create), and an operation starts only at the head of all its queues.
func (e *Engine) Enqueue(ids ...int64) {
	var ops []store.Operation
	var gone []int64
	e.st.View(func(tx *store.Tx) {
		for _, id := range ids {
			if o, ok := tx.Operation(id); ok && !o.Finished() {
				ops = append(ops, o)
			} else {
				gone = append(gone, id)
			}
		}
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range gone {
		if e.held[id] {
			e.dropLocked(id)
		}
	}
	for _, o := range ops {
		e.admitLocked(o)
		delete(e.held, o.ID)
	}
	for _, o := range ops {
		e.tryStartLocked(o.ID)
	}
}

// admitLocked puts an operation in its keys' queues, in id order; it
// reports false if it was there already.
func (e *Engine) admitLocked(o store.Operation) bool {
	if _, dup := e.queued[o.ID]; dup {
		return false
	}
	keys := o.Keys
	if len(keys) == 0 {
		keys = []string{fmt.Sprintf("op:%d", o.ID)}
	}
	e.queued[o.ID] = keys
	for _, k := range keys {
		q := e.queues[k]
		i, _ := slices.BinarySearch(q, o.ID)
		e.queues[k] = slices.Insert(q, i, o.ID)
	}
	return true
}

// dropLocked takes an operation out of the queues (it finished, or its
// creation was undone), wakes its waiters and lets whatever waited behind
// it start.
func (e *Engine) dropLocked(id int64) {
	delete(e.held, id)
	keys := e.queued[id]
	delete(e.queued, id)
	for _, ch := range e.waiters[id] {
		close(ch)
	}
	delete(e.waiters, id)
	var next []int64
	for _, k := range keys {
		q := slices.DeleteFunc(e.queues[k], func(x int64) bool { return x == id })
		if len(q) == 0 {
			delete(e.queues, k)
			continue
		}
		e.queues[k] = q
		next = append(next, q[0])
	}
	for _, n := range next {
		e.tryStartLocked(n)
	}
}

func (e *Engine) tryStartLocked(id int64) {
	if e.ctx == nil || e.ctx.Err() != nil {
		return
	}
	keys, ok := e.queued[id]
	if !ok {
		return
	}
	if _, running := e.running[id]; running || e.held[id] {
		return
	}
	for _, k := range keys {
		if q := e.queues[k]; len(q) == 0 || q[0] != id {
			return
		}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	e.running[id] = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for e.run(ctx, id) {
			// A write was refused: memory is the file, and the operation
			// keeps its place in its queues until it can go on.
			e.log.Warn("operation waits for the state disk to take writes", "op_id", id)
			e.waiting.Add(1)
			err := e.st.WaitWritable(e.ctx)
			e.waiting.Add(-1)
			if err != nil {
				break // shutting down: it resumes at the next start
			}
		}
		cancel()
		if e.finished(id) {
			e.endedID(id)
		}
		if e.onFinish != nil && !e.shuttingDown() {
			var o store.Operation
			e.st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
			e.onFinish(o)
		}
	}()
}

// finished takes a returned or cancelled operation out of the engine. It
// reports whether the operation was still queued: of the run's end and a
// cancellation racing it, only one does, and only it reports the end.
func (e *Engine) finished(id int64) (wasQueued bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, id)
	_, wasQueued = e.queued[id]
	if e.ctx != nil && e.ctx.Err() != nil {
		// Shutting down: the operation stays unfinished in the journal.
		return wasQueued
	}
	e.dropLocked(id)
	return wasQueued
}

// Cancel cancels operation id: a waiting one at once, a running one at its
// next step boundary, rolling back what it did.
func (e *Engine) Cancel(id int64) error {
	var wf Workflow
	var cancelNow bool
	err := e.st.Update(func(tx *store.Tx) error {
		o, ok := tx.Operation(id)
		if !ok {
			return ErrNotFound
		}
		if o.Finished() {
			return ErrFinished
		}
		wf = e.workflows[o.Type]
		if o.Step == store.StepRun && pastNoReturn(wf, o) {
			return ErrPastNoReturn
		}
		o.Cancel = true
		o.DateUpdated = now()
		if o.Step == store.StepWait {
			o.Step = store.StepCancel
			o.LastError = "cancelled before it started"
			cancelNow = true
			if wf.Abandon != nil {
				wf.Abandon(tx, o)
			}
		}
		tx.PutOperation(o)
		return nil
	})
	if err != nil {
		return err
	}
	e.mu.Lock()
	if cancel, ok := e.running[id]; ok {
		cancel()
	}
	e.mu.Unlock()
	if cancelNow {
		e.mu.Lock()
		_, running := e.running[id]
		e.mu.Unlock()
		if !running && e.finishedIfQueued(id) {
			e.endedID(id)
		}
	}
	return nil
}

func (e *Engine) finishedIfQueued(id int64) bool {
	e.mu.Lock()
	_, ok := e.queued[id]
	e.mu.Unlock()
	return ok && e.finished(id)
}

func pastNoReturn(wf Workflow, o store.Operation) bool {
	for i := 0; i <= o.Cursor && i < len(wf.Steps); i++ {
		if wf.Steps[i].NoReturn && (i < o.Cursor || o.InStep) {
			return true
		}
	}
	return false
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// Run is the handle a step gets on its operation.
type Run struct {
	e      *Engine
	op     store.Operation
	atomic bool // the current step is Atomic
	last   bool // the current step is the workflow's last
	// epoch is the store's when op was read: if it moved, a write of this
	// run may have been undone (the disk refused it) and op is stale.
	epoch uint64
	// suspended says a write was refused: the run stops where the journal
	// is and runs again, from the journal, once the store takes writes.
	suspended bool
}

// errStale is a write refused because an earlier write of the same run
// was undone; memory is the file, the run resumes from it.
var errStale = fmt.Errorf("an earlier journal write was undone: %w", store.ErrUnwritable)

// refused reports a write the store refused, and marks the run suspended.
func (r *Run) refused(err error) bool {
	if errors.Is(err, store.ErrUnwritable) {
		r.suspended = true
		return true
	}
	return false
}

// current reads the operation for a write, refusing when the run's view
// may be stale.
func (r *Run) current(tx *store.Tx) (store.Operation, error) {
	if tx.Epoch() != r.epoch {
		return store.Operation{}, errStale
	}
	o, ok := tx.Operation(r.op.ID)
	if !ok {
		return o, ErrNotFound
	}
	return o, nil
}

// Op returns a copy of the operation as last journalled.
func (r *Run) Op() store.Operation { return r.op }

// Store returns the state store.
func (r *Run) Store() *store.Store { return r.e.st }

// Update runs fn in a store transaction together with a journal write of
// the operation, so record changes and progress land atomically.
func (r *Run) Update(fn func(tx *store.Tx, op *store.Operation) error) error {
	return r.e.st.Update(func(tx *store.Tx) error {
		o, err := r.current(tx)
		if err != nil {
			return err
		}
		if err := fn(tx, &o); err != nil {
			return err
		}
		if r.atomic {
			o.Cursor++
			o.InStep = false
			if r.last {
				o.Step, o.LastError, o.ETA = store.StepDone, "", 0
				o.Keys, o.After = nil, nil // scheduling data, useless once finished
			}
		}
		o.DateUpdated = now()
		tx.PutOperation(o)
		r.op = o
		return nil
	})
}

func (e *Engine) boundary(o store.Operation, name string) {
	if e.cfg.OnBoundary != nil {
		e.cfg.OnBoundary(o, name)
	}
}

// journal applies mut to the operation record and persists it.
func (e *Engine) journal(r *Run, mut func(o *store.Operation), extra func(tx *store.Tx, o store.Operation)) error {
	return e.journalWith(e.st.Update, r, mut, extra)
}

// hint journals without waiting for the disk: progress a crash may lose
// costs only re-running an idempotent step.
func (e *Engine) hint(r *Run, mut func(o *store.Operation)) error {
	return e.journalWith(e.st.UpdateAsync, r, mut, nil)
}

func (e *Engine) journalWith(update func(func(tx *store.Tx) error) error, r *Run, mut func(o *store.Operation), extra func(tx *store.Tx, o store.Operation)) error {
	err := update(func(tx *store.Tx) error {
		o, err := r.current(tx)
		if err != nil {
			return err
		}
		if o.Finished() {
			// Cancelled while waiting, between our read and this write.
			return ErrFinished
		}
		mut(&o)
		o.DateUpdated = now()
		if extra != nil {
			extra(tx, o)
		}
		tx.PutOperation(o)
		r.op = o
		return nil
	})
	r.refused(err)
	return err
}

// run runs operation id from its journal until it finishes, the engine
// stops, or the store refuses a write: then it returns true, with the
// journal as the file has it, and is run again once the store takes writes.
func (e *Engine) run(ctx context.Context, id int64) (suspended bool) {
	var o store.Operation
	var ok bool
	var epoch uint64
	e.st.View(func(tx *store.Tx) { o, ok = tx.Operation(id); epoch = tx.Epoch() })
	if !ok || o.Finished() {
		return false
	}
	r := &Run{e: e, op: o, epoch: epoch}
	defer func() { suspended = r.suspended }()
	log := e.log.With("op_id", o.ID, "op", o.Type)
	wf, known := e.workflows[o.Type]
	if !known {
		e.fail(r, wf, store.StepError, fmt.Errorf("%w %q", ErrUnknownWorkflow, o.Type))
		return
	}
	if !e.admit(ctx, r, wf, log) {
		return
	}
	for r.op.Cursor < len(wf.Steps) {
		if !e.runStep(ctx, r, wf, log) {
			return
		}
	}
	e.complete(r, wf, log)
	return
}

// admit decides whether the steps run: an operation still waiting whose
// dependencies did not all succeed is cancelled (after wf.Recover puts
// back what it can), and one cancelled or half rolled back before this run
// is rolled back. It reports whether the steps go ahead.
func (e *Engine) admit(ctx context.Context, r *Run, wf Workflow, log *slog.Logger) bool {
	o := r.op
	if o.Step == store.StepWait {
		if err := e.checkDeps(o); err != nil {
			if wf.Recover != nil {
				if rerr := wf.Recover(ctx, r); rerr != nil {
					if e.shuttingDown() {
						return false
					}
					err = fmt.Errorf("%w; putting things back failed: %v", err, rerr)
				}
			}
			e.fail(r, wf, store.StepCancel, err)
			return false
		}
	}
	if o.RollingBack || (o.Cancel && !pastNoReturn(wf, o)) {
		e.rollback(ctx, r, wf, log, cancelOutcome(o), errors.New(o.LastError))
		return false
	}
	return true
}

// runStep runs the step at the cursor. It reports whether the run goes on
// with the next one; when it does not, the operation is done, rolled back,
// failed or suspended, or the engine is stopping.
func (e *Engine) runStep(ctx context.Context, r *Run, wf Workflow, log *slog.Logger) bool {
	if ctx.Err() != nil && !e.shuttingDown() {
		if !pastNoReturn(wf, r.op) {
			e.rollback(ctx, r, wf, log, store.StepCancel, errors.New("cancelled"))
			return false
		}
	}
	if e.shuttingDown() {
		return false
	}
	step := wf.Steps[r.op.Cursor]
	var progress json.RawMessage
	if step.Prepare != nil {
		var err error
		if progress, err = step.Prepare(r.op); err != nil {
			// The journalled progress is not what the step reads: it
			// fails before it acts, as it would on any other error.
			e.stepFailed(ctx, r, wf, step, log, err)
			return false
		}
	}
	if err := e.beginStep(r, step, progress); err != nil {
		if !errors.Is(err, ErrFinished) && !r.suspended {
			log.Error("journalling step", "step", step.Name, "err", err)
		}
		return false
	}
	e.boundary(r.op, "begin:"+step.Name)
	cursor := r.op.Cursor
	r.atomic, r.last = step.Atomic, cursor == len(wf.Steps)-1
	err := e.doStep(ctx, r, step)
	r.atomic = false
	if e.shuttingDown() {
		return false
	}
	if err != nil {
		e.stepFailed(ctx, r, wf, step, log, err)
		return false
	}
	e.boundary(r.op, "done:"+step.Name)
	if r.op.Cursor == cursor+1 {
		// An atomic step recorded its own completion.
		if r.op.Step == store.StepDone {
			return false // the engine logs the end (end.go)
		}
		return true
	}
	r.op.Cursor = cursor + 1
	r.op.InStep = false
	if r.op.Cursor < len(wf.Steps) {
		// Step completion is recorded by the next step's begin record;
		// until then, a crash re-runs this (idempotent) step.
		if err := e.hint(r, func(o *store.Operation) { o.Cursor = cursor + 1; o.InStep = false }); err != nil {
			return false
		}
	}
	return true
}

// beginStep journals that step begins, with the progress its Prepare made.
func (e *Engine) beginStep(r *Run, step Step, progress json.RawMessage) error {
	begin := func(o *store.Operation) {
		if o.Step != store.StepRun {
			o.Step = store.StepRun
			o.DateStart = now()
		}
		o.InStep = true
		if step.Prepare != nil {
			o.Progress = progress
		}
	}
	switch {
	case step.Prepare != nil:
		return e.journal(r, begin, nil) // journalled data must be durable before acting
	case step.Atomic && r.op.Step == store.StepRun:
		// Nothing to record: the step's own transaction is its journal.
		return nil
	default:
		return e.hint(r, begin)
	}
}

// stepFailed handles a step's error: a refused write suspends the run, a
// cancellation or an error before the point of no return rolls back, and
// an error past it fails the operation.
func (e *Engine) stepFailed(ctx context.Context, r *Run, wf Workflow, step Step, log *slog.Logger, err error) {
	if r.refused(err) {
		// Not the step's failure: its write was refused and undone. It
		// runs again (steps are idempotent) once the store takes writes;
		// rolling back would need writes too.
		log.Warn("step's state write refused; the operation waits for the state disk", "step", step.Name, "err", err)
		return
	}
	if ctx.Err() != nil && !step.NoReturn {
		e.rollback(ctx, r, wf, log, store.StepCancel, errors.New("cancelled"))
		return
	}
	if step.NoReturn || pastNoReturn(wf, r.op) {
		log.Error("step failed past the point of no return", "step", step.Name, "err", err)
		e.fail(r, wf, store.StepError, err)
		return
	}
	log.Warn("step failed; rolling back", "step", step.Name, "err", err)
	e.rollback(ctx, r, wf, log, store.StepError, fmt.Errorf("%s: %w", step.Name, err))
}

// complete journals the operation done after its last step.
func (e *Engine) complete(r *Run, wf Workflow, log *slog.Logger) {
	if err := e.journal(r, func(o *store.Operation) {
		o.Cursor = len(wf.Steps)
		o.InStep = false
		o.Step = store.StepDone
		o.LastError = ""
		o.ETA = 0
		o.Keys, o.After = nil, nil
	}, nil); err != nil {
		if !r.suspended {
			log.Error("journalling completion", "err", err)
		}
	}
}

func cancelOutcome(o store.Operation) string {
	if o.Cancel {
		return store.StepCancel
	}
	return store.StepError
}

func (e *Engine) shuttingDown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ctx != nil && e.ctx.Err() != nil
}

// doStep runs a step, retrying transient failures with backoff.
func (e *Engine) doStep(ctx context.Context, r *Run, step Step) error {
	deadline := time.Now().Add(e.cfg.RetryFor)
	backoff := 200 * time.Millisecond
	for {
		err := step.Do(ctx, r)
		if err == nil || !isTransient(err) || errors.Is(err, store.ErrUnwritable) || time.Now().After(deadline) {
			return err
		}
		e.log.Warn("transient failure; retrying", "op_id", r.op.ID, "step", step.Name, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// rollback undoes steps from the cursor down to the first, journalling
// progress so that a crash mid-rollback continues it.
func (e *Engine) rollback(ctx context.Context, r *Run, wf Workflow, log interface {
	Warn(string, ...any)
	Error(string, ...any)
}, outcome string, cause error) {
	if err := e.journal(r, func(o *store.Operation) {
		o.RollingBack = true
		if outcome == store.StepCancel {
			o.Cancel = true
		}
		if o.LastError == "" && cause != nil {
			o.LastError = cause.Error()
		}
		if o.Cursor >= len(wf.Steps) {
			o.Cursor = len(wf.Steps) - 1
		}
	}, nil); err != nil {
		return
	}
	// Undo runs even though the operation's context was cancelled: it is
	// cleanup, bounded by its own timeout.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.RetryFor)
	defer cancel()
	for i := r.op.Cursor; i >= 0; i-- {
		if e.shuttingDown() {
			return
		}
		step := wf.Steps[i]
		e.boundary(r.op, "undo:"+step.Name)
		if step.Undo != nil {
			if err := e.doStep(uctx, r, Step{Name: step.Name, Do: step.Undo}); err != nil {
				if r.refused(err) {
					return // the rollback continues from the journal later
				}
				log.Error("rollback step failed", "step", step.Name, "err", err)
				e.fail(r, wf, store.StepError, fmt.Errorf("%v; rollback of %s failed: %w", cause, step.Name, err))
				return
			}
		}
		if err := e.journal(r, func(o *store.Operation) { o.Cursor = i - 1 }, nil); err != nil {
			return
		}
	}
	e.fail(r, wf, outcome, cause)
}

// fail records the final ERROR or CANCEL and abandons reservations.
func (e *Engine) fail(r *Run, wf Workflow, outcome string, cause error) {
	_ = e.journal(r, func(o *store.Operation) {
		o.Step = outcome
		o.InStep = false
		o.ETA = 0
		if cause != nil {
			o.LastError = cause.Error()
		}
	}, func(tx *store.Tx, o store.Operation) {
		if wf.Abandon != nil {
			wf.Abandon(tx, o)
		}
	})
}

func (e *Engine) checkDeps(o store.Operation) error {
	var err error
	e.st.View(func(tx *store.Tx) {
		for _, dep := range o.After {
			d, ok := tx.Operation(dep)
			if !ok {
				continue
			}
			if d.Step != store.StepDone {
				err = fmt.Errorf("operation %d (%s) it depends on ended in %s", d.ID, d.Type, d.Step)
				return
			}
		}
	})
	return err
}

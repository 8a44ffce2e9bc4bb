package ops

import (
	"context"
	"log/slog"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// Results of an ended operation, as logged and observed.
const (
	ResultDone      = "done"
	ResultError     = "error"
	ResultCancelled = "cancelled"
)

// End is an operation's end, as OnEnd observers hear it.
type End struct {
	Op     store.Operation // the final record
	Result string          // ResultDone, ResultError or ResultCancelled
	// Duration runs from the submission to the end: measured in this
	// process when it took the submission, else from the record's
	// DateCreated (whole seconds; an operation resumed after a restart).
	Duration time.Duration
}

// OnEnd adds an observer called once when each operation ends (done,
// failed or cancelled, whether it ran or was cancelled while waiting),
// before the OnFinish hook. Observers run on the operation's goroutine:
// they must be quick (count, not write). Call it before Start.
func (e *Engine) OnEnd(fn func(End)) { e.onEnd = append(e.onEnd, fn) }

// endedID reports the end of operation id, read from the store.
func (e *Engine) endedID(id int64) {
	var o store.Operation
	var ok bool
	e.st.View(func(tx *store.Tx) { o, ok = tx.Operation(id) })
	e.mu.Lock()
	began, precise := e.began[id]
	delete(e.began, id)
	e.mu.Unlock()
	if !ok || !o.Finished() {
		return // stopped at shutdown: it resumes at the next start
	}
	end := End{Op: o, Result: result(o.Step)}
	if precise {
		end.Duration = time.Since(began)
	} else if !o.DateCreated.IsZero() {
		end.Duration = time.Since(o.DateCreated)
	}
	e.logEnd(end)
	for _, fn := range e.onEnd {
		fn(end)
	}
}

func result(step string) string {
	switch step {
	case store.StepDone:
		return ResultDone
	case store.StepCancel:
		return ResultCancelled
	}
	return ResultError
}

// logEnd writes the one line every operation's end gets: what, on what,
// how long, how it ended and, when it failed, why.
func (e *Engine) logEnd(end End) {
	o := end.Op
	attrs := []any{"op_id", o.ID, "type", o.Type}
	for _, r := range []struct {
		key string
		id  int64
	}{{"vm_id", o.VMID}, {"disk_id", o.DiskID}, {"iface_id", o.IfaceID}, {"ip_id", o.IPID}} {
		if r.id != 0 {
			attrs = append(attrs, r.key, r.id)
		}
	}
	attrs = append(attrs, "account_id", o.AccountID, "duration", end.Duration.Round(time.Millisecond), "result", end.Result)
	level := slog.LevelInfo
	if end.Result != ResultDone {
		attrs = append(attrs, "err", o.LastError)
	}
	if end.Result == ResultError {
		level = slog.LevelWarn
	}
	e.log.Log(context.Background(), level, "operation ended", attrs...)
}

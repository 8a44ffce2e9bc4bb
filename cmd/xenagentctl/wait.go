package main

import (
	"context"
	"fmt"
	"time"
)

func finished(step any) bool { return step == "DONE" || step == "ERROR" || step == "CANCEL" }

// waitOps waits for each operation in turn, showing on e.status its step,
// the time since it started and an ETA; prints each one's end on e.out
// (a line, or the operation as JSON) and fails unless all are DONE.
func (e *env) waitOps(ctx context.Context, list []int64) error {
	est := estimates{}
	for _, id := range list {
		op, err := e.wait(ctx, id, est)
		if err != nil {
			return err
		}
		if e.json {
			if err := printJSON(e.out, op); err != nil {
				return err
			}
		} else {
			line := fmt.Sprintf("operation %d %v %v", id, op["type"], op["step"])
			if msg, _ := op["last_error"].(string); msg != "" {
				line += " " + msg
			}
			fmt.Fprintln(e.out, line)
		}
		if op["step"] != "DONE" {
			return fmt.Errorf("operation %d ended in %s", id, op["step"])
		}
	}
	return nil
}

// wait polls operation.info until the operation reaches a final step.
func (e *env) wait(ctx context.Context, id int64, est estimates) (map[string]any, error) {
	began := e.now()
	shown := ""
	defer func() {
		if e.tty && shown != "" {
			fmt.Fprint(e.status, "\r\033[K")
		}
	}()
	for {
		v, err := e.c.call(ctx, "operation.info", id)
		if err != nil {
			return nil, err
		}
		op, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("operation.info %d answered %T, not an operation", id, v)
		}
		if finished(op["step"]) {
			return op, nil
		}
		line := e.progress(ctx, op, began, est)
		switch {
		case e.tty:
			fmt.Fprintf(e.status, "\r%s\033[K", line)
			shown = line
		case progressKey(op) != shown:
			// Not a terminal (a log, a pipe): one line per step change.
			fmt.Fprintln(e.status, line)
			shown = progressKey(op)
		}
		select {
		case <-ctx.Done():
			return op, fmt.Errorf("waiting for operation %d: %w", id, ctx.Err())
		case <-time.After(e.poll):
		}
	}
}

func progressKey(op map[string]any) string { return fmt.Sprint(op["step"]) }

// progress is the waiting line: "operation 7 vm_stop RUN, 4s elapsed,
// ETA 6s (average of 12 vm_stop)".
func (e *env) progress(ctx context.Context, op map[string]any, began time.Time, est estimates) string {
	elapsed := e.now().Sub(began)
	if t, ok := startOf(op); ok && !t.After(e.now()) {
		elapsed = e.now().Sub(t)
	}
	line := fmt.Sprintf("operation %v %v %v, %s elapsed", op["id"], op["type"], op["step"], round(elapsed))
	typ, _ := op["type"].(string)
	self, _ := op["id"].(int64)
	expect, why := est.of(ctx, e.c, typ, self)
	if expect == 0 {
		if s, ok := op["eta"].(int64); ok && s > 0 {
			expect, why = time.Duration(s)*time.Second, "the agent's estimate"
		}
	}
	switch left := expect - elapsed; {
	case expect == 0:
		line += ", ETA unknown (no finished " + typ + " yet)"
	case left > 0:
		line += fmt.Sprintf(", ETA %s (%s)", round(left), why)
	default:
		line += fmt.Sprintf(", %s past the expected %s (%s)", round(-left), round(expect), why)
	}
	return line
}

// startOf is when an operation started running, else when it was made.
func startOf(op map[string]any) (time.Time, bool) {
	for _, k := range []string{"date_start", "date_created"} {
		if t, ok := op[k].(time.Time); ok && !t.IsZero() {
			return t, true
		}
	}
	return time.Time{}, false
}

func round(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// estimates are the expected durations by operation type, read once.
type estimates map[string]estimate

type estimate struct {
	d   time.Duration
	why string
}

// estimateSample is how many of the latest finished operations of a type
// the average takes: recent enough to follow the host's load.
const estimateSample = 20

// of is the average duration of the latest DONE operations of typ
// (date_start to date_updated) but self, 0 when there are none or the list fails:
// operation.info carries no progress of its own beyond the agent's fixed
// eta, and what this host took lately is the better guess.
func (est estimates) of(ctx context.Context, c *client, typ string, self int64) (time.Duration, string) {
	if typ == "" {
		return 0, ""
	}
	if x, ok := est[typ]; ok {
		return x.d, x.why
	}
	var x estimate
	v, err := c.call(ctx, "operation.list", map[string]any{"type": typ, "step": "DONE",
		"items_per_page": int64(estimateSample), "sort_by": "-id"})
	if list, ok := v.([]any); err == nil && ok {
		var total time.Duration
		n := 0
		for _, r := range list {
			m, _ := r.(map[string]any)
			if idOf(m) == self {
				continue // ended since its last poll: not a past one
			}
			start, ok1 := startOf(m)
			end, ok2 := m["date_updated"].(time.Time)
			if ok1 && ok2 && !end.Before(start) {
				total += end.Sub(start)
				n++
			}
		}
		if n > 0 {
			// Dates are whole seconds: a 0 average would read as unknown.
			x = estimate{max(total/time.Duration(n), time.Second), fmt.Sprintf("average of %d %s", n, typ)}
		}
	}
	est[typ] = x
	return x.d, x.why
}

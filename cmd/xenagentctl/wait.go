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
			if t, ok := transferOf(op); ok {
				line += t.end()
			}
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
		line := e.label + e.progress(ctx, op, began, est)
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

// progressKey is what a new line is printed for when stderr is not a
// terminal: a step change, or a move's next tenth of its bytes.
func progressKey(op map[string]any) string {
	if t, ok := transferOf(op); ok && t.total > 0 {
		return fmt.Sprintf("%v %d", op["step"], min(t.bytes*10/t.total, 10))
	}
	return fmt.Sprint(op["step"])
}

// progress is the waiting line: "operation 7 vm_stop RUN, 4s elapsed,
// ETA 6s (average of 12 vm_stop)".
func (e *env) progress(ctx context.Context, op map[string]any, began time.Time, est estimates) string {
	elapsed := e.now().Sub(began)
	if t, ok := startOf(op); ok && !t.After(e.now()) {
		elapsed = e.now().Sub(t)
	}
	line := fmt.Sprintf("operation %v %v %v, %s elapsed", op["id"], op["type"], op["step"], round(elapsed))
	if t, ok := transferOf(op); ok && t.total > 0 {
		// A move knows its own rate and what is left: better than the
		// average of past moves of other sizes.
		return line + t.progress(elapsed)
	}
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

// transfer is operation.info's transfer (a move's extension): bytes
// sent (source) or received (target) of bytes_total, the rate in bytes
// a second, the seconds left, and the downtime in ms once measured.
type transfer struct {
	bytes, total, eta, downtimeMS int64
	rate                          float64
	// mode is a VM's move's, live or cold, and why cold.
	mode, modeReason string
}

func transferOf(op map[string]any) (transfer, bool) {
	m, ok := op["transfer"].(map[string]any)
	if !ok {
		return transfer{}, false
	}
	num := func(k string) int64 {
		switch v := m[k].(type) {
		case int64:
			return v
		case float64:
			return int64(v)
		}
		return 0
	}
	t := transfer{bytes: num("bytes"), total: num("bytes_total"), eta: num("eta"), downtimeMS: num("downtime_ms")}
	t.mode, _ = m["mode"].(string)
	t.modeReason, _ = m["mode_reason"].(string)
	switch v := m["rate"].(type) {
	case float64:
		t.rate = v
	case int64:
		t.rate = float64(v)
	}
	return t, true
}

// progress is ", 12.0 MiB of 40.0 MiB (30%), 5.2 MiB/s, ETA 6s": the
// agent's rate and ETA; where it gives none yet (between passes, on a
// pass too short to measure), the average since the operation started
// (elapsed), which counts its other steps too and so errs long.
func (t transfer) progress(elapsed time.Duration) string {
	s := fmt.Sprintf(", %s of %s (%d%%)", size(t.bytes), size(t.total), min(t.bytes*100/max(t.total, 1), 100))
	rate, eta, why := t.rate, time.Duration(t.eta)*time.Second, ""
	if rate <= 0 && t.bytes > 0 && elapsed > 0 {
		rate, why = float64(t.bytes)/elapsed.Seconds(), " (average so far)"
	}
	if eta <= 0 && rate > 0 && t.total > t.bytes {
		eta = round(time.Duration(float64(t.total-t.bytes) / rate * float64(time.Second)))
	}
	if rate > 0 {
		s += fmt.Sprintf(", %s/s", size(int64(rate)))
	}
	switch {
	case eta > 0:
		s += fmt.Sprintf(", ETA %s%s", eta, why)
	case t.bytes >= t.total:
		s += ", all sent"
	default:
		s += ", ETA unknown"
	}
	return s
}

// end is what a finished move adds to its line: the bytes sent (every pass: the precopy and the delta) and the
// downtime (the source's: its VM's stop to the target's commit).
func (t transfer) end() string {
	s := ""
	// Only allocated blocks travel: a move of empty disks sends nothing,
	// which is worth saying once the move measured its downtime.
	if t.bytes > 0 || t.downtimeMS > 0 {
		s += fmt.Sprintf(", %s sent", size(t.bytes))
	}
	if t.downtimeMS > 0 {
		s += fmt.Sprintf(", downtime %s", round(time.Duration(t.downtimeMS)*time.Millisecond))
	}
	switch {
	case t.mode != "" && t.modeReason != "":
		s += fmt.Sprintf(", %s (%s)", t.mode, t.modeReason)
	case t.mode != "":
		s += ", " + t.mode
	}
	return s
}

// size is a byte count in binary units, one decimal.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 4 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[u-1])
}

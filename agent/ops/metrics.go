package ops

import (
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/store"
)

// Metrics is the engine's collector: operations by type and step from
// the journal, and the durations and results of those that ended since
// the start (observed through OnEnd).
type Metrics struct {
	e         *Engine
	durations *metrics.HistogramVec // by type
	ended     *metrics.CounterVec   // by type and result
}

// NewMetrics observes e's operation ends; register its Write. Call it
// before Start.
func NewMetrics(e *Engine) *Metrics {
	m := &Metrics{e: e, durations: metrics.NewHistogramVec(metrics.OperationBuckets, "type"), ended: metrics.NewCounterVec("type", "result")}
	e.OnEnd(m.observe)
	return m
}

func (m *Metrics) observe(end End) {
	m.durations.With(end.Op.Type).Observe(end.Duration.Seconds())
	m.ended.Add(1, end.Op.Type, end.Result)
}

// Write writes the operations' families.
func (m *Metrics) Write(w *metrics.Writer) {
	m.durations.Write(w, "xenagent_operation_duration_seconds", "Time from an operation's submission to its end (done, failed or cancelled), by type; observed at each end since the agent started.")
	m.ended.Write(w, "xenagent_operations_ended_total", "Operations that ended since the agent started, by type and result (done, error, cancelled).")
	type unfinished struct{ typ, state, step string }
	type finished struct{ typ, result string }
	open, closed := map[unfinished]int{}, map[finished]int{}
	m.e.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if o.Finished() {
				closed[finished{o.Type, result(o.Step)}]++
				return true
			}
			open[unfinished{o.Type, m.state(o), m.step(o)}]++
			return true
		})
	})
	for k, n := range open {
		w.Gauge("xenagent_operations_unfinished", "Operations not finished, by type, state (wait: queued or waiting for another; run; rollback) and the workflow step at their cursor.",
			float64(n), "type", k.typ, "state", k.state, "step", k.step)
	}
	for k, n := range closed {
		w.Gauge("xenagent_operations_finished", "Finished operations the journal keeps ([operations] keep_finished), by type and result (done, error, cancelled).",
			float64(n), "type", k.typ, "result", k.result)
	}
	w.Gauge("xenagent_operations_suspended", "Operations waiting for the state file to take writes again.", float64(m.e.waiting.Load()))
}

func (m *Metrics) state(o *store.Operation) string {
	switch {
	case o.Step == store.StepWait:
		return "wait"
	case o.RollingBack:
		return "rollback"
	}
	return "run"
}

// step names the workflow step at the operation's cursor, "" when it
// has none (waiting, an unknown type).
func (m *Metrics) step(o *store.Operation) string {
	if o.Step == store.StepWait {
		return ""
	}
	wf, ok := m.e.workflows[o.Type]
	if !ok || o.Cursor < 0 || o.Cursor >= len(wf.Steps) {
		return ""
	}
	return wf.Steps[o.Cursor].Name
}

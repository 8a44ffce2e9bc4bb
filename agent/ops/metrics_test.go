package ops

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/metrics/metricstest"
)

func TestMetrics(t *testing.T) {
	release, inside := make(chan struct{}), make(chan struct{}, 1)
	var m *Metrics
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("ok", Workflow{Steps: []Step{{Name: "a", Do: func(context.Context, *Run) error { return nil }}}})
		e.Register("block", Workflow{Steps: []Step{{Name: "first", Do: func(context.Context, *Run) error { return nil }},
			{Name: "hold", Do: func(context.Context, *Run) error { inside <- struct{}{}; <-release; return nil }}}})
		m = NewMetrics(e)
	})
	defer close(release)
	done := h.submit("ok", []string{"vm:1"})
	h.wait(done)
	h.submit("block", []string{"vm:2"})
	h.submit("block", []string{"vm:2"})
	<-inside
	scrape := func() (metricstest.Page, string) {
		reg := metrics.NewRegistry()
		reg.Register(m.Write)
		var b strings.Builder
		if err := reg.Write(&b); err != nil {
			t.Fatal(err)
		}
		return metricstest.Check(t, []byte(b.String())), b.String()
	}
	// The end observer runs just after Done wakes its waiters.
	deadline := time.Now().Add(5 * time.Second)
	p, page := scrape()
	for p.Sum("xenagent_operations_ended_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		p, page = scrape()
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"xenagent_operations_ended_total", []string{"type", "ok", "result", "done"}, 1},
		{"xenagent_operation_duration_seconds_count", []string{"type", "ok"}, 1},
		{"xenagent_operations_finished", []string{"type", "ok", "result", "done"}, 1},
		{"xenagent_operations_unfinished", []string{"type", "block", "state", "run", "step", "hold"}, 1},
		{"xenagent_operations_unfinished", []string{"type", "block", "state", "wait", "step", ""}, 1},
		{"xenagent_operations_suspended", nil, 0},
	} {
		if got := p.Find(c.name, c.labels...); len(got) != 1 || got[0].Value != c.want {
			t.Errorf("%s%q = %v, want one of %v\n%s", c.name, c.labels, got, c.want, page)
		}
	}
}

package store

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
)

// writeStats counts what the committer does, for /metrics.
type writeStats struct {
	once    sync.Once
	latency *metrics.Histogram // one batch: bbolt transaction and fsync
	errors  atomic.Uint64      // batches the file refused
	commits atomic.Uint64      // commits (Update, UpdateAsync) written
}

func (w *writeStats) histogram() *metrics.Histogram {
	w.once.Do(func() { w.latency = metrics.NewHistogram(metrics.FsyncBuckets) })
	return w.latency
}

// batchWritten records one batch of n commits that took d; err is the
// file's answer.
func (w *writeStats) batchWritten(d time.Duration, n int, err error) {
	w.histogram().Observe(d.Seconds())
	if err != nil {
		w.errors.Add(1)
		return
	}
	w.commits.Add(uint64(n))
}

// WriteMetrics is the store's collector: commit latency, write errors
// and whether writes are taken now.
func (s *Store) WriteMetrics(w *metrics.Writer) {
	w.Histogram("xenagent_store_commit_seconds", "Time to write one batch of state changes to the state file: one bbolt transaction and its fsync.",
		s.stats.histogram().Value())
	w.Counter("xenagent_store_write_errors_total", "Batches of state changes the state file refused (full or failing disk); each refuses its writes and every write queued after it.",
		float64(s.stats.errors.Load()))
	w.Counter("xenagent_store_commits_total", "State changes written to the state file.", float64(s.stats.commits.Load()))
	writable := 1.0
	if s.Writable() != nil {
		writable = 0
	}
	w.Gauge("xenagent_store_writable", "1 while the state file takes writes, 0 while they are refused (until a probe succeeds).", writable)
}

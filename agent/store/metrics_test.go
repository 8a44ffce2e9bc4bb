package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/metrics/metricstest"
)

// Written batches are timed and counted; a refused one counts as a write
// error and the store says it refuses writes.
func TestWriteMetrics(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "s.db"))
	put := func() error {
		return s.Update(func(tx *Tx) error {
			tx.PutVM(VM{ID: tx.NextID("vm", tx.HasVM), Hostname: "a"})
			return nil
		})
	}
	for range 3 {
		if err := put(); err != nil {
			t.Fatal(err)
		}
	}
	s.SetWriteFault(func() error { return errors.New("no space left on device") })
	if err := put(); err == nil {
		t.Fatal("a write went through a failing disk")
	}
	reg := metrics.NewRegistry()
	reg.Register(s.WriteMetrics)
	var b strings.Builder
	if err := reg.Write(&b); err != nil {
		t.Fatal(err)
	}
	p := metricstest.Check(t, []byte(b.String()))
	for name, want := range map[string]float64{
		"xenagent_store_write_errors_total":   1,
		"xenagent_store_commits_total":        3,
		"xenagent_store_writable":             0,
		"xenagent_store_commit_seconds_count": 4,
	} {
		if got := p.Sum(name); got != want {
			t.Errorf("%s = %v, want %v\n%s", name, got, want, b.String())
		}
	}
	s.SetWriteFault(nil)
}

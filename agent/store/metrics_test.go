package store

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestRecordMetrics(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "s.db"))
	if err := s.Update(func(tx *Tx) error {
		tx.PutAccount(Account{ID: 3, Handle: "AL-\"ICE\""})
		tx.PutVM(VM{ID: 12, AccountID: 3, State: VMRunning})
		tx.PutVM(VM{ID: 13, AccountID: 3, State: VMHalted})
		tx.PutVM(VM{ID: 14, AccountID: 3, State: VMRunning})
		tx.PutIface(Iface{ID: 5, AccountID: 3, VMID: 12, Counted: Traffic{RxBytes: 1000, TxBytes: 10, RxPackets: 7, TxPackets: 1},
			DevCounted: Traffic{RxBytes: 24, TxBytes: 2, RxPackets: 1, TxPackets: 1}})
		tx.PutIface(Iface{ID: 6, AccountID: 9})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	reg.Register(s.WriteRecordMetrics)
	var b strings.Builder
	if err := reg.Write(&b); err != nil {
		t.Fatal(err)
	}
	p := metricstest.Check(t, []byte(b.String()))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"xenagent_vms", []string{"state", VMRunning}, 2},
		{"xenagent_vms", []string{"state", VMHalted}, 1},
		{"xenagent_vms", []string{"state", VMPaused}, 0},
		{"xenagent_iface_bytes_total", []string{"vm_id", "12", "iface_id", "5", "account", "AL-\"ICE\"", "direction", "in"}, 1024},
		{"xenagent_iface_bytes_total", []string{"iface_id", "5", "direction", "out"}, 12},
		{"xenagent_iface_packets_total", []string{"iface_id", "5", "direction", "in"}, 8},
		{"xenagent_iface_packets_total", []string{"iface_id", "6", "vm_id", "", "account", "9", "direction", "out"}, 0},
	} {
		if got := p.Find(c.name, c.labels...); len(got) != 1 || got[0].Value != c.want {
			t.Errorf("%s%q = %v, want one of %v\n%s", c.name, c.labels, got, c.want, b.String())
		}
	}
}

// BenchmarkRecordMetrics is a scrape of the records' families at 10,000
// VMs with an iface each.
func BenchmarkRecordMetrics(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "s.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.Update(func(tx *Tx) error {
		tx.PutAccount(Account{ID: 1, Handle: "BENCH"})
		for i := int64(1); i <= 10000; i++ {
			tx.PutVM(VM{ID: i, AccountID: 1, State: VMRunning})
			tx.PutIface(Iface{ID: i, AccountID: 1, VMID: i, Counted: Traffic{RxBytes: uint64(i) << 20}})
		}
		return nil
	})
	reg := metrics.NewRegistry()
	reg.Register(s.WriteRecordMetrics)
	var lockHeld time.Duration
	for b.Loop() {
		var buf bytes.Buffer
		if err := reg.Write(&buf); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(buf.Len()))
	}
	start := time.Now()
	s.View(func(tx *Tx) { tx.EachIface(func(*Iface) bool { return true }) })
	lockHeld = time.Since(start)
	b.ReportMetric(float64(lockHeld.Microseconds()), "µs-walk")
}

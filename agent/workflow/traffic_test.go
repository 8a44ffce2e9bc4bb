package workflow

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
)

func tr(rx, tx uint64) store.Traffic {
	return store.Traffic{RxBytes: rx, TxBytes: tx, RxPackets: rx / 100, TxPackets: tx / 100}
}

// An iface's total never goes back, whatever its devices report: a Xen
// vif reports zeros on its way out, a re-made tap starts again at zero.
func TestTrafficAcrossDevices(t *testing.T) {
	base := store.Iface{Dev: "vif3.0", Counted: tr(1000, 500), DevCounted: tr(7000, 3000)}
	tests := []struct {
		name  string
		apply func(store.Iface) store.Iface
		want  store.Traffic
		dev   string
	}{
		{"a tap's removal reports its whole counts", func(i store.Iface) store.Iface { return deviceGone(i, tr(7500, 3100)) }, tr(8500, 3600), ""},
		{"a Xen vif's removal reports zeros: the last reading stands", func(i store.Iface) store.Iface { return deviceGone(i, store.Traffic{}) }, tr(8000, 3500), ""},
		{"a later reading adds what was sent since", func(i store.Iface) store.Iface {
			i.Counted, i.DevCounted = withReading(i, tr(9000, 3000))
			return i
		}, tr(10000, 3500), "vif3.0"},
		{"a reading gone back (zeroed or re-made) keeps what was counted", func(i store.Iface) store.Iface {
			i.Counted, i.DevCounted = withReading(i, tr(0, 0))
			return deviceGone(i, tr(0, 0))
		}, tr(8000, 3500), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.apply(base)
			if got.Total() != tt.want || got.Dev != tt.dev {
				t.Fatalf("total %+v on %q, want %+v on %q", got.Total(), got.Dev, tt.want, tt.dev)
			}
		})
	}
}

// readingWiring is a host whose every device counted c.
type readingWiring struct {
	host.Wiring
	c host.Counters
}

func (w readingWiring) Read(ctx context.Context, dev string) (host.Counters, error) { return w.c, nil }

// Whatever takes a domain's devices away does so after their counters
// are in the records: a Xen vif counts nothing any more once it goes.
func TestTearDownCountsFirst(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(func(tx *store.Tx) error {
		tx.PutIface(store.Iface{ID: 1, Dev: "vif3.0", Counted: tr(1000, 500)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reading := host.Counters(tr(7000, 3000))
	s := &Workflows{cfg: Config{Network: Network{Wiring: readingWiring{c: reading}}}, st: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	called := false
	err = s.tearDown(context.Background(), DomainName(3), func(ctx context.Context, name string) error {
		called = true
		st.View(func(tx *store.Tx) {
			if i, _ := tx.Iface(1); i.Total() != tr(8000, 3500) {
				t.Errorf("iface when %s is torn down counts %+v, want the last reading in", name, i.Total())
			}
		})
		return nil
	})
	if err != nil || !called {
		t.Fatalf("tearDown = %v, called %v", err, called)
	}
}

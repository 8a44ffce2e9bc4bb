package workflow

import (
	"testing"

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

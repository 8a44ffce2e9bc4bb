package transfer

import (
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name        string
		resumedFrom int64
		elapsed     time.Duration
		done        int64
		wantRate    float64
		wantETA     time.Duration
	}{
		{"half way", 0, 2 * time.Second, 50 << 20, 25 << 20, 2 * time.Second},
		{"resumed bytes are not this call's rate", 40 << 20, time.Second, 50 << 20, 10 << 20, 5 * time.Second},
		{"nothing yet: no rate, no ETA", 0, time.Second, 0, 0, 0},
		{"done", 0, 4 * time.Second, 100 << 20, 25 << 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMeter("precopy", 100<<20, tt.resumedFrom, nil)
			m.start = start
			m.now = func() time.Time { return start.Add(tt.elapsed) }
			p := m.progress(tt.done, 7)
			if p.Rate != tt.wantRate || p.ETA != tt.wantETA || p.Total != 100<<20 || p.Wire != 7 || p.Pass != "precopy" {
				t.Fatalf("progress %+v; want rate %v, ETA %v", p, tt.wantRate, tt.wantETA)
			}
		})
	}
}

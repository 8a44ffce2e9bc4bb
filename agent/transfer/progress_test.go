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
			now := start
			m := newMeter("precopy", 100<<20, tt.resumedFrom, nil)
			m.samples[0].at = start
			m.now = func() time.Time { return now }
			now = start.Add(tt.elapsed)
			p := m.progress(tt.done, 7)
			if p.Rate != tt.wantRate || p.ETA != tt.wantETA || p.Total != 100<<20 || p.Wire != 7 || p.Pass != "precopy" {
				t.Fatalf("progress %+v; want rate %v, ETA %v", p, tt.wantRate, tt.wantETA)
			}
		})
	}
}

// TestMeterWindow: the rate follows a change within the window, not the
// average since the start.
func TestMeterWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newMeter("delta", 1<<40, 0, nil)
	m.now = func() time.Time { return now }
	m.samples[0].at = now
	var done int64
	step := func(secs int, perSec int64) Progress {
		var p Progress
		for range secs * 4 {
			now = now.Add(250 * time.Millisecond)
			done += perSec / 4
			p = m.progress(done, 0)
		}
		return p
	}
	if p := step(20, 100<<20); p.Rate < 99<<20 || p.Rate > 101<<20 {
		t.Fatalf("at 100 MiB/s for 20 s the rate is %.0f", p.Rate)
	}
	if p := step(10, 10<<20); p.Rate < 9<<20 || p.Rate > 11<<20 {
		t.Fatalf("10 s after slowing to 10 MiB/s the rate is %.0f; want 10 MiB/s (the average since the start is 70)", p.Rate)
	}
	if len(m.samples) > 40 {
		t.Fatalf("%d samples kept; want those of the window only", len(m.samples))
	}
}

package transfer

import (
	"context"
	"testing"
	"time"
)

// fakeClock drives a Limiter: sleeping advances the time.
func fakeClock(l *Limiter) *time.Duration {
	now := time.Unix(1000, 0)
	var slept time.Duration
	l.now = func() time.Time { return now }
	l.last = now
	l.sleep = func(_ context.Context, d time.Duration) error { slept += d; now = now.Add(d); return nil }
	return &slept
}

func within(got, want time.Duration) bool {
	return got > want-time.Millisecond && got < want+time.Millisecond
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(1 << 20) // 1 MiB/s: a burst of 256 KiB
	slept := fakeClock(l)
	ctx := context.Background()
	// The burst goes at once.
	l.Wait(ctx, 256<<10)
	if *slept != 0 {
		t.Fatalf("the burst slept %v", *slept)
	}
	// Then 4 MiB take 4 s, whatever the frame sizes.
	for range 60 {
		l.Wait(ctx, 64<<10)
	}
	l.Wait(ctx, 256<<10)
	if !within(*slept, 4*time.Second) {
		t.Fatalf("4 MiB at 1 MiB/s after the burst slept %v; want 4 s", *slept)
	}
	// An idle spell refills up to the burst, not past it.
	l.sleep(ctx, 10*time.Second)
	*slept = 0
	l.Wait(ctx, 512<<10)
	if !within(*slept, 250*time.Millisecond) {
		t.Fatalf("512 KiB after idling slept %v; want 250 ms (the burst is 256 KiB)", *slept)
	}
}

// TestLimiterShared: two senders on one Limiter share its rate.
func TestLimiterShared(t *testing.T) {
	l := NewLimiter(1 << 20)
	slept := fakeClock(l)
	ctx := context.Background()
	l.Wait(ctx, 256<<10) // the burst
	for range 16 {
		l.Wait(ctx, 64<<10) // one sender's frame
		l.Wait(ctx, 64<<10) // the other's
	}
	if !within(*slept, 2*time.Second) {
		t.Fatalf("2 MiB from two senders at 1 MiB/s slept %v; want 2 s", *slept)
	}
}

func TestLimiterUnlimited(t *testing.T) {
	for _, l := range []*Limiter{NewLimiter(0), nil} {
		if l != nil {
			l.sleep = func(context.Context, time.Duration) error { t.Fatal("an unlimited limiter slept"); return nil }
		}
		for range 100 {
			l.Wait(context.Background(), 1<<30)
		}
	}
}

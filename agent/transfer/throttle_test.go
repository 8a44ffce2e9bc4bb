package transfer

import (
	"context"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	var slept time.Duration
	b := newBucket(1<<20, 64<<10) // 1 MiB/s: a burst of 256 KiB
	b.now = func() time.Time { return now }
	b.last = now
	b.sleep = func(_ context.Context, d time.Duration) error { slept += d; now = now.Add(d); return nil }
	ctx := context.Background()
	// The burst goes at once.
	b.wait(ctx, 256<<10)
	if slept != 0 {
		t.Fatalf("the burst slept %v", slept)
	}
	// Then 4 MiB take 4 s, whatever the frame sizes.
	for range 64 {
		b.wait(ctx, 64<<10)
	}
	if d := slept - 4*time.Second; d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("4 MiB at 1 MiB/s after the burst slept %v; want 4 s", slept)
	}
	// An idle second refills up to the burst, not past it.
	now = now.Add(10 * time.Second)
	slept = 0
	b.wait(ctx, 512<<10)
	if want := 250 * time.Millisecond; slept < want-time.Millisecond || slept > want+time.Millisecond {
		t.Fatalf("512 KiB after idling slept %v; want %v (the burst is 256 KiB)", slept, want)
	}
}

func TestBucketUnlimited(t *testing.T) {
	b := newBucket(0, 4<<20)
	b.sleep = func(context.Context, time.Duration) error { t.Fatal("an unlimited bucket slept"); return nil }
	for range 100 {
		b.wait(context.Background(), 1<<30)
	}
}

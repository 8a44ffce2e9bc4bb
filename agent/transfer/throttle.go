package transfer

import (
	"context"
	"time"
)

// bucket is a token bucket over bytes: a sender waits before each frame
// until the bytes it puts on the wire fit the rate, so a migration takes
// at most its share of the link. A burst of a quarter second lets the
// first frames go out at once without running ahead of the rate for long.
type bucket struct {
	rate   float64 // bytes per second; 0 is unlimited
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

func newBucket(rate int64, chunk int64) *bucket {
	b := &bucket{rate: float64(rate), now: time.Now, sleep: sleepCtx}
	// A frame larger than the burst would wait for tokens the bucket can
	// never hold; so the burst is at least a frame.
	b.burst = max(b.rate/4, float64(chunk)+4096)
	b.tokens = b.burst
	b.last = b.now()
	return b
}

// wait takes n bytes' tokens, sleeping until the bucket holds them.
func (b *bucket) wait(ctx context.Context, n int64) error {
	if b.rate <= 0 {
		return ctx.Err()
	}
	now := b.now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return ctx.Err()
	}
	// In debt: sleep until it is paid; the tokens the sleep earns are
	// counted at the next call from b.last.
	return b.sleep(ctx, time.Duration(-b.tokens/b.rate*float64(time.Second)))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

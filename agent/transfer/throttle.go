package transfer

import (
	"context"
	"sync"
	"time"
)

// Limiter is a token bucket over bytes: a sender waits before each frame
// until the bytes it puts on the wire fit the rate, so a migration takes
// at most its share of the link. One Limiter shared by every Send of an
// agent (Options.Limiter) caps them together: two disks moving at once
// share the rate instead of doubling it. A burst of a quarter second lets
// the first frames go at once without running ahead of the rate for
// long; a frame larger than what the bucket holds goes into debt, which
// the next frames wait off, so the average holds whatever the frame size.
type Limiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second; 0 is unlimited
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

// NewLimiter caps at bytesPerSecond (0: no cap).
func NewLimiter(bytesPerSecond int64) *Limiter {
	l := &Limiter{rate: float64(bytesPerSecond), now: time.Now, sleep: sleepCtx}
	l.burst = max(l.rate/4, 64<<10)
	l.tokens = l.burst
	l.last = l.now()
	return l
}

// Wait takes n bytes' tokens, sleeping until they are paid for; a nil
// Limiter never waits.
func (l *Limiter) Wait(ctx context.Context, n int64) error {
	if l == nil || l.rate <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	debt := -l.tokens
	l.mu.Unlock()
	if debt <= 0 {
		return ctx.Err()
	}
	// The tokens the sleep earns are counted at the next call from
	// l.last; a concurrent caller's debt adds to this one's, so it
	// sleeps longer.
	return l.sleep(ctx, time.Duration(debt/l.rate*float64(time.Second)))
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

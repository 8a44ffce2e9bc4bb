package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Failing writes: the probe that clears the failed state writes this many
// bytes, then deletes them, so that success means some room, not the last
// free page; and it runs at most this often.
const (
	probeSize  = 256 << 10
	probeEvery = 2 * time.Second
)

// fail marks the store failed; s.mu is held.
func (s *Store) fail(err error) {
	if s.failed == nil {
		s.healed = make(chan struct{})
	}
	s.failed = &WriteError{Err: err, Earlier: true}
	s.failedAt = time.Now()
}

// SetWriteFault makes every later write of the file (batches and probes)
// fail with what fn returns, as a full disk does; nil fn or a nil error
// lets them through. For tests of the layers above.
func (s *Store) SetWriteFault(fn func() error) {
	s.writeHook.Store(&fn)
}

// Writable reports nil when state writes work, or the refusal every write
// gets until they do again.
func (s *Store) Writable() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.failed != nil {
		return fmt.Errorf("%w (since %s)", s.failed, s.failedAt.UTC().Format(time.RFC3339))
	}
	if s.closed {
		return ErrClosed
	}
	return nil
}

// WaitWritable blocks until state writes work again or ctx ends.
func (s *Store) WaitWritable(ctx context.Context) error {
	for {
		s.mu.RLock()
		failed, healed := s.failed, s.healed
		s.mu.RUnlock()
		if failed == nil {
			return nil
		}
		select {
		case <-healed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopped:
			return ErrClosed
		}
	}
}

// probeLoop probes a failed store until it takes writes again, so that
// health and waiting operations recover without a client write.
func (s *Store) probeLoop() {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
			s.probeIfDue()
		}
	}
}

// probeIfDue probes a failed store if the last probe is old enough; one
// probe runs at a time.
func (s *Store) probeIfDue() {
	s.mu.RLock()
	due := s.failed != nil && !s.closed
	s.mu.RUnlock()
	if !due || !s.probeMu.TryLock() {
		return
	}
	defer s.probeMu.Unlock()
	if time.Since(s.lastProbe) < probeEvery {
		return
	}
	s.probe()
}

// Probe tries a write of probeSize bytes on a failed store, and clears the
// failed state if the file takes it. It does nothing on a healthy store.
func (s *Store) Probe() error {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	return s.probe()
}

func (s *Store) probe() error {
	s.mu.RLock()
	failed := s.failed != nil && !s.closed
	s.mu.RUnlock()
	if !failed {
		return nil
	}
	// While failed nothing is queued or in flight (apply refuses), so the
	// probe's transactions race with no commit.
	s.lastProbe = time.Now()
	key := []byte("probe")
	err := s.db.Update(func(tx *bolt.Tx) error {
		if hook := s.writeHook.Load(); hook != nil && *hook != nil {
			if err := (*hook)(); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put(key, make([]byte, probeSize))
	})
	if err == nil {
		// The freed pages stay in the file for the next writes.
		err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete(key) })
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.fail(err)
		return s.failed
	}
	s.log.Info("state writes work again", "failed_for", time.Since(s.failedAt).Round(time.Second))
	s.failed = nil
	close(s.healed)
	s.cond.Broadcast()
	return nil
}

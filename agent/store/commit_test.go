package store

import (
	"path/filepath"
	"runtime"
	"testing"
	"weak"
)

// A commit is garbage once its write is answered: nothing in the queue
// keeps its JSON and undo closures (and the old records they hold) alive.
func TestCommittedWritesAreNotRetained(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	s.failWrites(func() error {
		if first { // hold the first batch so the next commits queue behind it
			first = false
			close(entered)
			<-release
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- s.Update(func(tx *Tx) error { newOp(tx); return nil }) }()
	<-entered
	// Five: the queue's array grows to eight, so a queue that only
	// resliced its head off would keep them in the three slots left.
	for range 5 {
		if err := s.UpdateAsync(func(tx *Tx) error { newOp(tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var queued []weak.Pointer[commit]
	s.mu.Lock()
	for _, c := range s.pending {
		queued = append(queued, weak.Make(c))
	}
	s.mu.Unlock()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.sameAsFile(); err != nil { // waits for the queue to drain
		t.Fatal(err)
	}
	runtime.GC()
	for i, w := range queued {
		if w.Value() != nil {
			t.Errorf("commit %d of %d is still reachable after it was written", i+1, len(queued))
		}
	}
	if len(queued) != 5 {
		t.Errorf("%d commits queued behind the held batch, want 5", len(queued))
	}
}

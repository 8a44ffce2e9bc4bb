package ops

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

func TestPruneForgetsOldFinishedOperations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	release := make(chan struct{})
	h := newHarness(t, path, func(e *Engine) {
		e.Register("quick", Workflow{Steps: []Step{{Name: "q", Do: func(context.Context, *Run) error { return nil }}}})
		e.Register("held", Workflow{Steps: []Step{{Name: "h", Do: func(ctx context.Context, r *Run) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}}})
	})
	depended := h.submit("quick", []string{"disk:1"})
	old1 := h.submit("quick", []string{"disk:2"})
	old2 := h.submit("quick", []string{"disk:3"})
	for _, id := range []int64{depended, old1, old2} {
		if o := h.wait(id); o.Step != store.StepDone {
			t.Fatalf("op %d: %s", id, o.Step)
		}
	}
	held := h.submit("held", []string{"vm:1"})
	follower := h.submit("quick", []string{"vm:1"}, depended)
	now := time.Now()
	if err := h.st.Update(func(tx *store.Tx) error {
		tx.PutIdem("all-finished", store.IdemEntry{Method: "m", OpIDs: []int64{old1, old2}, Date: now})
		tx.PutIdem("one-unfinished", store.IdemEntry{Method: "m", OpIDs: []int64{old1, held}, Date: now})
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	if n, err := h.e.Prune(now.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune of an hour ago = %d, %v; want 0 (everything is recent)", n, err)
	}
	n, err := h.e.Prune(now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("pruned %d operations, want 2 (%d and %d)", n, old1, old2)
	}
	check := func(st *store.Store) {
		t.Helper()
		st.View(func(tx *store.Tx) {
			for id, want := range map[int64]bool{depended: true, old1: false, old2: false, held: true, follower: true} {
				if got := tx.HasOperation(id); got != want {
					t.Errorf("operation %d kept = %v, want %v", id, got, want)
				}
			}
			for key, want := range map[string]bool{"all-finished": false, "one-unfinished": true} {
				if _, got := tx.Idem(key); got != want {
					t.Errorf("idempotency key %q kept = %v, want %v", key, got, want)
				}
			}
		})
	}
	check(h.st)

	close(release)
	if o := h.wait(follower); o.Step != store.StepDone {
		t.Fatalf("follower of a kept dependency ended %s, want DONE", o.Step)
	}
	h.close()
	st, err := store.Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check(st) // the deletions reached the file
}

func TestRunPruner(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("quick", Workflow{Steps: []Step{{Name: "q", Do: func(context.Context, *Run) error { return nil }}}})
	})
	id := h.submit("quick", nil)
	h.wait(id)
	kept := func() (ok bool) {
		h.st.View(func(tx *store.Tx) { ok = tx.HasOperation(id) })
		return ok
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.e.RunPruner(ctx, 0)
	if !kept() {
		t.Fatalf("keep = 0 pruned operation %d; it means keep everything", id)
	}
	h.e.RunPruner(ctx, time.Nanosecond) // prunes once, then sees ctx done
	if kept() {
		t.Errorf("operation %d, finished before now - 1ns, survived RunPruner", id)
	}
}

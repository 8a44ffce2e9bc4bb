package ops

import (
	"context"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// pruneBatch bounds one pruning transaction, so that a first prune of a
// long history does not hold the store's write lock for long.
const pruneBatch = 2000

// Prune forgets operations that finished before cutoff, and the
// idempotency keys whose operations are all forgotten. Unfinished
// operations, and those an unfinished one depends on, are never touched,
// whatever their age. Without it the
// journal, and the store's in-memory mirror of it, would grow by every
// operation the host ever ran; the central tier keeps the history.
func (e *Engine) Prune(cutoff time.Time) (int, error) {
	total := 0
	for {
		n, err := e.pruneBatch(cutoff)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

func (e *Engine) pruneBatch(cutoff time.Time) (int, error) {
	n := 0
	err := e.st.Update(func(tx *store.Tx) error {
		// A follower reads how its dependencies ended when it starts.
		needed := map[int64]bool{}
		tx.EachOperation(func(o *store.Operation) bool {
			if !o.Finished() {
				for _, dep := range o.After {
					needed[dep] = true
				}
			}
			return true
		})
		var old []int64
		tx.EachOperation(func(o *store.Operation) bool {
			if o.Finished() && o.DateUpdated.Before(cutoff) && !needed[o.ID] {
				old = append(old, o.ID)
			}
			return len(old) < pruneBatch
		})
		for _, id := range old {
			tx.DeleteOperation(id)
		}
		n = len(old)
		var keys []string
		tx.EachIdem(func(key string, ent store.IdemEntry) bool {
			for _, id := range ent.OpIDs {
				if tx.HasOperation(id) {
					return true
				}
			}
			if ent.Date.Before(cutoff) {
				keys = append(keys, key)
			}
			return true
		})
		for _, k := range keys {
			tx.DeleteIdem(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RunPruner prunes operations finished more than keep ago, at once and
// then every tenth of keep (between a second and an hour), until ctx ends. keep <= 0
// keeps them all.
func (e *Engine) RunPruner(ctx context.Context, keep time.Duration) {
	if keep <= 0 {
		return
	}
	every := max(min(keep/10, time.Hour), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := e.Prune(time.Now().Add(-keep)); err != nil {
			e.log.Error("pruning finished operations", "err", err)
		} else if n > 0 {
			e.log.Info("pruned finished operations", "count", n, "older_than", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// The write queue's bounds.
const (
	maxPending = 4096 // queued commits before writers wait (back pressure)
	maxBatch   = 1024 // commits per bbolt transaction
)

// write is one key put (or deleted, with a nil val) in a bucket.
type write struct {
	bucket string
	key    []byte
	val    []byte // nil deletes
}

// commit is one Update's writes, queued for the committer; err gets the
// file's answer.
type commit struct {
	writes []write
	undo   []func()   // reverses the commit's change to memory, in order
	events []rawEvent // published once the file took the commit (events.go)
	err    chan error
}

// committer writes batches in arrival order; whatever queued while one
// fsync ran goes into the next transaction (group commit).
//
// A batch that fails leaves memory ahead of the file. Memory is brought
// back to the file: every commit queued after the batch fails too (it may
// build on the failed one), and all of their changes are undone, newest
// first. The store is then failed: writes are refused at once until a
// probe succeeds. So an acknowledged write is in the file, and a refused
// one is neither in the file nor in memory.
func (s *Store) committer() {
	defer close(s.done)
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := make([]*commit, 0, maxBatch)
	for {
		for len(s.pending) == 0 {
			s.inflight = false
			if s.closed {
				return
			}
			s.cond.Broadcast() // Check waits for an idle committer
			s.cond.Wait()
		}
		batch = s.takeBatch(batch[:0])
		s.inflight = true
		s.cond.Broadcast() // room for writers
		s.mu.Unlock()
		start := time.Now()
		err := s.write(batch)
		s.stats.batchWritten(time.Since(start), len(batch), err) // metrics.go
		if err == nil {
			s.publishEvents(batch) // durable now: readers may see them
		}
		s.mu.Lock()
		if err == nil {
			for _, c := range batch {
				c.err <- nil
			}
			clear(batch) // answered: their writes and undo closures are garbage now
			continue
		}
		later := s.pending
		s.pending = nil
		s.fail(err)
		for i := len(later) - 1; i >= 0; i-- {
			later[i].rollback()
		}
		for i := len(batch) - 1; i >= 0; i-- {
			batch[i].rollback()
		}
		if len(later)+len(batch) > 0 {
			s.epoch++
		}
		s.log.Error("state write failed; refused it and every write queued after it, and undid them in memory; refusing writes until the disk takes them again",
			"err", err, "refused", len(batch)+len(later))
		for _, c := range batch {
			c.err <- &WriteError{Err: err}
		}
		for _, c := range later {
			c.err <- &WriteError{Err: err, Earlier: true}
		}
		clear(batch)
		s.cond.Broadcast()
	}
}

// takeBatch moves the oldest pending commits, up to maxBatch, to the end
// of batch. pending keeps its array: the rest shift down and the slots
// behind them are cleared. Reslicing the head off instead kept every
// commit the array had held (its JSON, its undo closures over old
// records) reachable until an append outgrew the array: at 10,000 VMs,
// a third of the heap.
func (s *Store) takeBatch(batch []*commit) []*commit {
	n := min(len(s.pending), maxBatch)
	batch = append(batch, s.pending[:n]...)
	rest := copy(s.pending, s.pending[n:])
	clear(s.pending[rest:])
	s.pending = s.pending[:rest]
	return batch
}

func (c *commit) rollback() {
	for i := len(c.undo) - 1; i >= 0; i-- {
		c.undo[i]()
	}
}

// write commits one batch in one bbolt transaction.
func (s *Store) write(batch []*commit) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if hook := s.writeHook.Load(); hook != nil && *hook != nil {
			if err := (*hook)(); err != nil {
				return err
			}
		}
		for _, c := range batch {
			for _, w := range c.writes {
				b := tx.Bucket([]byte(w.bucket))
				var err error
				if w.val == nil {
					err = b.Delete(w.key)
				} else {
					err = b.Put(w.key, w.val)
				}
				if err != nil {
					return err
				}
			}
		}
		return s.pruneEvents(tx, s.batchLastEvent(batch))
	})
}

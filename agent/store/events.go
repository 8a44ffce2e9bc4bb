package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The event journal: every visible change of an operation, a VM, a disk
// or an iface is an Event, written in the same bbolt transaction as the
// change itself (a put or delete of tx.go compares a small summary of the
// record before and after, and records an event only when it differs).
// So a client that follows the feed from a cursor misses nothing, across
// restarts too, and never sees a change the file refused.

// Event classes.
const (
	EventOperation = "operation"
	EventVM        = "vm"
	EventDisk      = "disk"
	EventIface     = "iface"
)

// EventClasses are every class, in the order documentation lists them.
var EventClasses = []string{EventOperation, EventVM, EventDisk, EventIface}

// Event actions.
const (
	ActionAdd = "add"
	ActionMod = "mod"
	ActionDel = "del"
)

// Event is one change. Fields are the record's visible values after the
// change (before it, for a deletion): strings, int64, float64 (only when
// not integral), bools and []int64. Changed names the fields that differ,
// for a modification.
type Event struct {
	Seq     uint64         `json:"seq"`
	Time    time.Time      `json:"time"`
	Class   string         `json:"class"`
	Action  string         `json:"action"`
	ID      int64          `json:"id"`
	Account int64          `json:"account_id"`
	Fields  map[string]any `json:"fields"`
	Changed []string       `json:"changed,omitempty"`
}

// Retention: the file keeps at most EventsKept events and none older than
// EventsMaxAge; each commit prunes at most pruneStep of them, so catching
// up after a long idle never makes one commit slow.
const (
	EventsKept   = 100_000
	EventsMaxAge = 7 * 24 * time.Hour
	pruneStep    = 1024
	// tailSize events are kept in memory, as written, for readers that
	// follow closely (nearly all); older ones are read from the file.
	tailSize = 1024
)

// ErrBadCursor means an event cursor is not one any agent makes.
var ErrBadCursor = errors.New("not an event cursor")

// ErrResync means an event cursor is valid but cannot be followed here:
// older than the retention, from another agent or state file, or ahead of
// what this file holds (a restored copy). The client lists the objects
// again and follows from the current cursor.
var ErrResync = errors.New("cursor too old or from another agent: resync")

// journal is the store's event state.
type journal struct {
	// next is the last sequence number given, under Store.mu. It never
	// goes back, even when the file refuses a write: a number the file
	// never took is skipped, not reused, by this process. A restart
	// resumes from the last durable one, which no reader saw beyond.
	next uint64
	// pruning is what the batch being written prunes to; the committer
	// alone touches it, and oldest.
	pruning uint64
	// oldest is the time of event oldestSeq (an event's time never
	// changes), so that a commit checks the age of the file's oldest
	// event without decoding it each time.
	oldestSeq uint64
	oldest    time.Time

	mu       sync.Mutex
	last     uint64     // every event up to last is durable (or was pruned, or never existed)
	pruned   uint64     // every event up to pruned is gone from the file
	tail     []rawEvent // the newest durable events, by seq
	tailFrom uint64     // tail holds every durable event after tailFrom
	wake     chan struct{}
	// ending is closed by EndEventWaits: the agent is stopping.
	ending  chan struct{}
	endOnce sync.Once

	// keep and maxAge are EventsKept and EventsMaxAge; tests shrink them.
	keep   uint64
	maxAge time.Duration
	now    func() time.Time
}

var (
	metaEventsPruned = []byte("events/pruned")
)

// openEvents loads the journal's state and prunes what aged out while
// the agent was stopped, inside the opening transaction.
func (s *Store) openEvents(tx *bolt.Tx) error {
	j := &s.ev
	j.keep, j.maxAge, j.now = EventsKept, EventsMaxAge, time.Now
	j.wake, j.ending = make(chan struct{}), make(chan struct{})
	meta := tx.Bucket([]byte("meta"))
	if v := meta.Get(metaEventsPruned); len(v) == 8 {
		j.pruned = binary.BigEndian.Uint64(v)
	}
	j.last = j.pruned // when every event was pruned
	b := tx.Bucket([]byte("events"))
	if k, _ := b.Cursor().Last(); k != nil {
		j.last = max(j.last, binary.BigEndian.Uint64(k))
	}
	j.next = j.last
	if err := s.pruneEvents(tx, j.last); err != nil {
		return err
	}
	j.pruned = j.pruning
	// The tail: the newest events, so that a reader close behind reads
	// memory from the start.
	c := b.Cursor()
	var tail []rawEvent
	for k, v := c.Last(); k != nil && len(tail) < tailSize; k, v = c.Prev() {
		tail = append(tail, rawEvent{seq: binary.BigEndian.Uint64(k), raw: slices.Clone(v)})
	}
	slices.Reverse(tail)
	j.tail, j.tailFrom = tail, j.pruned
	if len(tail) == tailSize {
		j.tailFrom = tail[0].seq - 1
	}
	return nil
}

// change is an event on its way to the file: Fields is the record's
// summary (a small struct, its own JSON) until it is read back as an
// Event. Building no map per write keeps a 10,000-record transaction
// from leaving as many maps among the records it keeps.
type change struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Class   string    `json:"class"`
	Action  string    `json:"action"`
	ID      int64     `json:"id"`
	Account int64     `json:"account_id"`
	Fields  any       `json:"fields"`
	Changed []string  `json:"changed,omitempty"`
}

// rawEvent is a numbered event as written, published once committed.
type rawEvent struct {
	seq uint64
	raw []byte
}

// stampEvents numbers the transaction's events and adds their writes
// (under Store.mu, after fn succeeded, in the order commits are queued,
// so the file takes them in sequence).
func (s *Store) stampEvents(tx *Tx) []rawEvent {
	if len(tx.events) == 0 {
		return nil
	}
	now := time.Now().UTC()
	out := make([]rawEvent, len(tx.events))
	for i := range tx.events {
		s.ev.next++
		ev := &tx.events[i]
		ev.Seq, ev.Time = s.ev.next, now
		raw, err := json.Marshal(ev)
		if err != nil {
			panic(fmt.Sprintf("store: encoding event %d: %v", ev.Seq, err))
		}
		out[i] = rawEvent{seq: ev.Seq, raw: raw}
		tx.writes = append(tx.writes, write{bucket: "events", key: u64(int64(ev.Seq)), val: raw})
	}
	return out
}

// pruneEvents deletes, in the committing transaction, the oldest events
// beyond the retention (at most pruneStep of them), given last, the
// newest event the transaction holds. It leaves the new watermark in
// ev.pruning for publishEvents.
func (s *Store) pruneEvents(tx *bolt.Tx, last uint64) error {
	j := &s.ev
	b := tx.Bucket([]byte("events"))
	// Keys only ever grow: full pages, not the half-full ones bbolt
	// leaves for inserts in the middle (the bucket is half the size).
	b.FillPercent = 1.0
	j.mu.Lock()
	pruned, keep, maxAge := j.pruned, j.keep, j.maxAge
	j.mu.Unlock()
	var bySeq uint64
	if last > keep {
		bySeq = last - keep
	}
	byTime := j.now().Add(-maxAge)
	for range pruneStep {
		c := b.Cursor()
		k, v := c.First()
		if k == nil {
			break
		}
		seq := binary.BigEndian.Uint64(k)
		if seq > bySeq {
			if seq != j.oldestSeq {
				var t struct {
					Time time.Time `json:"time"`
				}
				if err := json.Unmarshal(v, &t); err != nil {
					break // not one this agent wrote: a reader will say so
				}
				j.oldestSeq, j.oldest = seq, t.Time
			}
			if !j.oldest.Before(byTime) {
				break
			}
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		pruned = max(pruned, seq)
	}
	j.pruning = pruned
	if pruned != j.pruned {
		return tx.Bucket([]byte("meta")).Put(metaEventsPruned, u64(int64(pruned)))
	}
	return nil
}

// SetEventRetention changes how many events the file keeps and for how
// long (EventsKept and EventsMaxAge by default); the next commits prune
// to it.
func (s *Store) SetEventRetention(keep int, maxAge time.Duration) {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	s.ev.keep, s.ev.maxAge = uint64(max(keep, 1)), maxAge
}

// batchLastEvent is the newest event a batch carries, or the newest
// durable one.
func (s *Store) batchLastEvent(batch []*commit) uint64 {
	last := s.lastDurableEvent()
	for _, c := range batch {
		if n := len(c.events); n > 0 {
			last = max(last, c.events[n-1].seq)
		}
	}
	return last
}

func (s *Store) lastDurableEvent() uint64 {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.ev.last
}

// publishEvents makes a committed batch's events visible and wakes the
// waiters. The committer calls it once the file took the batch, never for
// a refused one: a reader never sees an event the file does not hold.
func (s *Store) publishEvents(batch []*commit) {
	n := 0
	for _, c := range batch {
		n += len(c.events)
	}
	// Only the newest tailSize of a batch go into the tail, which then
	// restarts after the others (they are in the file).
	skip := n - tailSize
	j := &s.ev
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range batch {
		for _, e := range c.events {
			j.last = e.seq
			if skip > 0 {
				skip--
				clear(j.tail)
				j.tail, j.tailFrom = j.tail[:0], e.seq
				continue
			}
			j.tail = append(j.tail, e)
		}
	}
	if j.pruning > j.pruned {
		j.pruned = j.pruning
	}
	// Keep the tail within twice its size, trimming half at a time, and
	// never holding what the file pruned.
	drop := 0
	if len(j.tail) > 2*tailSize {
		drop = len(j.tail) - tailSize
	}
	for drop < len(j.tail) && j.tail[drop].seq <= j.pruned {
		drop++
	}
	if drop > 0 {
		j.tailFrom = j.tail[drop-1].seq
		j.tail = append(make([]rawEvent, 0, 2*tailSize), j.tail[drop:]...)
	}
	j.tailFrom = max(j.tailFrom, j.pruned)
	if n > 0 {
		close(j.wake)
		j.wake = make(chan struct{})
	}
}

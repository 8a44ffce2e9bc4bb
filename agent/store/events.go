package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
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
	// tailSize events are kept in memory for readers that follow closely
	// (nearly all); older ones are read from the file.
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
	// alone touches it.
	pruning uint64

	mu       sync.Mutex
	last     uint64  // every event up to last is durable (or was pruned, or never existed)
	pruned   uint64  // every event up to pruned is gone from the file
	tail     []Event // the newest durable events, by seq
	tailFrom uint64  // tail holds every durable event after tailFrom
	wake     chan struct{}

	// keep and maxAge are EventsKept and EventsMaxAge; tests shrink them.
	keep   uint64
	maxAge time.Duration
	now    func() time.Time
}

var (
	metaEventsLast   = []byte("events/last")
	metaEventsPruned = []byte("events/pruned")
)

// openEvents loads the journal's state and prunes what aged out while
// the agent was stopped, inside the opening transaction.
func (s *Store) openEvents(tx *bolt.Tx) error {
	j := &s.ev
	j.keep, j.maxAge, j.now = EventsKept, EventsMaxAge, time.Now
	j.wake = make(chan struct{})
	meta := tx.Bucket([]byte("meta"))
	if v := meta.Get(metaEventsLast); len(v) == 8 {
		j.last = binary.BigEndian.Uint64(v)
	}
	if v := meta.Get(metaEventsPruned); len(v) == 8 {
		j.pruned = binary.BigEndian.Uint64(v)
	}
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
	var tail []Event
	for k, v := c.Last(); k != nil && len(tail) < tailSize; k, v = c.Prev() {
		ev, err := decodeEvent(v)
		if err != nil {
			return fmt.Errorf("decoding events/%d: %w", binary.BigEndian.Uint64(k), err)
		}
		tail = append(tail, ev)
	}
	slices.Reverse(tail)
	j.tail, j.tailFrom = tail, j.pruned
	if len(tail) == tailSize {
		j.tailFrom = tail[0].Seq - 1
	}
	return nil
}

// stampEvents numbers the transaction's events and adds their writes
// (under Store.mu, after fn succeeded, in the order commits are queued,
// so the file takes them in sequence).
func (s *Store) stampEvents(tx *Tx) {
	if len(tx.events) == 0 {
		return
	}
	now := time.Now().UTC()
	for i := range tx.events {
		s.ev.next++
		ev := &tx.events[i]
		ev.Seq, ev.Time = s.ev.next, now
		raw, err := json.Marshal(ev)
		if err != nil {
			panic(fmt.Sprintf("store: encoding event %d: %v", ev.Seq, err))
		}
		tx.writes = append(tx.writes, write{bucket: "events", key: u64(int64(ev.Seq)), val: raw})
	}
	tx.writes = append(tx.writes, write{bucket: "meta", key: metaEventsLast, val: u64(int64(s.ev.next))})
}

// pruneEvents deletes, in the committing transaction, the oldest events
// beyond the retention (at most pruneStep of them), given last, the
// newest event the transaction holds. It leaves the new watermark in
// ev.pruning for publishEvents.
func (s *Store) pruneEvents(tx *bolt.Tx, last uint64) error {
	j := &s.ev
	b := tx.Bucket([]byte("events"))
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
			var t struct {
				Time time.Time `json:"time"`
			}
			if err := json.Unmarshal(v, &t); err == nil && !t.Time.Before(byTime) {
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
			last = max(last, c.events[n-1].Seq)
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
	j := &s.ev
	j.mu.Lock()
	defer j.mu.Unlock()
	grew := false
	for _, c := range batch {
		for _, ev := range c.events {
			j.tail = append(j.tail, ev)
			j.last = ev.Seq
			grew = true
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
	for drop < len(j.tail) && j.tail[drop].Seq <= j.pruned {
		drop++
	}
	if drop > 0 {
		j.tailFrom = j.tail[drop-1].Seq
		j.tail = slices.Delete(j.tail, 0, drop)
	}
	j.tailFrom = max(j.tailFrom, j.pruned)
	if grew {
		close(j.wake)
		j.wake = make(chan struct{})
	}
}

// EventCursor is the cursor after every durable event: a client that
// lists the objects now and follows from it misses nothing.
func (s *Store) EventCursor() string {
	return s.cursor(s.lastDurableEvent())
}

func (s *Store) cursor(seq uint64) string {
	s.mu.RLock()
	inst := s.instance
	s.mu.RUnlock()
	return inst + "-" + strconv.FormatUint(seq, 10)
}

// parseCursor returns the sequence number a cursor of this store carries.
func (s *Store) parseCursor(cursor string) (uint64, error) {
	i := strings.LastIndexByte(cursor, '-')
	if i <= 0 {
		return 0, fmt.Errorf("%w: %q is not <instance>-<number>", ErrBadCursor, cursor)
	}
	seq, err := strconv.ParseUint(cursor[i+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not <instance>-<number>", ErrBadCursor, cursor)
	}
	s.mu.RLock()
	inst := s.instance
	s.mu.RUnlock()
	if cursor[:i] != inst {
		return 0, fmt.Errorf("%w: cursor %q is from another agent or state file (this one is %s)", ErrResync, cursor, inst)
	}
	return seq, nil
}

// checkCursor refuses a cursor this journal cannot follow. Under j.mu.
func (j *journal) checkCursor(cursor string, seq uint64) error {
	if seq < j.pruned {
		return fmt.Errorf("%w: cursor %q is older than the events kept (they start after %d)", ErrResync, cursor, j.pruned)
	}
	if seq > j.last {
		return fmt.Errorf("%w: cursor %q is ahead of this state file (last event %d): a restored copy?", ErrResync, cursor, j.last)
	}
	return nil
}

// maxScan bounds the events one read looks at, matching or not, so a
// filter that keeps few of them does not make one call read the whole
// file; the cursor returned then points after the last one looked at.
const maxScan = 20_000

// Events returns up to limit events after cursor that keep accepts (nil
// keeps all), oldest first, and the cursor to follow from: after the last
// event returned, or after every event looked at when fewer matched.
// A cursor this store cannot follow is refused with ErrBadCursor or
// ErrResync.
func (s *Store) Events(cursor string, limit int, keep func(*Event) bool) ([]Event, string, error) {
	after, err := s.parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = 1
	}
	j := &s.ev
	j.mu.Lock()
	if err := j.checkCursor(cursor, after); err != nil {
		j.mu.Unlock()
		return nil, "", err
	}
	if after >= j.tailFrom {
		out, next := scan(j.tail, after, j.last, limit, keep)
		j.mu.Unlock()
		return out, s.cursor(next), nil
	}
	last := j.last
	j.mu.Unlock()
	out, next, err := s.readEvents(cursor, after, last, limit, keep)
	if err != nil {
		return nil, "", err
	}
	return out, s.cursor(next), nil
}

// scan picks events after after from the in-memory tail.
func scan(tail []Event, after, last uint64, limit int, keep func(*Event) bool) ([]Event, uint64) {
	i := sort.Search(len(tail), func(i int) bool { return tail[i].Seq > after })
	var out []Event
	next := after
	for n := 0; i < len(tail) && n < maxScan; i, n = i+1, n+1 {
		ev := &tail[i]
		next = ev.Seq
		if keep == nil || keep(ev) {
			out = append(out, cloneEvent(*ev))
			if len(out) == limit {
				return out, next
			}
		}
	}
	if i == len(tail) {
		next = last
	}
	return out, next
}

// readEvents reads events after after, up to last, from the file.
func (s *Store) readEvents(cursor string, after, last uint64, limit int, keep func(*Event) bool) ([]Event, uint64, error) {
	var out []Event
	next := after
	err := s.db.View(func(tx *bolt.Tx) error {
		// The watermark of this snapshot: a prune committed since the
		// check above took what the cursor needs.
		if v := tx.Bucket([]byte("meta")).Get(metaEventsPruned); len(v) == 8 && after < binary.BigEndian.Uint64(v) {
			return fmt.Errorf("%w: cursor %q is older than the events kept (they start after %d)", ErrResync, cursor, binary.BigEndian.Uint64(v))
		}
		c := tx.Bucket([]byte("events")).Cursor()
		n := 0
		k, v := c.Seek(u64(int64(after + 1)))
		for ; k != nil && n < maxScan; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if seq > last {
				break
			}
			n++
			next = seq
			ev, err := decodeEvent(v)
			if err != nil {
				return fmt.Errorf("decoding events/%d: %w", seq, err)
			}
			if keep == nil || keep(&ev) {
				out = append(out, ev)
				if len(out) == limit {
					return nil
				}
			}
		}
		if k == nil || binary.BigEndian.Uint64(k) > last {
			next = last
		}
		return nil
	})
	return out, next, err
}

// WaitEvents returns nil once an event after cursor is durable (at once
// if one is), ctx.Err() when ctx ends first, ErrClosed when the store
// closes. The committer wakes it: nothing polls.
func (s *Store) WaitEvents(ctx context.Context, cursor string) error {
	after, err := s.parseCursor(cursor)
	if err != nil {
		return err
	}
	j := &s.ev
	for {
		j.mu.Lock()
		if err := j.checkCursor(cursor, after); err != nil {
			j.mu.Unlock()
			return err
		}
		if j.last > after {
			j.mu.Unlock()
			return nil
		}
		wake := j.wake
		j.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopped:
			return ErrClosed
		}
	}
}

func cloneEvent(ev Event) Event {
	f := make(map[string]any, len(ev.Fields))
	for k, v := range ev.Fields {
		if l, ok := v.([]int64); ok {
			v = slices.Clone(l)
		}
		f[k] = v
	}
	ev.Fields = f
	ev.Changed = slices.Clone(ev.Changed)
	return ev
}

// decodeEvent reads an event from the file, its fields in the shapes
// normal gives them, the same as the in-memory tail's.
func decodeEvent(raw []byte) (Event, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var ev Event
	if err := d.Decode(&ev); err != nil {
		return Event{}, err
	}
	for k, v := range ev.Fields {
		ev.Fields[k] = normal(v)
	}
	return ev, nil
}

// normal gives a field value one shape whether it was made here or read
// back from JSON: integral numbers int64, others float64, number lists
// []int64.
func normal(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return normal(f)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case int:
		return int64(x)
	case []any:
		l := make([]int64, 0, len(x))
		for _, e := range x {
			n, ok := normal(e).(int64)
			if !ok {
				return x
			}
			l = append(l, n)
		}
		return l
	}
	return v
}

// A summary is the part of a record that events report; two equal
// summaries mean no event.
type summary interface {
	comparable
	fields() map[string]any
	owner() int64
}

// watcher makes a table's event hook: it compares the summaries of the
// record before and after a write (nil: absent) and returns the event,
// if any.
func watcher[T any, S summary](class string, key func(*T) (int64, S)) func(old, nw *T) (Event, bool) {
	return func(old, nw *T) (Event, bool) {
		switch {
		case old == nil && nw == nil:
			return Event{}, false
		case old == nil:
			id, s := key(nw)
			return Event{Class: class, Action: ActionAdd, ID: id, Account: s.owner(), Fields: normalAll(s.fields())}, true
		case nw == nil:
			id, s := key(old)
			return Event{Class: class, Action: ActionDel, ID: id, Account: s.owner(), Fields: normalAll(s.fields())}, true
		}
		id, a := key(old)
		_, b := key(nw)
		if a == b {
			return Event{}, false
		}
		fa, fb := normalAll(a.fields()), normalAll(b.fields())
		var changed []string
		for k, v := range fb {
			if !sameValue(fa[k], v) {
				changed = append(changed, k)
			}
		}
		for k := range fa {
			if _, ok := fb[k]; !ok {
				changed = append(changed, k)
			}
		}
		sort.Strings(changed)
		return Event{Class: class, Action: ActionMod, ID: id, Account: b.owner(), Fields: fb, Changed: changed}, true
	}
}

func normalAll(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = normal(v)
	}
	return m
}

func sameValue(a, b any) bool {
	la, ok1 := a.([]int64)
	lb, ok2 := b.([]int64)
	if ok1 || ok2 {
		return ok1 && ok2 && slices.Equal(la, lb)
	}
	return a == b
}

// The summaries: what a central tier places and bills by. Traffic
// counters are left out on purpose: they change at every tick.

type vmSummary struct {
	account                int64
	state, hostname        string
	memory, cores, console int64
}

func (s vmSummary) owner() int64 { return s.account }
func (s vmSummary) fields() map[string]any {
	return map[string]any{"state": s.state, "hostname": s.hostname, "memory": s.memory, "cores": s.cores, "console": s.console}
}

func summarizeVM(v *VM) (int64, vmSummary) {
	return v.ID, vmSummary{v.AccountID, v.State, v.Hostname, v.Memory, v.Cores, v.Console}
}

type diskSummary struct {
	account          int64
	state, typ, name string
	size, vm         int64
}

func (s diskSummary) owner() int64 { return s.account }
func (s diskSummary) fields() map[string]any {
	return map[string]any{"state": s.state, "type": s.typ, "name": s.name, "size": s.size, "vm_id": s.vm}
}

func summarizeDisk(d *Disk) (int64, diskSummary) {
	return d.ID, diskSummary{d.AccountID, d.State, d.Type, d.Name, d.SizeMB, d.VMID}
}

type ifaceSummary struct {
	account   int64
	state     string
	vm        int64
	bandwidth float64
	ips       string // the ids, comma separated: a summary must compare with ==
}

func (s ifaceSummary) owner() int64 { return s.account }
func (s ifaceSummary) fields() map[string]any {
	ids := []int64{}
	for p := range strings.SplitSeq(s.ips, ",") {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	return map[string]any{"state": s.state, "vm_id": s.vm, "bandwidth": s.bandwidth, "ip_ids": ids}
}

func summarizeIface(i *Iface) (int64, ifaceSummary) {
	var b strings.Builder
	for n, id := range i.IPIDs {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return i.ID, ifaceSummary{i.AccountID, i.State, i.VMID, i.Bandwidth, b.String()}
}

type opSummary struct {
	account              int64
	typ, step, lastError string
	vm, disk, iface      int64
	rollingBack, cancel  bool
}

func (s opSummary) owner() int64 { return s.account }
func (s opSummary) fields() map[string]any {
	f := map[string]any{"type": s.typ, "step": s.step, "vm_id": s.vm, "disk_id": s.disk, "iface_id": s.iface}
	if s.lastError != "" {
		f["last_error"] = s.lastError
	}
	if s.rollingBack {
		f["rolling_back"] = true
	}
	if s.cancel {
		f["cancel_requested"] = true
	}
	return f
}

func summarizeOperation(o *Operation) (int64, opSummary) {
	return o.ID, opSummary{o.AccountID, o.Type, o.Step, o.LastError, o.VMID, o.DiskID, o.IfaceID, o.RollingBack, o.Cancel}
}

// CursorAt is the cursor right after event seq of this store: an event's
// own cursor, to resume after it.
func (s *Store) CursorAt(seq uint64) string { return s.cursor(seq) }

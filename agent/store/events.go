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
	tailSize = 256
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
	tx.writes = append(tx.writes, write{bucket: "meta", key: metaEventsLast, val: u64(int64(s.ev.next))})
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
	// Read back outside the lock, readers go on meanwhile. Only the
	// newest tailSize of a batch go into the tail, which then restarts
	// after the others (they are in the file).
	skip := n - tailSize
	fresh := make([]Event, 0, min(n, tailSize))
	var last, restart uint64 // restart: the tail holds only what follows it
	for _, c := range batch {
		for _, e := range c.events {
			last = e.seq
			if skip > 0 {
				skip--
				restart = e.seq
				continue
			}
			ev, err := decodeEvent(e.raw)
			if err != nil { // cannot be (it was just written): readers read the file, which says what is wrong
				fresh, restart = fresh[:0], e.seq
				continue
			}
			fresh = append(fresh, ev)
		}
	}
	j := &s.ev
	j.mu.Lock()
	defer j.mu.Unlock()
	if restart != 0 {
		clear(j.tail)
		j.tail, j.tailFrom = j.tail[:0], restart
	}
	j.tail = append(j.tail, fresh...)
	if n > 0 {
		j.last = last
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
		// A new array: one commit of 10,000 events grew the old one, and
		// keeping its capacity would keep that memory for good.
		j.tail = append(make([]Event, 0, 2*tailSize), j.tail[drop:]...)
	}
	j.tailFrom = max(j.tailFrom, j.pruned)
	if n > 0 {
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
// summaries mean no event. Its JSON is the event's fields; fields() gives
// the same as a map, to name what a modification changed.
type summary interface {
	comparable
	fields() map[string]any
	owner() int64
}

// watcher makes a table's event hook: it compares the summaries of the
// record before and after a write (nil: absent) and returns the event,
// if any.
func watcher[T any, S summary](class string, key func(*T) (int64, S)) func(old, nw *T) (change, bool) {
	return func(old, nw *T) (change, bool) {
		switch {
		case old == nil && nw == nil:
			return change{}, false
		case old == nil:
			id, s := key(nw)
			return change{Class: class, Action: ActionAdd, ID: id, Account: s.owner(), Fields: s}, true
		case nw == nil:
			id, s := key(old)
			return change{Class: class, Action: ActionDel, ID: id, Account: s.owner(), Fields: s}, true
		}
		id, a := key(old)
		_, b := key(nw)
		if a == b {
			return change{}, false
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
		return change{Class: class, Action: ActionMod, ID: id, Account: b.owner(), Fields: b, Changed: changed}, true
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
	Account  int64  `json:"-"`
	State    string `json:"state"`
	Hostname string `json:"hostname"`
	Memory   int64  `json:"memory"`
	Cores    int64  `json:"cores"`
	Console  int64  `json:"console"`
}

func (s vmSummary) owner() int64 { return s.Account }
func (s vmSummary) fields() map[string]any {
	return map[string]any{"state": s.State, "hostname": s.Hostname, "memory": s.Memory, "cores": s.Cores, "console": s.Console}
}

func summarizeVM(v *VM) (int64, vmSummary) {
	return v.ID, vmSummary{v.AccountID, v.State, v.Hostname, v.Memory, v.Cores, v.Console}
}

type diskSummary struct {
	Account int64  `json:"-"`
	State   string `json:"state"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	VM      int64  `json:"vm_id"`
}

func (s diskSummary) owner() int64 { return s.Account }
func (s diskSummary) fields() map[string]any {
	return map[string]any{"state": s.State, "type": s.Type, "name": s.Name, "size": s.Size, "vm_id": s.VM}
}

func summarizeDisk(d *Disk) (int64, diskSummary) {
	return d.ID, diskSummary{d.AccountID, d.State, d.Type, d.Name, d.SizeMB, d.VMID}
}

type ifaceSummary struct {
	Account   int64
	State     string
	VM        int64
	Bandwidth float64
	IPs       string // the ids, comma separated: a summary must compare with ==
}

func (s ifaceSummary) owner() int64 { return s.Account }
func (s ifaceSummary) fields() map[string]any {
	ids := []int64{}
	for p := range strings.SplitSeq(s.IPs, ",") {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	return map[string]any{"state": s.State, "vm_id": s.VM, "bandwidth": s.Bandwidth, "ip_ids": ids}
}

// MarshalJSON writes the ids as a list. Iface events are few (the
// traffic counters make none), so the map costs nothing much.
func (s ifaceSummary) MarshalJSON() ([]byte, error) { return json.Marshal(s.fields()) }

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
	Account     int64  `json:"-"`
	Type        string `json:"type"`
	Step        string `json:"step"`
	VM          int64  `json:"vm_id,omitempty"` // the objects it is about: most have one or two
	Disk        int64  `json:"disk_id,omitempty"`
	Iface       int64  `json:"iface_id,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	RollingBack bool   `json:"rolling_back,omitempty"`
	Cancel      bool   `json:"cancel_requested,omitempty"`
}

func (s opSummary) owner() int64 { return s.Account }
func (s opSummary) fields() map[string]any {
	f := map[string]any{"type": s.Type, "step": s.Step}
	if s.VM != 0 {
		f["vm_id"] = s.VM
	}
	if s.Disk != 0 {
		f["disk_id"] = s.Disk
	}
	if s.Iface != 0 {
		f["iface_id"] = s.Iface
	}
	if s.LastError != "" {
		f["last_error"] = s.LastError
	}
	if s.RollingBack {
		f["rolling_back"] = true
	}
	if s.Cancel {
		f["cancel_requested"] = true
	}
	return f
}

func summarizeOperation(o *Operation) (int64, opSummary) {
	return o.ID, opSummary{o.AccountID, o.Type, o.Step, o.VMID, o.DiskID, o.IfaceID, o.LastError, o.RollingBack, o.Cancel}
}

// CursorAt is the cursor right after event seq of this store: an event's
// own cursor, to resume after it.
func (s *Store) CursorAt(seq uint64) string { return s.cursor(seq) }

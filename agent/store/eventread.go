package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Reading the event journal: cursors, the reads from the in-memory tail
// or the file, and the waits.

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
		// Only a cursor some agent could have made is worth a resync:
		// "junk-5" is a client's mistake, not a reason to relist.
		if _, err := hex.DecodeString(cursor[:i]); err != nil || len(cursor[:i]) != len(inst) {
			return 0, fmt.Errorf("%w: %q is not <instance>-<number>", ErrBadCursor, cursor)
		}
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
		// What follows the cursor, read (decoded) outside the lock: the
		// committer publishes meanwhile.
		i := sort.Search(len(j.tail), func(i int) bool { return j.tail[i].seq > after })
		tail := slices.Clone(j.tail[i:])
		last := j.last
		j.mu.Unlock()
		out, next, err := scan(tail, after, last, limit, keep)
		if err != nil {
			return nil, "", err
		}
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

// scan picks events from tail, the ones after the cursor in memory.
func scan(tail []rawEvent, after, last uint64, limit int, keep func(*Event) bool) ([]Event, uint64, error) {
	var out []Event
	next := after
	i := 0
	for ; i < len(tail) && i < maxScan; i++ {
		ev, err := decodeEvent(tail[i].raw)
		if err != nil {
			return nil, 0, fmt.Errorf("decoding event %d: %w", tail[i].seq, err)
		}
		next = ev.Seq
		if keep == nil || keep(&ev) {
			out = append(out, ev)
			if len(out) == limit {
				return out, next, nil
			}
		}
	}
	if i == len(tail) {
		next = last
	}
	return out, next, nil
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
// closes or EndEventWaits was called. The committer wakes it: nothing polls.
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
		case <-j.ending:
			return ErrClosed
		}
	}
}

// EndEventWaits ends every wait for events, now and after, with
// ErrClosed: the agent is stopping, and a long poll or a stream must not
// hold its shutdown until the poll's timeout (the HTTP server's Shutdown
// waits for them). The store itself goes on.
func (s *Store) EndEventWaits() {
	s.ev.endOnce.Do(func() { close(s.ev.ending) })
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

// CursorAt is the cursor right after event seq of this store: an event's
// own cursor, to resume after it.
func (s *Store) CursorAt(seq uint64) string { return s.cursor(seq) }

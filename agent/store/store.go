package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Store is the agent's state. Create it with Open; it is safe for
// concurrent use.
type Store struct {
	db  *bolt.DB
	log *slog.Logger

	mu         sync.RWMutex
	accounts   table[Account]
	vms        table[VM]
	disks      table[Disk]
	ifaces     table[Iface]
	ips        table[IP]
	images     table[Image]
	operations table[Operation]
	sshKeys    table[SSHKey]
	locks      table[Lock] // keyed by VM id (locks.go)
	isos       table[ISO]
	tickets    table[Ticket] // incoming migrations (tickets.go)
	idem       map[string]IdemEntry
	released   map[string][]string
	seq        map[string]int64
	instance   string
	ev         journal // the event feed (events.go)

	// Commits queue in pending in the order apply made them; the
	// committer takes them in batches. cond (on mu) wakes the committer,
	// writers waiting for room, and Check waiting for the queue to drain.
	cond     *sync.Cond
	pending  []*commit
	inflight bool
	closed   bool
	done     chan struct{}
	closeMu  sync.Once
	stopped  chan struct{} // closed by Close: stops the probe loop

	// failed is set when a write failed and cleared by a successful probe;
	// while set, writes are refused at once. healed is closed then.
	failed    *WriteError
	failedAt  time.Time
	healed    chan struct{}
	epoch     uint64
	probeMu   sync.Mutex
	lastProbe time.Time
	// writeHook, set by tests, runs inside every batch's transaction; an
	// error it returns fails the batch as the disk would.
	writeHook atomic.Pointer[func() error]
	stats     writeStats // metrics.go
}

// Open opens or creates the state file at path, upgrading an older
// file's layout in place first (schema.go), in one transaction.
func Open(path string, log *slog.Logger, opts ...Option) (st *Store, err error) {
	// bbolt panics on some damaged files (a truncated one: "invalid
	// freelist page"): the agent then stops with a message, not a trace.
	defer func() {
		if v := recover(); v != nil {
			st, err = nil, fmt.Errorf("opening %s: the file is damaged (%v); restore a copy or start a new instance (xenagent new-instance)", path, v)
		}
	}()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s := &Store{
		db:         db,
		log:        log,
		accounts:   newTable[Account]("accounts", nil),
		vms:        newTable("vms", VM.clone).watched(watcher(EventVM, summarizeVM)),
		disks:      newTable[Disk]("disks", nil).watched(watcher(EventDisk, summarizeDisk)),
		ifaces:     newTable("ifaces", Iface.clone).watched(watcher(EventIface, summarizeIface)),
		ips:        newTable[IP]("ips", nil),
		images:     newTable[Image]("images", nil),
		operations: newTable("operations", Operation.clone).watched(watcher(EventOperation, summarizeOperation)),
		sshKeys:    newTable[SSHKey]("sshkeys", nil),
		locks:      newTable[Lock]("locks", nil),
		isos:       newTable[ISO]("isos", nil),
		tickets:    newTable("tickets", Ticket.clone),
		idem:       map[string]IdemEntry{},
		released:   map[string][]string{},
		seq:        map[string]int64{},
		done:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	s.cond = sync.NewCond(&s.mu)
	var upgraded []migration
	// Loading in the upgrade's transaction: a record that does not load
	// refuses the open with the file as it was, not upgraded.
	if err := db.Update(func(tx *bolt.Tx) (err error) {
		if upgraded, err = s.migrate(tx, o); err != nil {
			return fmt.Errorf("preparing: %w", err)
		}
		if err := s.load(tx); err != nil {
			return fmt.Errorf("loading: %w", err)
		}
		if err := s.openEvents(tx); err != nil {
			return fmt.Errorf("loading the events: %w", err)
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, m := range upgraded { // committed, all of them
		log.Info("state upgraded", "path", path, "from_schema", m.to-1, "to_schema", m.to, "what", m.what)
	}
	go s.committer()
	go s.probeLoop()
	return s, nil
}

// Instance is a random id made when the state file was created; the agent
// marks what it creates outside the file (domains) with it.
func (s *Store) Instance() string { return s.instance }

// NewInstance gives the state a fresh random instance id, written to the
// file at once (xenagent new-instance, for a copied state.db), and
// returns it. Nothing else in the state changes.
func (s *Store) NewInstance() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("instance"), []byte(id)) }); err != nil {
		return "", fmt.Errorf("writing the new instance id: %w", err)
	}
	s.mu.Lock()
	s.instance = id
	s.mu.Unlock()
	return id, nil
}

// Close flushes pending writes and closes the file.
func (s *Store) Close() error {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.stopped)
		s.cond.Broadcast()
		s.mu.Unlock()
		<-s.done
		s.probeMu.Lock() // a probe in progress ends before the file closes
		s.probeMu.Unlock()
	})
	return s.db.Close()
}

// Check verifies the file's internal consistency (for tests). bbolt's
// check reads the live freelist, so it runs with writers held off and
// every queued write committed.
func (s *Store) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) > 0 || s.inflight {
		s.cond.Wait()
	}
	if s.failed != nil {
		return s.failed
	}
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}

// Update runs fn with exclusive write access. If fn returns an error,
// every change it made is undone and nothing is written. Otherwise the
// changes are visible to readers at once and durable when Update returns.
// If the file refuses the write, Update returns a *WriteError (ErrUnwritable)
// and the change is undone, as is every change queued after it.
func (s *Store) Update(fn func(tx *Tx) error) error {
	c, err := s.apply(fn)
	if err != nil || c == nil {
		return err
	}
	return <-c.err
}

// UpdateAsync is Update without waiting for the write to reach the disk:
// the change is visible at once and is written in order with every other
// change. Use it only for hints whose loss a crash recovery tolerates
// (a step about to begin; steps are idempotent). If the write then fails,
// the change is undone and Epoch changes: a caller that acts on its own
// copy of what it wrote checks Epoch before building on it.
func (s *Store) UpdateAsync(fn func(tx *Tx) error) error {
	_, err := s.apply(fn)
	return err
}

// apply runs fn under the write lock and queues its writes, in order.
func (s *Store) apply(fn func(tx *Tx) error) (*commit, error) {
	s.probeIfDue() // the next write after a backoff tries the disk again
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) >= maxPending && s.failed == nil && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return nil, ErrClosed
	}
	if s.failed != nil {
		return nil, s.failed
	}
	tx := &Tx{s: s}
	if err := fn(tx); err != nil {
		for i := len(tx.undo) - 1; i >= 0; i-- {
			tx.undo[i]()
		}
		return nil, err
	}
	if len(tx.writes) == 0 {
		return nil, nil
	}
	events := s.stampEvents(tx)
	c := &commit{writes: tx.writes, undo: tx.undo, events: events, err: make(chan error, 1)}
	s.pending = append(s.pending, c)
	s.cond.Broadcast()
	return c, nil
}

// View runs fn with shared read access.
func (s *Store) View(fn func(tx *Tx)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&Tx{s: s, readOnly: true})
}

package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 1

// ErrLocked means another process holds the state file.
var ErrLocked = errors.New("state file is locked by another process")

// ErrUnwritable is the class of every write the state file refused, or
// that was refused because an earlier one was: nothing of it was recorded
// and memory holds what the file holds. Retrying later is safe.
var ErrUnwritable = errors.New("the state disk refused the write")

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("state store is closed")

// WriteError is a refused write. Err is what the file said (ENOSPC...).
type WriteError struct {
	Err error
	// Earlier is set when this write itself never reached the file: an
	// earlier one failed, or the store was failed when it was asked.
	Earlier bool
}

func (e *WriteError) Error() string {
	what := "the state disk refused the write"
	if e.Earlier {
		what = "the state disk refused an earlier write"
	}
	return fmt.Sprintf("%s (%s); nothing was recorded, retry later", what, describe(e.Err))
}

// Unwrap lets errors.Is see both ErrUnwritable and the file's error.
func (e *WriteError) Unwrap() []error { return []error{ErrUnwritable, e.Err} }

// describe names the common causes the way an operator searches for them.
func describe(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "no space left on device"
	case errors.Is(err, syscall.EDQUOT):
		return "disk quota exceeded"
	case errors.Is(err, syscall.EROFS):
		return "read-only file system"
	case errors.Is(err, syscall.EIO):
		return "input/output error"
	}
	return err.Error()
}

// Failing writes: the probe that clears the failed state writes this many
// bytes, then deletes them, so that success means some room, not the last
// free page; and it runs at most this often.
const (
	probeSize  = 256 << 10
	probeEvery = 2 * time.Second
	maxPending = 4096 // queued commits before writers wait (back pressure)
	maxBatch   = 1024 // commits per bbolt transaction
)

var buckets = []string{"meta", "accounts", "vms", "disks", "ifaces", "ips", "images", "operations", "idempotency", "released", "sshkeys"}

// migrations[i] upgrades a file from schema i+1 to i+2. Each runs inside
// the opening transaction, so a failed migration leaves the file as it was.
var migrations = []func(tx *bolt.Tx) error{}

type table[T any] struct {
	bucket string
	rows   map[int64]*T
	clone  func(T) T
}

func newTable[T any](bucket string, clone func(T) T) table[T] {
	if clone == nil {
		clone = func(v T) T { return v }
	}
	return table[T]{bucket: bucket, rows: map[int64]*T{}, clone: clone}
}

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
	idem       map[string]IdemEntry
	released   map[string][]string
	seq        map[string]int64
	instance   string

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
}

type write struct {
	bucket string
	key    []byte
	val    []byte // nil deletes
}

type commit struct {
	writes []write
	undo   []func() // reverses the commit's change to memory, in order
	err    chan error
}

// Open opens or creates the state file at path.
func Open(path string, log *slog.Logger) (*Store, error) {
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
		vms:        newTable("vms", VM.clone),
		disks:      newTable[Disk]("disks", nil),
		ifaces:     newTable("ifaces", Iface.clone),
		ips:        newTable[IP]("ips", nil),
		images:     newTable[Image]("images", nil),
		operations: newTable("operations", Operation.clone),
		sshKeys:    newTable[SSHKey]("sshkeys", nil),
		idem:       map[string]IdemEntry{},
		released:   map[string][]string{},
		seq:        map[string]int64{},
		done:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	s.cond = sync.NewCond(&s.mu)
	if err := db.Update(s.migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing %s: %w", path, err)
	}
	if err := db.View(s.load); err != nil {
		db.Close()
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	go s.committer()
	go s.probeLoop()
	return s, nil
}

func (s *Store) migrate(tx *bolt.Tx) error {
	for _, b := range buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return err
		}
	}
	meta := tx.Bucket([]byte("meta"))
	version := SchemaVersion
	if raw := meta.Get([]byte("schema")); raw != nil {
		version = int(binary.BigEndian.Uint64(raw))
	}
	if version > SchemaVersion {
		return fmt.Errorf("state schema %d is newer than this agent's %d", version, SchemaVersion)
	}
	for ; version < SchemaVersion; version++ {
		if err := migrations[version-1](tx); err != nil {
			return fmt.Errorf("migrating schema %d: %w", version, err)
		}
	}
	if meta.Get([]byte("instance")) == nil {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		if err := meta.Put([]byte("instance"), []byte(hex.EncodeToString(b[:]))); err != nil {
			return err
		}
	}
	return meta.Put([]byte("schema"), u64(SchemaVersion))
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

func loadTable[T any](tx *bolt.Tx, t *table[T]) error {
	return tx.Bucket([]byte(t.bucket)).ForEach(func(k, v []byte) error {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decoding %s/%d: %w", t.bucket, binary.BigEndian.Uint64(k), err)
		}
		t.rows[int64(binary.BigEndian.Uint64(k))] = &rec
		return nil
	})
}

func (s *Store) load(tx *bolt.Tx) error {
	for _, err := range []error{
		loadTable(tx, &s.accounts), loadTable(tx, &s.vms), loadTable(tx, &s.disks),
		loadTable(tx, &s.ifaces), loadTable(tx, &s.ips), loadTable(tx, &s.images),
		loadTable(tx, &s.operations), loadTable(tx, &s.sshKeys),
	} {
		if err != nil {
			return err
		}
	}
	if err := tx.Bucket([]byte("idempotency")).ForEach(func(k, v []byte) error {
		var e IdemEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		s.idem[string(k)] = e
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket([]byte("released")).ForEach(func(k, v []byte) error {
		var l []string
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		s.released[string(k)] = l
		return nil
	}); err != nil {
		return err
	}
	s.instance = string(tx.Bucket([]byte("meta")).Get([]byte("instance")))
	return tx.Bucket([]byte("meta")).ForEach(func(k, v []byte) error {
		if len(k) > 4 && string(k[:4]) == "seq/" {
			s.seq[string(k[4:])] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
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
	for {
		for len(s.pending) == 0 {
			s.inflight = false
			if s.closed {
				return
			}
			s.cond.Broadcast() // Check waits for an idle committer
			s.cond.Wait()
		}
		n := min(len(s.pending), maxBatch)
		batch := s.pending[:n:n]
		s.pending = s.pending[n:]
		s.inflight = true
		s.cond.Broadcast() // room for writers
		s.mu.Unlock()
		err := s.write(batch)
		s.mu.Lock()
		if err == nil {
			for _, c := range batch {
				c.err <- nil
			}
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
		s.cond.Broadcast()
	}
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
		return nil
	})
}

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
	c := &commit{writes: tx.writes, undo: tx.undo, err: make(chan error, 1)}
	s.pending = append(s.pending, c)
	s.cond.Broadcast()
	return c, nil
}

// Epoch changes each time failed writes were undone in memory. Read it in
// the transaction that reads what it guards.
func (tx *Tx) Epoch() uint64 { return tx.s.epoch }

// View runs fn with shared read access.
func (s *Store) View(fn func(tx *Tx)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&Tx{s: s, readOnly: true})
}

// Tx is a view of the state inside Update or View.
type Tx struct {
	s        *Store
	readOnly bool
	writes   []write
	undo     []func()
}

func u64(n int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

func get[T any](t *table[T], id int64) (T, bool) {
	p, ok := t.rows[id]
	if !ok {
		var zero T
		return zero, false
	}
	return t.clone(*p), true
}

func put[T any](tx *Tx, t *table[T], id int64, v T) {
	if tx.readOnly {
		panic("store: write in a read-only transaction")
	}
	// Marshalling the stored copy through its pointer: boxing v itself
	// would copy the record to the heap once more per write, and those
	// short-lived copies, the same size as the kept ones, leave the kept
	// records' memory half empty.
	nv := t.clone(v)
	raw, err := json.Marshal(&nv)
	if err != nil {
		panic(fmt.Sprintf("store: encoding %s/%d: %v", t.bucket, id, err))
	}
	old, had := t.rows[id]
	t.rows[id] = &nv
	tx.writes = append(tx.writes, write{bucket: t.bucket, key: u64(id), val: raw})
	tx.undo = append(tx.undo, func() {
		if had {
			t.rows[id] = old
		} else {
			delete(t.rows, id)
		}
	})
}

func del[T any](tx *Tx, t *table[T], id int64) {
	old, had := t.rows[id]
	if !had {
		return
	}
	delete(t.rows, id)
	tx.writes = append(tx.writes, write{bucket: t.bucket, key: u64(id)})
	tx.undo = append(tx.undo, func() { t.rows[id] = old })
}

// each calls fn for every row in id order; the pointer must not be kept or mutated.
func each[T any](t *table[T], fn func(*T) bool) {
	ids := make([]int64, 0, len(t.rows))
	for id := range t.rows {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if !fn(t.rows[id]) {
			return
		}
	}
}

// OnUndo registers fn to run, under the write lock, if the transaction's
// changes are undone: what a transaction told others about (the engine's
// queues) is taken back with it.
func (tx *Tx) OnUndo(fn func()) { tx.undo = append(tx.undo, fn) }

// NextID allocates an id of the given kind that no row of exists uses.
func (tx *Tx) NextID(kind string, exists func(int64) bool) int64 {
	old := tx.s.seq[kind]
	n := old
	for {
		n++
		if !exists(n) {
			break
		}
	}
	tx.s.seq[kind] = n
	tx.writes = append(tx.writes, write{bucket: "meta", key: []byte("seq/" + kind), val: u64(n)})
	tx.undo = append(tx.undo, func() { tx.s.seq[kind] = old })
	return n
}

func (tx *Tx) Account(id int64) (Account, bool)   { return get(&tx.s.accounts, id) }
func (tx *Tx) PutAccount(a Account)               { put(tx, &tx.s.accounts, a.ID, a) }
func (tx *Tx) EachAccount(fn func(*Account) bool) { each(&tx.s.accounts, fn) }

func (tx *Tx) VM(id int64) (VM, bool)       { return get(&tx.s.vms, id) }
func (tx *Tx) PutVM(v VM)                   { put(tx, &tx.s.vms, v.ID, v) }
func (tx *Tx) DeleteVM(id int64)            { del(tx, &tx.s.vms, id) }
func (tx *Tx) EachVM(fn func(*VM) bool)     { each(&tx.s.vms, fn) }
func (tx *Tx) VMCount() int                 { return len(tx.s.vms.rows) }
func (tx *Tx) HasVM(id int64) bool          { _, ok := tx.s.vms.rows[id]; return ok }
func (tx *Tx) Disk(id int64) (Disk, bool)   { return get(&tx.s.disks, id) }
func (tx *Tx) PutDisk(d Disk)               { put(tx, &tx.s.disks, d.ID, d) }
func (tx *Tx) DeleteDisk(id int64)          { del(tx, &tx.s.disks, id) }
func (tx *Tx) EachDisk(fn func(*Disk) bool) { each(&tx.s.disks, fn) }
func (tx *Tx) HasDisk(id int64) bool        { _, ok := tx.s.disks.rows[id]; return ok }
func (tx *Tx) Iface(id int64) (Iface, bool) { return get(&tx.s.ifaces, id) }
func (tx *Tx) PutIface(i Iface)             { put(tx, &tx.s.ifaces, i.ID, i) }
func (tx *Tx) DeleteIface(id int64)         { del(tx, &tx.s.ifaces, id) }
func (tx *Tx) EachIface(fn func(*Iface) bool) {
	each(&tx.s.ifaces, fn)
}
func (tx *Tx) HasIface(id int64) bool       { _, ok := tx.s.ifaces.rows[id]; return ok }
func (tx *Tx) IP(id int64) (IP, bool)       { return get(&tx.s.ips, id) }
func (tx *Tx) PutIP(i IP)                   { put(tx, &tx.s.ips, i.ID, i) }
func (tx *Tx) DeleteIP(id int64)            { del(tx, &tx.s.ips, id) }
func (tx *Tx) EachIP(fn func(*IP) bool)     { each(&tx.s.ips, fn) }
func (tx *Tx) HasIP(id int64) bool          { _, ok := tx.s.ips.rows[id]; return ok }
func (tx *Tx) Image(id int64) (Image, bool) { return get(&tx.s.images, id) }
func (tx *Tx) PutImage(i Image)             { put(tx, &tx.s.images, i.ID, i) }
func (tx *Tx) EachImage(fn func(*Image) bool) {
	each(&tx.s.images, fn)
}
func (tx *Tx) SSHKey(id int64) (SSHKey, bool)   { return get(&tx.s.sshKeys, id) }
func (tx *Tx) PutSSHKey(k SSHKey)               { put(tx, &tx.s.sshKeys, k.ID, k) }
func (tx *Tx) DeleteSSHKey(id int64)            { del(tx, &tx.s.sshKeys, id) }
func (tx *Tx) HasSSHKey(id int64) bool          { _, ok := tx.s.sshKeys.rows[id]; return ok }
func (tx *Tx) EachSSHKey(fn func(*SSHKey) bool) { each(&tx.s.sshKeys, fn) }

func (tx *Tx) Operation(id int64) (Operation, bool) { return get(&tx.s.operations, id) }
func (tx *Tx) PutOperation(o Operation)             { put(tx, &tx.s.operations, o.ID, o) }
func (tx *Tx) EachOperation(fn func(*Operation) bool) {
	each(&tx.s.operations, fn)
}
func (tx *Tx) HasOperation(id int64) bool { _, ok := tx.s.operations.rows[id]; return ok }
func (tx *Tx) DeleteOperation(id int64)   { del(tx, &tx.s.operations, id) }

// Idem returns the remembered answer for an idempotency key.
func (tx *Tx) Idem(key string) (IdemEntry, bool) {
	e, ok := tx.s.idem[key]
	return e, ok
}

// PutIdem remembers the answer for an idempotency key.
func (tx *Tx) PutIdem(key string, e IdemEntry) {
	old, had := tx.s.idem[key]
	tx.s.idem[key] = e
	raw, _ := json.Marshal(e)
	tx.writes = append(tx.writes, write{bucket: "idempotency", key: []byte(key), val: raw})
	tx.undo = append(tx.undo, func() {
		if had {
			tx.s.idem[key] = old
		} else {
			delete(tx.s.idem, key)
		}
	})
}

// EachIdem visits every remembered idempotency key.
func (tx *Tx) EachIdem(fn func(key string, e IdemEntry) bool) {
	for k, e := range tx.s.idem {
		if !fn(k, e) {
			return
		}
	}
}

// DeleteIdem forgets an idempotency key.
func (tx *Tx) DeleteIdem(key string) {
	old, had := tx.s.idem[key]
	if !had {
		return
	}
	delete(tx.s.idem, key)
	tx.writes = append(tx.writes, write{bucket: "idempotency", key: []byte(key)})
	tx.undo = append(tx.undo, func() { tx.s.idem[key] = old })
}

// Released returns the addresses released under key, oldest first.
func (tx *Tx) Released(key string) []string {
	return append([]string(nil), tx.s.released[key]...)
}

// EachReleased visits every released list.
func (tx *Tx) EachReleased(fn func(key string, addrs []string)) {
	for k, v := range tx.s.released {
		fn(k, v)
	}
}

// SetReleased replaces the released list under key.
func (tx *Tx) SetReleased(key string, addrs []string) {
	old, had := tx.s.released[key]
	var raw []byte
	if len(addrs) == 0 {
		delete(tx.s.released, key)
	} else {
		tx.s.released[key] = append([]string(nil), addrs...)
		raw, _ = json.Marshal(addrs)
	}
	tx.writes = append(tx.writes, write{bucket: "released", key: []byte(key), val: raw})
	tx.undo = append(tx.undo, func() {
		if had {
			tx.s.released[key] = old
		} else {
			delete(tx.s.released, key)
		}
	})
}

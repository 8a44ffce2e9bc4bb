package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
)

// table is one bucket of records, mirrored in memory by id; clone makes
// the copies that getters hand out and Put keeps (deep for records with
// slices or maps).
type table[T any] struct {
	bucket string
	rows   map[int64]*T
	clone  func(T) T
	// watch, for the tables events report on, gives the event a write
	// makes (old or new nil: absent); see events.go.
	watch func(old, nw *T) (change, bool)
}

func newTable[T any](bucket string, clone func(T) T) table[T] {
	if clone == nil {
		clone = func(v T) T { return v }
	}
	return table[T]{bucket: bucket, rows: map[int64]*T{}, clone: clone}
}

// watched returns t with its event hook.
func (t table[T]) watched(w func(old, nw *T) (change, bool)) table[T] {
	t.watch = w
	return t
}

// Epoch changes each time failed writes were undone in memory. Read it in
// the transaction that reads what it guards.
func (tx *Tx) Epoch() uint64 { return tx.s.epoch }

// Tx is a view of the state inside Update or View.
type Tx struct {
	s        *Store
	readOnly bool
	writes   []write
	undo     []func()
	events   []change // numbered and written by stampEvents once fn succeeded
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
	if t.watch != nil {
		if ev, ok := t.watch(old, &nv); ok { // old is nil when !had
			tx.events = append(tx.events, ev)
		}
	}
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
	if t.watch != nil {
		if ev, ok := t.watch(old, nil); ok {
			tx.events = append(tx.events, ev)
		}
	}
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
func (tx *Tx) DeleteVM(id int64)            { del(tx, &tx.s.vms, id); tx.DeleteLock(id) } // a lock never outlives its VM (locks.go)
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
func (tx *Tx) ISO(id int64) (ISO, bool)         { return get(&tx.s.isos, id) }
func (tx *Tx) PutISO(i ISO)                     { put(tx, &tx.s.isos, i.ID, i) }
func (tx *Tx) EachISO(fn func(*ISO) bool)       { each(&tx.s.isos, fn) }
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

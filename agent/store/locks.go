package store

import "time"

// Lock types, as the Gigas document names them (Task, Snapshot, Admin).
// Only admin locks are stored: task and snapshot locks are what the
// service derives from the operations running on a VM, so they can never
// outlive them.
const (
	LockAdmin    = "admin"
	LockTask     = "task"
	LockSnapshot = "snapshot"
)

// Lock is an operator's lock on a VM: while it is stored, the service
// refuses every change to the VM, its disks and its ifaces. A VM has at
// most one (the locks/ bucket is keyed by VM id); ID is its own, from
// seq/lock, so a fault can name it. DeleteVM removes it with the VM's
// record (a creation that fails drops a VM the operator locked meanwhile).
type Lock struct {
	ID          int64     `json:"id"`
	VMID        int64     `json:"vm_id"`
	Type        string    `json:"type"`
	Description string    `json:"description"`
	DateCreated time.Time `json:"date_created"`
	DateUpdated time.Time `json:"date_updated"`
}

// Lock returns the lock on VM vmID.
func (tx *Tx) Lock(vmID int64) (Lock, bool) { return get(&tx.s.locks, vmID) }

// PutLock stores l as the lock of VM l.VMID, replacing any.
func (tx *Tx) PutLock(l Lock) { put(tx, &tx.s.locks, l.VMID, l) }

// DeleteLock removes the lock on VM vmID, if any.
func (tx *Tx) DeleteLock(vmID int64) { del(tx, &tx.s.locks, vmID) }

// EachLock visits every lock, by VM id.
func (tx *Tx) EachLock(fn func(*Lock) bool) { each(&tx.s.locks, fn) }

// LockCount is how many VMs are locked.
func (tx *Tx) LockCount() int { return len(tx.s.locks.rows) }

// HasLockID reports whether a lock has id (for NextID("lock", ...)).
func (tx *Tx) HasLockID(id int64) bool {
	found := false
	each(&tx.s.locks, func(l *Lock) bool {
		found = l.ID == id
		return !found
	})
	return found
}

package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The operator lock (issue 13, part 4).
//
// An admin lock is a store record (store.Lock) the operator places on a
// VM and removes; while it is there every change a call asks of the VM,
// of one of its disks or ifaces, or of an address of its ifaces is
// refused with a fault naming the lock, whoever asks: the operator's own
// key too, which must unlock first. It is one write of the state file,
// so it needs no operation: there is nothing to do on the host, and a
// crash leaves it placed or not, never half. What the lock does not stop:
// operations submitted before it (they run to their end; VMLocks shows
// them as task locks), reads (info, lists, console, stats), copies and
// snapshots taken from its disks (they read the disk, the VM is not
// changed), and what the agent starts itself (a snapshot profile's
// snapshots and their pruning).
//
// The seed's state "locked" ("paused by Gandi for a legal reason") is
// what a VM with an admin lock shows as its state, to its owner and the
// operator, in vm.info, vm.list (and its state filter) and host.info;
// its power state underneath is kept as it was (the reconciler goes on
// following the domain) and is shown again once it is unlocked. The
// lock does not pause the VM: pausing is the operator's separate call.

// MaxLockDescription bounds a lock's description (characters).
const MaxLockDescription = 255

// Lock is a lock on a VM as a client sees it (the Gigas document's
// "Virtual Machine Lock"). Type is store.LockAdmin for the operator's
// lock, store.LockTask or store.LockSnapshot for an operation that runs
// on the VM (derived, never stored): its ID is then the operation's id,
// also in OperationID, and its dates the operation's.
type Lock struct {
	ID, VMID                 int64
	Type, Description        string
	OperationID              int64
	DateCreated, DateUpdated time.Time
}

func lockOf(l store.Lock) Lock {
	return Lock{ID: l.ID, VMID: l.VMID, Type: l.Type, Description: l.Description, DateCreated: l.DateCreated, DateUpdated: l.DateUpdated}
}

// checkLockDescription is the rule of a lock's description: what a fault
// shows every client that touches the VM, so one printable line.
func checkLockDescription(d string) error {
	switch {
	case d == "":
		return Missing(ObjVM, "description")
	case !utf8.ValidString(d):
		return Invalid(ObjVM, "description", "must be valid UTF-8")
	case utf8.RuneCountInString(d) > MaxLockDescription:
		return Invalid(ObjVM, "description", "must be at most %d characters", MaxLockDescription)
	}
	for _, r := range d {
		if !unicode.IsPrint(r) {
			return Invalid(ObjVM, "description", "must be one line of printable characters (%q is not)", r)
		}
	}
	return nil
}

// LockVM places the operator's lock on VM vmID, or gives a lock already
// there the new description (its id and creation date stay). Operator
// only. A VM being deleted cannot be locked: the deletion would leave
// the lock behind.
func (s *Service) LockVM(ctx context.Context, c *Caller, vmID int64, description string) (Lock, error) {
	if err := OperatorOnly(c, "hosting.vm.lock", "lock a VM"); err != nil {
		return Lock{}, err
	}
	if err := checkLockDescription(description); err != nil {
		return Lock{}, err
	}
	var out store.Lock
	err := s.st.Update(func(tx *store.Tx) error {
		if _, err := vmFor(tx, c, vmID); err != nil {
			return err
		}
		if s.deleting(tx, workflow.VMKey(vmID)) {
			return Errorf(ObjVM, KindConflict, "vm_id: vm %d is being deleted and cannot be locked", vmID)
		}
		if m, ok := s.movingVM(tx, vmID); ok {
			return Errorf(ObjVM, KindConflict, "vm_id: vm %d is moving between hosts (operation %d, %s) and cannot be locked; lock it where it ends", vmID, m.ID, m.Type)
		}
		t := now()
		l, ok := tx.Lock(vmID)
		switch {
		case !ok:
			l = store.Lock{ID: tx.NextID("lock", tx.HasLockID), VMID: vmID, Type: store.LockAdmin, DateCreated: t}
		case l.Description == description:
			out = l
			return nil // locking again as it is changes nothing
		}
		l.Description, l.DateUpdated = description, t
		tx.PutLock(l)
		out = l
		return nil
	})
	if err != nil {
		return Lock{}, err
	}
	s.log.Info("vm locked", "vm_id", vmID, "lock_id", out.ID, "description", out.Description)
	return lockOf(out), nil
}

// UnlockVM removes the operator's lock from VM vmID and returns it.
// Operator only; a VM that is not locked is a fault (conflict) that says
// so, so a mistyped id does not pass for an unlock.
func (s *Service) UnlockVM(ctx context.Context, c *Caller, vmID int64) (Lock, error) {
	if err := OperatorOnly(c, "hosting.vm.unlock", "unlock a VM"); err != nil {
		return Lock{}, err
	}
	var out store.Lock
	err := s.st.Update(func(tx *store.Tx) error {
		if _, err := vmFor(tx, c, vmID); err != nil {
			return err
		}
		l, ok := tx.Lock(vmID)
		if !ok {
			return Errorf(ObjVM, KindConflict, "vm_id: vm %d is not locked", vmID)
		}
		tx.DeleteLock(vmID)
		out = l
		return nil
	})
	if err != nil {
		return Lock{}, err
	}
	s.log.Info("vm unlocked", "vm_id", vmID, "lock_id", out.ID, "description", out.Description)
	return lockOf(out), nil
}

// VMLocks lists the locks on one of the caller's VMs: the operator's
// lock first, if any, then a task lock (snapshot lock for a snapshot or
// copy of one of its disks) for each unfinished operation on the VM, its
// disks or its ifaces, in the order they run.
func (s *Service) VMLocks(c *Caller, vmID int64) ([]Lock, error) {
	out := []Lock{}
	var err error
	s.st.View(func(tx *store.Tx) {
		var v store.VM
		if v, err = vmFor(tx, c, vmID); err != nil {
			return
		}
		if l, ok := tx.Lock(vmID); ok {
			out = append(out, lockOf(l))
		}
		out = append(out, s.taskLocks(tx, v)...)
	})
	return out, err
}

// taskLocks are the locks the unfinished operations on v stand for. It
// reads only the engine's queues of v's keys, not every operation kept.
func (s *Service) taskLocks(tx *store.Tx, v store.VM) []Lock {
	var ids []int64
	for _, key := range vmKeys(v) {
		ids = append(ids, s.eng.Holders(key)...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []Lock
	for _, id := range ids {
		o, ok := tx.Operation(id)
		if !ok || o.Finished() {
			continue
		}
		typ, what := store.LockTask, o.Type
		if o.Type == "disk_create" {
			if src, err := strconv.ParseInt(o.Params["source"], 10, 64); err == nil && slices.Contains(v.DiskIDs, src) {
				typ, what = store.LockSnapshot, fmt.Sprintf("disk_create from disk %d", src)
			}
		}
		out = append(out, Lock{ID: o.ID, VMID: v.ID, Type: typ, OperationID: o.ID,
			Description: fmt.Sprintf("operation %d (%s) is %s", o.ID, what, stepWord(o.Step)),
			DateCreated: o.DateCreated, DateUpdated: o.DateUpdated})
	}
	return out
}

func stepWord(step string) string {
	if step == store.StepRun {
		return "running"
	}
	return "waiting"
}

// vmKeys are the queue keys of v, its disks and its ifaces.
func vmKeys(v store.VM) []string {
	keys := []string{workflow.VMKey(v.ID)}
	for _, d := range v.DiskIDs {
		keys = append(keys, workflow.DiskKey(d))
	}
	for _, i := range v.IfaceIDs {
		keys = append(keys, workflow.IfaceKey(i))
	}
	return keys
}

// refuseLocked refuses, before they are recorded, operations a call asks
// of a locked VM: one on the VM (its VMID), holding the key of the VM,
// of one of its disks or ifaces, or changing an address of its ifaces.
// submitCall runs it inside the call's transaction, so a lock placed
// after it cannot miss what it submits, and nothing of a refused call is
// written. Locks are few (the operator places them): it visits each.
func (s *Service) refuseLocked(tx *store.Tx, opIDs []int64) error {
	if tx.LockCount() == 0 || len(opIDs) == 0 {
		return nil
	}
	ops := make([]store.Operation, 0, len(opIDs))
	for _, id := range opIDs {
		if o, ok := tx.Operation(id); ok {
			ops = append(ops, o)
		}
	}
	var err error
	tx.EachLock(func(l *store.Lock) bool {
		v, ok := tx.VM(l.VMID)
		if !ok {
			return true
		}
		for _, o := range ops {
			if field, id := touches(tx, v, o); field != "" {
				err = lockedFault(field, id, v.ID, *l)
				return false
			}
		}
		return true
	})
	return err
}

// touches says how operation o changes VM v: the field a fault names
// ("vm_id", or "disk_id", "iface_id", "ip_id" for an operation on one
// of v's devices that does not name v itself) and that device's id; ""
// if it does not.
func touches(tx *store.Tx, v store.VM, o store.Operation) (field string, id int64) {
	if o.VMID == v.ID || slices.Contains(o.Keys, workflow.VMKey(v.ID)) {
		return "vm_id", v.ID
	}
	for _, d := range v.DiskIDs {
		if o.DiskID == d || slices.Contains(o.Keys, workflow.DiskKey(d)) {
			return "disk_id", d
		}
	}
	for _, i := range v.IfaceIDs {
		if o.IfaceID == i || slices.Contains(o.Keys, workflow.IfaceKey(i)) {
			return "iface_id", i
		}
	}
	// A device whose attach to v is queued is v's already (its record
	// names v): changed now, it would be changed on the locked VM once
	// the attach runs.
	if o.DiskID != 0 {
		if d, ok := tx.Disk(o.DiskID); ok && d.VMID == v.ID {
			return "disk_id", d.ID
		}
	}
	if o.IfaceID != 0 && ifaceOfVM(tx, o.IfaceID, v) {
		return "iface_id", o.IfaceID
	}
	if o.IPID != 0 {
		if ip, ok := tx.IP(o.IPID); ok && ifaceOfVM(tx, ip.IfaceID, v) {
			return "ip_id", o.IPID
		}
	}
	return "", 0
}

// ifaceOfVM reports whether iface id is v's: attached, or its attach queued.
func ifaceOfVM(tx *store.Tx, id int64, v store.VM) bool {
	if slices.Contains(v.IfaceIDs, id) {
		return true
	}
	i, ok := tx.Iface(id)
	return ok && i.VMID == v.ID
}

// lockedFault is the refusal naming the lock: its id and description,
// so the customer can quote it and the operator find it.
func lockedFault(field string, id, vmID int64, l store.Lock) *Error {
	what := fmt.Sprintf("vm %d is", vmID)
	if field != "vm_id" {
		what = fmt.Sprintf("%s %d belongs to vm %d, which is", strings.TrimSuffix(field, "_id"), id, vmID)
	}
	return Errorf(ObjVM, KindConflict, "%s: %s locked by the operator (lock %d: %q, since %s); nothing was changed",
		field, what, l.ID, l.Description, l.DateCreated.Format(time.RFC3339))
}

// lockedVMs is the set of VMs with an operator lock.
func lockedVMs(tx *store.Tx) map[int64]bool {
	if tx.LockCount() == 0 {
		return nil
	}
	m := make(map[int64]bool, tx.LockCount())
	tx.EachLock(func(l *store.Lock) bool {
		m[l.VMID] = true
		return true
	})
	return m
}

// shownState is the state a client sees of v: "locked" while the
// operator's lock is on it, else its power state.
func shownState(v *store.VM, locked bool) string {
	if locked {
		return store.VMLocked
	}
	return v.State
}

// isLocked reports an operator lock on VM id.
func isLocked(tx *store.Tx, id int64) bool {
	_, ok := tx.Lock(id)
	return ok
}

// lockedVMs reads the set of locked VMs in a view of its own.
func (s *Service) lockedVMs() map[int64]bool {
	var m map[int64]bool
	s.st.View(func(tx *store.Tx) { m = lockedVMs(tx) })
	return m
}

// OperatorOnly is the fault of an operator-only method called with an
// account's key; faces check it before reading the arguments, so the
// answer is the same whatever the arguments.
func OperatorOnly(c *Caller, method, what string) error {
	if c.Operator {
		return nil
	}
	return Errorf(ObjMethod, KindNoRight, "%s: the operator key only; an account's key may not %s", method, what)
}

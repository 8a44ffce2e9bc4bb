package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// The operator lock's extensions (service/lock.go says what a lock
// refuses). Each answers lock records, not operations: a lock is one
// write of the state and nothing is done on the host.

// vmLock is the extension hosting.vm.lock(apikey, vm_id, description) →
// the lock: the operator key places its lock on a VM (or gives the one
// there a new description).
func (f *Face) vmLock(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	if err := service.OperatorOnly(c, "hosting.vm.lock", "lock a VM"); err != nil {
		return nil, err
	}
	if err := a.atMost(2); err != nil {
		return nil, err
	}
	id, err := a.int(0, "vm_id") // not a.id: the description follows
	if err != nil {
		return nil, err
	}
	desc, err := a.str(1, "description")
	if err != nil {
		return nil, err
	}
	l, err := f.svc.LockVM(ctx, c, id, desc)
	if err != nil {
		return nil, err
	}
	return renderLock(l), nil
}

// vmUnlock is the extension hosting.vm.unlock(apikey, vm_id) → the lock
// removed: the operator key only.
func (f *Face) vmUnlock(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	if err := service.OperatorOnly(c, "hosting.vm.unlock", "unlock a VM"); err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "vm_id", service.ObjVM)
	if err != nil {
		return nil, err
	}
	l, err := f.svc.UnlockVM(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return renderLock(l), nil
}

// vmLocks is the extension hosting.vm.locks(apikey, vm_id) → [lock]: the
// operator's lock on the VM, then one task (or snapshot) lock per
// operation running or waiting on it. The VM's owner may read them.
func (f *Face) vmLocks(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "vm_id", service.ObjVM)
	if err != nil {
		return nil, err
	}
	locks, err := f.svc.VMLocks(c, id)
	if err != nil {
		return nil, err
	}
	return renderAll(locks, func(l service.Lock) any { return renderLock(l) }), nil
}

// renderLock is a lock with the Gigas record's fields, named as the
// Gandi face names its others (lock_type is Gigas's name for type).
func renderLock(l service.Lock) map[string]any {
	return map[string]any{
		"id": l.ID, "vm_id": l.VMID, "lock_type": l.Type, "description": l.Description,
		"operation_id": nullable(l.OperationID), "date_created": l.DateCreated, "date_updated": l.DateUpdated,
	}
}

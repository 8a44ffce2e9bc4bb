package service

import (
	"context"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// ForceStopVM powers one of the caller's VMs off at once, without asking
// its guest (Gandi's vm.stop with the force extension, Gigas's
// {"status": "offline", "force": "true"}). A graceful stop or reboot of
// the VM waiting on its guest does not make it wait: it powers off (or
// resets) at once and ends DONE, naming this operation in its progress
// (agent/workflow/force.go); this one then finds the VM off.
func (s *Service) ForceStopVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	return s.forceAction(c, "vm_stop", id, opts)
}

// ForceRebootVM resets one of the caller's VMs at once (a halted one
// boots), with ForceStopVM's effect on a graceful stop or reboot that
// waits.
func (s *Service) ForceRebootVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	return s.forceAction(c, "vm_reboot", id, opts)
}

func (s *Service) forceAction(c *Caller, typ string, id int64, opts CallOptions) (Operation, error) {
	op, err := s.powerAction(c, typ, id, opts, workflow.VMPower{Force: true}, map[string]string{"force": "1"}, nil)
	if err == nil && s.wf != nil {
		// Wake a graceful operation waiting on its guest now; one that
		// begins later, or after a restart, finds this one in the queue.
		s.wf.ForceSubmitted(id)
	}
	return op, err
}

// PauseVM suspends one of the caller's running VMs (libvirt suspend:
// its vCPUs stop, memory and network stay); the VM shows paused.
func (s *Service) PauseVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	return s.powerAction(c, "vm_pause", id, opts, nil, nil, func(v store.VM) error {
		if v.State != store.VMRunning {
			return Errorf(ObjVM, KindConflict, "vm_id: vm %d is %s; only a running vm can be paused", id, v.State)
		}
		return nil
	})
}

// ResumeVM lets one of the caller's paused VMs run on (vm.start does
// too).
func (s *Service) ResumeVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	return s.powerAction(c, "vm_resume", id, opts, nil, nil, func(v store.VM) error {
		if v.State != store.VMPaused {
			return Errorf(ObjVM, KindConflict, "vm_id: vm %d is %s; only a paused vm can be resumed", id, v.State)
		}
		return nil
	})
}

// powerAction submits a power operation on VM id. state checks the VM's
// recorded state, but only when no operation holds the VM: one queued
// (a vm.start) may change it before this one runs, which then checks
// what the hypervisor says.
func (s *Service) powerAction(c *Caller, typ string, id int64, opts CallOptions, input any, params map[string]string, state func(v store.VM) error) (Operation, error) {
	o, err := s.checkOptions(c, opts, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	return s.submitOneOf(c, o, vmOwner(c, id), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(id)
		key := workflow.VMKey(id)
		if s.deleting(tx, key) {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is being deleted", id)
		}
		if l, ok := tx.Lock(id); ok {
			// Before the state rule: the lock is the reason (lock.go).
			return opSpec{}, lockedFault("vm_id", id, id, l)
		}
		if state != nil && !s.queued(tx, key) {
			if err := state(v); err != nil {
				return opSpec{}, err
			}
		}
		return opSpec{typ: typ, vmID: id, keys: []string{key}, input: input, params: params, eta: 5}, nil
	})
}

// queued reports whether an unfinished operation holds key (one that
// just finished may still be in the engine's queue for a moment).
func (s *Service) queued(tx *store.Tx, key string) bool {
	for _, id := range s.eng.Holders(key) {
		if o, ok := tx.Operation(id); ok && !o.Finished() {
			return true
		}
	}
	return false
}

package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// Pause and resume (the part 4): vm_pause suspends a running
// domain through the hypervisor (its vCPUs stop, its memory, devices and
// wiring stay) and records the VM paused; vm_resume lets it run on. Both
// steps measure first, so a resumed one is harmless.
//
// What a paused VM allows: everything a running one does. A graceful
// stop or reboot resumes it first so that the guest hears the message; a
// force stop, a force reboot and a delete act on it as it is; vm_start
// resumes it.
func (s *Workflows) registerPause() {
	s.eng.Register("vm_pause", ops.Workflow{Steps: []ops.Step{
		{Name: "pause", Do: s.pauseDomain},
		{Name: "finish", Do: s.finishWithState(store.VMPaused), Atomic: true},
	}})
	s.eng.Register("vm_resume", ops.Workflow{Steps: []ops.Step{
		{Name: "resume", Do: s.resumeDomain},
		{Name: "finish", Do: s.finishWithState(store.VMRunning), Atomic: true},
	}})
}

// errNotRunning is a pause or resume of a VM that is not running by the
// time the operation runs (the service refuses it when it knows sooner).
func errNotRunning(r *ops.Run, verb string) error {
	return fmt.Errorf("vm %d is not running: only a running vm can be %s", r.Op().VMID, verb)
}

func (s *Workflows) pauseDomain(ctx context.Context, r *ops.Run) error {
	return s.setPaused(ctx, r, "paused", true, s.hv.Suspend)
}

func (s *Workflows) resumeDomain(ctx context.Context, r *ops.Run) error {
	return s.setPaused(ctx, r, "resumed", false, s.hv.Resume)
}

func (s *Workflows) setPaused(ctx context.Context, r *ops.Run, verb string, paused bool, call func(ctx context.Context, name string) error) error {
	name := DomainName(r.Op().VMID)
	if err := call(ctx, name); err != nil {
		if errors.Is(err, host.ErrNotRunning) || errors.Is(err, host.ErrNoDomain) {
			return errNotRunning(r, verb)
		}
		return err
	}
	st, err := s.hv.WaitFor(ctx, name, func(st host.State) bool { return !st.Running || st.Paused == paused })
	if err == nil && !st.Running {
		err = errNotRunning(r, verb)
	}
	return err
}

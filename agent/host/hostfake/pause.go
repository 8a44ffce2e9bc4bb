package hostfake

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/host"
)

// Suspend pauses a running domain, raising EventSuspended; a paused one
// is done, a stopped one ErrNotRunning. A paused guest acts on no
// message until it runs again (later waits for it).
func (h *Hypervisor) Suspend(ctx context.Context, name string) error {
	return h.setPaused(ctx, "Suspend", "suspending", name, true, host.EventSuspended)
}

// Resume lets a paused domain run on, raising EventResumed; a running
// one is done, a stopped one ErrNotRunning.
func (h *Hypervisor) Resume(ctx context.Context, name string) error {
	return h.setPaused(ctx, "Resume", "resuming", name, false, host.EventResumed)
}

func (h *Hypervisor) setPaused(ctx context.Context, method, verb, name string, paused bool, kind host.EventKind) error {
	return h.do(ctx, method, name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain(verb, name)
		case !d.running:
			return fmt.Errorf("%s %s: %w", verb, name, host.ErrNotRunning)
		case d.paused == paused:
			return nil
		}
		d.paused = paused
		e.event(name, kind, 0)
		return nil
	})
}

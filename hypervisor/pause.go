package hypervisor

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"
)

// Suspend pauses a running domain (libvirt suspend: the vCPUs stop, the
// memory stays). The state is read first, so a paused domain is done
// and a stopped one is ErrNotRunning whatever words the driver would
// use to refuse.
func (d *Driver) Suspend(ctx context.Context, name string) error {
	return d.pauseOrResume(ctx, "suspending", name, true, func(dom *libvirt.Domain) error { return dom.Suspend() })
}

// Resume lets a paused domain run on; a running one is done, a stopped
// one ErrNotRunning.
func (d *Driver) Resume(ctx context.Context, name string) error {
	return d.pauseOrResume(ctx, "resuming", name, false, func(dom *libvirt.Domain) error { return dom.Resume() })
}

func (d *Driver) pauseOrResume(ctx context.Context, op, name string, paused bool, act func(dom *libvirt.Domain) error) error {
	st, err := d.State(ctx, name)
	switch {
	case err != nil:
		return err
	case !st.Exists:
		return &Error{Op: op + " " + name, Err: ErrNoDomain}
	case !st.Running:
		return &Error{Op: op + " " + name, Err: fmt.Errorf("%w: it is shut off", ErrNotRunning)}
	case st.Paused == paused:
		return nil
	}
	return d.withDomain(ctx, op, name, act)
}

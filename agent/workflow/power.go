package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
)

// prepareStop journals the stop's deadline, and the first stop message
// as sent, in the write that begins the step: a restarted agent keeps the
// original deadline.
func (s *Workflows) prepareStop(p *StopProgress) {
	if p.Deadline.IsZero() {
		p.Deadline = time.Now().Add(s.cfg.Timeouts.Stop)
		p.Messages = 1
	}
}

// stopDomain is the seeds' stop: a stop message, a second one half way,
// and power off at the deadline (5 minutes in all by default). Waits wake
// on lifecycle events, not on a polling loop.
func (s *Workflows) stopDomain(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	events, stop := s.hv.Watch(name)
	defer stop()
	total, messages := s.cfg.Timeouts.Stop, max(s.cfg.Timeouts.StopMessages, 1)
	p, err := ops.Progress[StopProgress](r)
	if err != nil {
		return err
	}
	deadline, sent := p.Deadline, p.Messages
	if deadline.IsZero() {
		return errors.New("stop began without a journalled deadline")
	}
	at := func(i int) time.Time {
		return deadline.Add(-total).Add(time.Duration(i) * total / time.Duration(messages))
	}
	// A stop that finds no domain defines it (halted): the next start or
	// reboot needs it.
	st, err := s.ensureDomain(ctx, r)
	if err != nil || !st.Running {
		return err
	}
	if sent >= 1 && sent < messages+1 && time.Now().Before(at(sent)) {
		// The latest journalled message may not have reached the guest
		// before a restart; sending it again is harmless.
		if err := s.tearDown(ctx, name, s.hv.Shutdown); err != nil {
			return err
		}
	}
	for {
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		if !st.Running {
			return nil
		}
		now := time.Now()
		if !now.Before(deadline) {
			s.log.Info("guest ignored stop messages; powering off", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "messages", sent)
			p.Forced = true
			if err := ops.SetProgress(r, p); err != nil {
				return err
			}
			if err := s.tearDown(ctx, name, s.hv.Destroy); err != nil {
				return err
			}
			_, err := s.hv.WaitFor(ctx, name, func(st host.State) bool { return !st.Running })
			return err
		}
		next := deadline
		if sent < messages {
			if !now.Before(at(sent)) {
				// Journal before acting: a resumed stop does not resend early.
				p.Messages = sent + 1
				if err := ops.SetProgress(r, p); err != nil {
					return err
				}
				if err := s.tearDown(ctx, name, s.hv.Shutdown); err != nil {
					return err
				}
				sent++
				continue
			}
			next = at(sent)
		}
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-events:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		timer.Stop()
	}
}

// rebootDomain is the seeds' reboot: a reboot message, then a hard reset
// if the guest has not come back within the timeout (2 minutes by
// default). "Came back" is a reboot event (QEMU) or a new domain id (Xen
// recreates the domain).
func (s *Workflows) rebootDomain(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	events, stop := s.hv.Watch(name)
	defer stop()
	p, err := ops.Progress[RebootProgress](r)
	if err != nil {
		return err
	}
	st, err := s.hv.State(ctx, name)
	if err != nil {
		return err
	}
	if !st.Running {
		// Rebooting a halted VM boots it. So does a resumed reboot that
		// finds the guest down (the crash that stopped the agent took it)
		// or its domain gone, defined again from the records, which
		// applies a pending change too. (A Xen reboot recreates the
		// domain, but Start is a no-op on one that is back already.)
		if !st.Exists {
			p.FreshStart = true
			if err := ops.SetProgress(r, p); err != nil {
				return err
			}
		}
		return s.startDomain(ctx, r)
	}
	if v, err := s.vmOf(r); err == nil && v.RestartPending {
		return s.restartFresh(ctx, r, p)
	}
	if !p.Sent {
		p.Deadline, p.BeforeID, p.Sent = time.Now().Add(s.cfg.Timeouts.Reboot), uint64(st.ID), true
		if err := ops.SetProgress(r, p); err != nil {
			return err
		}
		if err := s.tearDown(ctx, name, s.hv.Reboot); err != nil {
			return err
		}
		if !s.hv.RebootReportsItself() {
			return nil
		}
	}
	for {
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		if st.Running && uint64(st.ID) != p.BeforeID && st.ID != 0 {
			return nil
		}
		if !time.Now().Before(p.Deadline) {
			s.log.Info("guest did not reboot in time; resetting", "op_id", r.Op().ID, "vm_id", r.Op().VMID)
			p.Forced = true
			if err := ops.SetProgress(r, p); err != nil {
				return err
			}
			if st.Running {
				if err := s.tearDown(ctx, name, s.hv.Reset); err != nil {
					return err
				}
			}
			return s.startDomain(ctx, r)
		}
		timer := time.NewTimer(time.Until(p.Deadline))
		select {
		case ev := <-events:
			timer.Stop()
			if ev.Kind == host.EventRebooted {
				return nil
			}
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// restartFresh is a reboot that applies a changed definition (the seeds:
// raise vm_max_memory, then reboot): the guest is asked to stop, powered
// off at the reboot deadline if it does not, and started from the
// definition. p is the reboot's progress as journalled.
func (s *Workflows) restartFresh(ctx context.Context, r *ops.Run, p RebootProgress) error {
	name := DomainName(r.Op().VMID)
	if p.Deadline.IsZero() {
		p.Deadline, p.FreshStart = time.Now().Add(s.cfg.Timeouts.Reboot), true
		if err := ops.SetProgress(r, p); err != nil {
			return err
		}
	}
	deadline := p.Deadline
	if err := s.tearDown(ctx, name, s.hv.Shutdown); err != nil {
		return err
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	_, err := s.hv.WaitFor(wctx, name, func(st host.State) bool { return !st.Running })
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.Forced = true
		if err := ops.SetProgress(r, p); err != nil {
			return err
		}
		if err := s.tearDown(ctx, name, s.hv.Destroy); err != nil {
			return err
		}
	}
	if err := s.defineDomain(ctx, r); err != nil {
		return err
	}
	return s.startDomain(ctx, r)
}

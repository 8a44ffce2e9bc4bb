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
	// A stop that finds no domain defines it (halted): the next start or
	// reboot needs it.
	st, err := s.ensureDomain(ctx, r)
	if err != nil || !st.Running {
		return err
	}
	if p.Forced {
		// A force stop, or one that escalated or reached its deadline
		// before a restart (force.go): power off, paused or not.
		return s.powerOff(ctx, name)
	}
	deadline, sent := p.Deadline, p.Messages
	if deadline.IsZero() {
		return errors.New("stop began without a journalled deadline")
	}
	at := func(i int) time.Time {
		return deadline.Add(-total).Add(time.Duration(i) * total / time.Duration(messages))
	}
	if err := s.resumePaused(ctx, r, name, st); err != nil {
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
		bell := s.force.wait(r.Op().VMID)
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		if !st.Running {
			return nil
		}
		now := time.Now()
		by := s.forcedBehind(r.Op())
		if by != 0 || !now.Before(deadline) {
			if by != 0 {
				s.log.Info("a force operation waits behind this stop; powering off now", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "by", by)
			} else {
				s.log.Info("guest ignored stop messages; powering off", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "messages", sent)
			}
			p.Forced, p.EscalatedBy = true, by
			if err := ops.SetProgress(r, p); err != nil {
				return err
			}
			return s.powerOff(ctx, name)
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
		case <-bell:
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
	in, err := powerInput(r.Op())
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
	if p.DoneBy != 0 {
		// The graceful reboot this one escalated reset the VM (force.go).
		return s.forceReset(ctx, r, p, st)
	}
	if v, err := s.vmOf(r); err == nil && v.RestartPending {
		return s.restartFresh(ctx, r, p, in.Force)
	}
	if in.Force || p.Forced {
		return s.forceReset(ctx, r, p, st)
	}
	if err := s.resumePaused(ctx, r, name, st); err != nil {
		return err
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
		bell := s.force.wait(r.Op().VMID)
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		if st.Running && uint64(st.ID) != p.BeforeID && st.ID != 0 {
			return nil
		}
		by := s.forcedBehind(r.Op())
		if by != 0 || !time.Now().Before(p.Deadline) {
			if by != 0 {
				s.log.Info("a force operation waits behind this reboot; resetting now", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "by", by)
			} else {
				s.log.Info("guest did not reboot in time; resetting", "op_id", r.Op().ID, "vm_id", r.Op().VMID)
			}
			p.EscalatedBy = by
			return s.forceReset(ctx, r, p, st)
		}
		timer := time.NewTimer(time.Until(p.Deadline))
		select {
		case ev := <-events:
			timer.Stop()
			if ev.Kind == host.EventRebooted {
				return nil
			}
		case <-bell:
			timer.Stop()
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// restartFresh is a reboot that applies a changed definition (the seeds:
// raise vm_max_memory, then reboot): the guest is asked to stop, powered
// off at the reboot deadline if it does not (at once when force, or when
// a force operation waits behind), and started from the definition. p
// is the reboot's progress as journalled.
func (s *Workflows) restartFresh(ctx context.Context, r *ops.Run, p RebootProgress, force bool) error {
	name := DomainName(r.Op().VMID)
	if p.Deadline.IsZero() {
		p.Deadline, p.FreshStart, p.Forced = time.Now().Add(s.cfg.Timeouts.Reboot), true, force
		if err := ops.SetProgress(r, p); err != nil {
			return err
		}
	}
	if !p.Forced {
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		if err := s.resumePaused(ctx, r, name, st); err != nil {
			return err
		}
		if err := s.tearDown(ctx, name, s.hv.Shutdown); err != nil {
			return err
		}
		down, by, err := s.waitDown(ctx, r, name, p.Deadline)
		if err != nil {
			return err
		}
		if !down {
			p.Forced, p.EscalatedBy = true, by
			if err := ops.SetProgress(r, p); err != nil {
				return err
			}
		}
	}
	if p.Forced {
		if err := s.tearDown(ctx, name, s.hv.Destroy); err != nil {
			return err
		}
	}
	if err := s.defineDomain(ctx, r); err != nil {
		return err
	}
	if err := s.markDone(p.EscalatedBy, r.Op().ID); err != nil {
		return err
	}
	return s.startDomain(ctx, r)
}

package workflow

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
)

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// prepareStop journals the stop's deadline, and the first stop message
// as sent, in the write that begins the step: a restarted agent keeps the
// original deadline.
func (s *Workflows) prepareStop(data map[string]string) {
	if data["deadline"] == "" {
		data["deadline"] = time.Now().Add(s.cfg.Timeouts.Stop).Format(time.RFC3339Nano)
		data["messages"] = "1"
	}
}

// stopDomain is the seeds' stop: a stop message, a second one half way,
// and power off at the deadline (5 minutes in all by default). Waits wake
// on lifecycle events, not on a polling loop.
func (s *Workflows) stopDomain(ctx context.Context, r *ops.Run) error {
	s.countBeforeTeardown(ctx)
	name := DomainName(r.Op().VMID)
	events, stop := s.hv.Watch(name)
	defer stop()
	total, messages := s.cfg.Timeouts.Stop, max(s.cfg.Timeouts.StopMessages, 1)
	deadline := parseTime(r.Data("deadline"))
	if deadline.IsZero() {
		return errors.New("stop began without a journalled deadline")
	}
	sent, _ := strconv.Atoi(r.Data("messages"))
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
		if err := s.hv.Shutdown(ctx, name); err != nil {
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
			s.log.Info("guest ignored stop messages; powering off", "vm_id", r.Op().VMID, "messages", sent)
			if err := r.Set("forced", "1"); err != nil {
				return err
			}
			if err := s.hv.Destroy(ctx, name); err != nil {
				return err
			}
			_, err := s.hv.WaitFor(ctx, name, func(st host.State) bool { return !st.Running })
			return err
		}
		next := deadline
		if sent < messages {
			if !now.Before(at(sent)) {
				// Journal before acting: a resumed stop does not resend early.
				if err := r.Set("messages", strconv.Itoa(sent+1)); err != nil {
					return err
				}
				if err := s.hv.Shutdown(ctx, name); err != nil {
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
	s.countBeforeTeardown(ctx)
	name := DomainName(r.Op().VMID)
	events, stop := s.hv.Watch(name)
	defer stop()
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
			if err := r.Set("fresh_start", "1"); err != nil {
				return err
			}
		}
		return s.startDomain(ctx, r)
	}
	if v, err := s.vmOf(r); err == nil && v.RestartPending {
		return s.restartFresh(ctx, r)
	}
	deadline := parseTime(r.Data("deadline"))
	beforeID, _ := strconv.ParseUint(r.Data("before_id"), 10, 64)
	if r.Data("sent") == "" {
		deadline, beforeID = time.Now().Add(s.cfg.Timeouts.Reboot), uint64(st.ID)
		if err := r.SetMany(map[string]string{"deadline": deadline.Format(time.RFC3339Nano), "before_id": strconv.FormatUint(beforeID, 10), "sent": "1"}); err != nil {
			return err
		}
		if err := s.hv.Reboot(ctx, name); err != nil {
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
		if st.Running && uint64(st.ID) != beforeID && st.ID != 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			s.log.Info("guest did not reboot in time; resetting", "vm_id", r.Op().VMID)
			if err := r.Set("forced", "1"); err != nil {
				return err
			}
			if st.Running {
				if err := s.hv.Reset(ctx, name); err != nil {
					return err
				}
			}
			return s.startDomain(ctx, r)
		}
		timer := time.NewTimer(time.Until(deadline))
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
// definition.
func (s *Workflows) restartFresh(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	deadline := parseTime(r.Data("deadline"))
	if deadline.IsZero() {
		deadline = time.Now().Add(s.cfg.Timeouts.Reboot)
		if err := r.SetMany(map[string]string{"deadline": deadline.Format(time.RFC3339Nano), "fresh_start": "1"}); err != nil {
			return err
		}
	}
	if err := s.hv.Shutdown(ctx, name); err != nil {
		return err
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	_, err := s.hv.WaitFor(wctx, name, func(st host.State) bool { return !st.Running })
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.Set("forced", "1"); err != nil {
			return err
		}
		if err := s.hv.Destroy(ctx, name); err != nil {
			return err
		}
	}
	if err := s.defineDomain(ctx, r); err != nil {
		return err
	}
	return s.startDomain(ctx, r)
}

package workflow

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// Force (the part 3): vm_stop and vm_reboot with VMPower.Force
// power off or reset at once, without asking the guest.
//
// A force operation queues behind whatever holds the VM, like any other:
// behind a graceful stop or reboot waiting on a stubborn guest it would
// wait out the graceful one's deadline (XAPI's PR#5701). So a graceful
// stop or reboot looks, whenever it waits, for a force vm_stop or
// vm_reboot queued after it on the same VM (forcedBehind) and, finding
// one, takes its own forced path at once: power off, or reset, then ends
// DONE with EscalatedBy naming the force operation. The force operation
// then runs and finds the VM as it wants it (a stop's power off is
// harmless again; a reboot whose reset the escalated reboot did is marked
// DoneBy and only makes sure the VM runs).
//
// The escalation reads the queue and the store, both restored at a
// restart, so a resumed graceful operation escalates as well; the service
// rings forceBell after submitting a force operation only to wake one
// that waits now.

// VMPower is vm_stop's and vm_reboot's input.
type VMPower struct {
	// Force powers off (stop) or resets (reboot) at once.
	Force bool `json:"force,omitempty"`
}

// forceBell wakes the graceful stops and reboots of a VM when a force
// operation is submitted behind them. Its zero value is ready.
type forceBell struct {
	mu sync.Mutex
	ch map[int64]chan struct{}
}

// wait returns a channel closed at the next ring for vmID. Take it
// before looking for a force operation, so one submitted in between is
// not missed.
func (b *forceBell) wait(vmID int64) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = map[int64]chan struct{}{}
	}
	ch, ok := b.ch[vmID]
	if !ok {
		ch = make(chan struct{})
		b.ch[vmID] = ch
	}
	return ch
}

func (b *forceBell) ring(vmID int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.ch[vmID]; ok {
		close(ch)
		delete(b.ch, vmID)
	}
}

// ForceSubmitted wakes a graceful stop or reboot of VM vmID waiting on
// its guest: a force operation was queued behind it. Call it once the
// force operation is created (it is read from the queue and the store).
func (s *Workflows) ForceSubmitted(vmID int64) { s.force.ring(vmID) }

// powerInput is the input of a vm_stop or vm_reboot; the operations
// that share their steps (disk_update's reboot) are never forced.
func powerInput(op store.Operation) (VMPower, error) {
	if op.Type != "vm_stop" && op.Type != "vm_reboot" {
		return VMPower{}, nil
	}
	return ops.InputOf[VMPower](op)
}

// forcedBehind returns the first force vm_stop or vm_reboot queued after
// op on its VM (not cancelled), or 0.
func (s *Workflows) forcedBehind(op store.Operation) int64 {
	holders := s.eng.Holders(VMKey(op.VMID))
	var found int64
	s.st.View(func(tx *store.Tx) {
		for _, id := range holders {
			if id <= op.ID {
				continue
			}
			o, ok := tx.Operation(id)
			if !ok || o.Finished() || o.Cancel {
				continue
			}
			if in, err := powerInput(o); err == nil && in.Force {
				found = id
				return
			}
		}
	})
	return found
}

// prepareStopOp journals, as vm_stop's step begins, a graceful stop's
// deadline (prepareStop) or a force stop's intent.
func (s *Workflows) prepareStopOp(op store.Operation) (json.RawMessage, error) {
	in, err := powerInput(op)
	if err != nil {
		return nil, err
	}
	return ops.PrepareProgress(func(p *StopProgress) {
		if in.Force {
			p.Forced = true
			return
		}
		s.prepareStop(p)
	})(op)
}

// powerOff powers the domain off and waits until it is.
func (s *Workflows) powerOff(ctx context.Context, name string) error {
	if err := s.tearDown(ctx, name, s.hv.Destroy); err != nil {
		return err
	}
	_, err := s.hv.WaitFor(ctx, name, func(st host.State) bool { return !st.Running })
	return err
}

// resumePaused lets a paused guest run before it is asked to stop or
// reboot: a paused guest hears no message.
func (s *Workflows) resumePaused(ctx context.Context, r *ops.Run, name string, st host.State) error {
	if !st.Paused {
		return nil
	}
	s.log.Info("resuming the paused guest so that it hears the message", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "op", r.Op().Type)
	return s.hv.Resume(ctx, name)
}

// forceReset is a force reboot, or a graceful one escalated or past its
// deadline: reset at once, then make sure the domain runs (libxl's reset
// is destroy and start; a paused domain stays paused after a reset). The
// intent is journalled before the reset; a resumed one resets again
// unless the domain shows it was (a new id), so the VM is reset at
// least once.
func (s *Workflows) forceReset(ctx context.Context, r *ops.Run, p RebootProgress, st host.State) error {
	name := DomainName(r.Op().VMID)
	switch {
	case p.DoneBy != 0:
		s.log.Info("the escalated reboot did this reset", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "by", p.DoneBy)
		return s.startDomain(ctx, r)
	case !p.Forced:
		p.Forced, p.BeforeID = true, uint64(st.ID)
		if err := ops.SetProgress(r, p); err != nil {
			return err
		}
		fallthrough
	case st.ID == 0 || uint64(st.ID) == p.BeforeID:
		if st.Running {
			if err := s.tearDown(ctx, name, s.hv.Reset); err != nil {
				return err
			}
		}
	}
	if err := s.markDone(p.EscalatedBy, r.Op().ID); err != nil {
		return err
	}
	return s.startDomain(ctx, r)
}

// markDone records in force reboot forceID, still waiting, that the reset
// it asks for was done by operation by (the graceful reboot it escalated).
func (s *Workflows) markDone(forceID, by int64) error {
	if forceID == 0 {
		return nil
	}
	return s.st.Update(func(tx *store.Tx) error {
		o, ok := tx.Operation(forceID)
		if !ok || o.Type != "vm_reboot" || o.Step != store.StepWait {
			return nil
		}
		p, err := ops.ProgressOf[RebootProgress](o)
		if err != nil {
			return err
		}
		p.DoneBy = by
		if err := ops.PutProgress(&o, p); err != nil {
			return err
		}
		tx.PutOperation(o)
		return nil
	})
}

// waitDown waits until the domain is off, deadline passes, or a force
// operation is queued behind r's (escalatedBy). It reports whether the
// domain is off.
func (s *Workflows) waitDown(ctx context.Context, r *ops.Run, name string, deadline time.Time) (down bool, escalatedBy int64, err error) {
	events, stop := s.hv.Watch(name)
	defer stop()
	for {
		bell := s.force.wait(r.Op().VMID)
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return false, 0, err
		}
		if !st.Running {
			return true, 0, nil
		}
		if by := s.forcedBehind(r.Op()); by != 0 {
			return false, by, nil
		}
		if !time.Now().Before(deadline) {
			return false, 0, nil
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-events:
		case <-bell:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return false, 0, ctx.Err()
		}
		timer.Stop()
	}
}

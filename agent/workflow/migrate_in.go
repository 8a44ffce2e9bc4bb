package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// The target's side: vm_migrate_in, made by the begin call (agent/service
// migration.go) with the records in being_migrated. Its steps follow the
// ticket's phase, which the source's calls move (receiving, preparing,
// prepared, committed) or abort; before the commit every step undoes
// itself, the first thing each undo does being to set the ticket aborted
// (refused once committed), so a commit can never land on a half
// rolled-back VM.

// ErrTicketAborted fails a step of an aborted incoming migration.
var ErrTicketAborted = errors.New("the migration was aborted")

func (s *Workflows) registerMigrateIn() {
	for _, typ := range []string{"vm_migrate_in", "disk_migrate_in", "iface_migrate_in"} {
		s.registerMigrateInAs(typ)
	}
}

// registerMigrateInAs registers the incoming side as typ: a VM's, a
// detached disk's or a detached iface's (the steps without a VM skip
// what needs one).
func (s *Workflows) registerMigrateInAs(typ string) {
	s.eng.Register(typ, ops.Workflow{
		Steps: []ops.Step{
			{Name: "volumes", Do: s.inVolumes, Undo: s.inUndoVolumes},
			{Name: "receive", Do: s.inWait(store.TicketPreparing, store.TicketPrepared, store.TicketCommitted), Undo: s.inAbort},
			{Name: "define", Do: s.inDefine, Undo: s.inUndefine},
			{Name: "prepared", Do: s.inPrepared, Undo: s.inAbort},
			{Name: "await_commit", Do: s.inWait(store.TicketCommitted), Undo: s.inAbort},
			// Committed: the VM is this host's now, whatever fails.
			// Committed: the VM is this host's alone and nothing else
			// will run it; a start a loaded host did not finish in
			// time is tried again, never left to an ERROR.
			{Name: "start", Do: s.forward("starting the vm after the commit", s.inStart), NoReturn: true},
			{Name: "finish", Do: s.inFinish, NoReturn: true, Atomic: true},
		},
		Abandon: abandonMigrateIn,
	})
}

// ticketOf reads the operation's ticket.
func ticketOf(tx *store.Tx, op store.Operation) (store.Ticket, error) {
	in, err := ops.InputOf[VMMigrateIn](op)
	if err != nil {
		return store.Ticket{}, err
	}
	t, ok := tx.Ticket(in.TicketID)
	if !ok {
		return t, fmt.Errorf("ticket %d of operation %d is gone", in.TicketID, op.ID)
	}
	return t, nil
}

func (s *Workflows) ticket(r *ops.Run) (store.Ticket, error) {
	var t store.Ticket
	var err error
	s.st.View(func(tx *store.Tx) { t, err = ticketOf(tx, r.Op()) })
	return t, err
}

// AbortTicket sets ticket t aborted in tx, unless it committed: the one
// rule that makes commit and abort exclude each other. It reports
// whether the ticket is aborted now.
func AbortTicket(tx *store.Tx, t store.Ticket, why string) bool {
	switch t.Phase {
	case store.TicketCommitted:
		return false
	case store.TicketAborted:
		return true
	}
	t.Phase, t.Why, t.DateUpdated = store.TicketAborted, why, now()
	tx.PutTicket(t)
	return true
}

// inAbort is the first thing every undo does: the ticket aborted, or the
// rollback fails (it committed: what is here is the VM's only copy).
func (s *Workflows) inAbort(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		t, err := ticketOf(tx, *op)
		if err != nil {
			return err
		}
		why := op.LastError
		if why == "" {
			why = "rolled back on the target"
		}
		if !AbortTicket(tx, t, why) {
			return errors.New("the migration committed: not rolling it back")
		}
		return nil
	})
}

// inVolumes makes the volumes the data arrives in, marked by the
// operation, then tells the source it may send (ready).
func (s *Workflows) inVolumes(ctx context.Context, r *ops.Run) error {
	t, err := s.ticket(r)
	if err != nil {
		return err
	}
	if t.Phase == store.TicketAborted {
		return ErrTicketAborted
	}
	for _, d := range t.Disks {
		// The disk's own size, not the ticket's (an upper bound): a
		// larger volume would show the guest room its record does not
		// know, and what it wrote there would not travel back.
		size := d.SizeMB
		s.st.View(func(tx *store.Tx) {
			if rec, ok := tx.Disk(d.ID); ok && rec.SizeMB > 0 && rec.SizeMB < size {
				size = rec.SizeMB
			}
		})
		if err := s.vols.Create(ctx, VolumeName(d.ID), size, s.mark(r.Op().ID)); err != nil {
			return fmt.Errorf("creating disk %d's volume: %w", d.ID, err)
		}
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		t, err := ticketOf(tx, *op)
		if err != nil {
			return err
		}
		if t.Phase == store.TicketAborted {
			return ErrTicketAborted
		}
		t.Ready, t.DateUpdated = true, now()
		tx.PutTicket(t)
		return nil
	})
}

func (s *Workflows) inUndoVolumes(ctx context.Context, r *ops.Run) error {
	if err := s.inAbort(ctx, r); err != nil {
		return err
	}
	t, err := s.ticket(r)
	if err != nil {
		return err
	}
	var errs []error
	if r.Op().VMID != 0 {
		// The first step's undo runs last: a domain defined by a define
		// step whose beginning the journal lost goes too.
		errs = append(errs, s.undefineDomain(ctx, r), s.removeSeed(ctx, r))
	}
	for _, d := range t.Disks {
		errs = append(errs, s.vols.Delete(ctx, VolumeName(d.ID), s.mark(r.Op().ID)))
	}
	if s.cfg.MemoryDir != "" {
		errs = append(errs, removeFile(s.memoryInPath(r.Op().ID)))
	}
	return errors.Join(errs...)
}

// inWait waits until the ticket reaches one of phases; aborted fails the
// step (the rollback follows), and so does a source silent for
// IdleAbort.
func (s *Workflows) inWait(phases ...string) func(ctx context.Context, r *ops.Run) error {
	return func(ctx context.Context, r *ops.Run) error {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			t, err := s.ticket(r)
			if err != nil {
				return err
			}
			for _, p := range phases {
				if t.Phase == p {
					return nil
				}
			}
			if t.Phase == store.TicketAborted {
				return fmt.Errorf("%w: %s", ErrTicketAborted, t.Why)
			}
			if time.Since(t.DateUpdated) > IdleAbort {
				return fmt.Errorf("the source was silent for %s", IdleAbort)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
}

// inDefine writes the VM's first-boot seed if it has one (the same
// instance-id it had: the UUID came along) and defines the domain, not
// started, from the records; when the VM's saved memory came whole, it
// restores the domain from it instead, paused (the start step resumes
// it). A restore that fails rolls back: the source then restores its own
// copy.
func (s *Workflows) inDefine(ctx context.Context, r *ops.Run) error {
	if r.Op().VMID == 0 {
		return nil
	}
	if err := s.writeSeed(ctx, r); err != nil {
		return err
	}
	t, err := s.ticket(r)
	if err != nil {
		return err
	}
	if m, ok := t.Received[MemoryID]; !ok || !m.Complete {
		return s.defineDomain(ctx, r)
	}
	name := DomainName(r.Op().VMID)
	if st, err := s.hv.State(ctx, name); err != nil {
		return err
	} else if st.Running {
		return nil // restored by a run before a crash
	}
	spec, err := s.DomainSpec(r.Op().VMID)
	if err != nil {
		return err
	}
	began := time.Now()
	if err := s.hv.Restore(ctx, s.memoryInPath(r.Op().ID), spec, true); err != nil {
		// A restore whose answer was lost may have done its work: one that
		// failed leaves nothing running.
		if st, serr := s.hv.State(ctx, name); ctx.Err() != nil || serr != nil || !st.Running {
			return fmt.Errorf("restoring vm %d from its saved memory: %w", r.Op().VMID, err)
		}
		s.log.Warn("migration: the restore answered an error but the vm runs", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "err", err)
	}
	s.log.Info("migration: vm restored, paused", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

func (s *Workflows) inUndefine(ctx context.Context, r *ops.Run) error {
	if err := s.inAbort(ctx, r); err != nil {
		return err
	}
	if r.Op().VMID == 0 {
		return nil
	}
	if err := s.undefineDomain(ctx, r); err != nil {
		return err
	}
	if err := removeFile(s.memoryInPath(r.Op().ID)); err != nil {
		return err
	}
	return s.removeSeed(ctx, r)
}

// inPrepared answers the source's prepare: the domain is defined.
func (s *Workflows) inPrepared(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		t, err := ticketOf(tx, *op)
		if err != nil {
			return err
		}
		switch t.Phase {
		case store.TicketAborted:
			return fmt.Errorf("%w: %s", ErrTicketAborted, t.Why)
		case store.TicketPreparing:
			t.Phase, t.DateUpdated = store.TicketPrepared, now()
			tx.PutTicket(t)
		}
		return nil
	})
}

// inStart starts the VM if it ran on the source, and plugs its vifs
// (same MAC, addresses, bandwidth, filters: the records came along). A
// restored one is paused: its vifs are plugged first, so the guest's
// first packets go through, then it resumes. The ticket then says
// started: the commit's answer waits for it.
func (s *Workflows) inStart(ctx context.Context, r *ops.Run) error {
	t, err := s.ticket(r)
	if err != nil || !t.Start || r.Op().VMID == 0 {
		return err
	}
	name := DomainName(r.Op().VMID)
	st, err := s.hv.State(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case st.Running && st.Paused:
		if err := s.wireStep(ctx, r); err != nil {
			return err
		}
		if err := s.hv.Resume(ctx, name); err != nil {
			return err
		}
	case st.Running:
		// A try abandoned at its deadline that libvirt finished.
		if err := s.wireStep(ctx, r); err != nil {
			return err
		}
	default:
		if err := s.startDomain(ctx, r); err != nil {
			return err
		}
		if err := s.wireStep(ctx, r); err != nil {
			return err
		}
	}
	if s.cfg.MemoryDir != "" {
		if err := removeFile(s.memoryInPath(r.Op().ID)); err != nil {
			s.log.Warn("migration: removing the received memory file", "op_id", r.Op().ID, "err", err)
		}
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		t, err := ticketOf(tx, *op)
		if err != nil {
			return err
		}
		t.Started = true
		tx.PutTicket(t)
		return nil
	})
}

// inFinish takes the records out of being_migrated (and the memory file
// away, if the start left it: a VM that did not run on the source).
func (s *Workflows) inFinish(ctx context.Context, r *ops.Run) error {
	if s.cfg.MemoryDir != "" {
		if err := removeFile(s.memoryInPath(r.Op().ID)); err != nil {
			return err
		}
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		t, err := ticketOf(tx, *op)
		if err != nil {
			return err
		}
		settle(tx, t, *op)
		return nil
	})
}

// settle makes the records of a committed migration ordinary ones.
func settle(tx *store.Tx, t store.Ticket, op store.Operation) {
	if v, ok := tx.VM(op.VMID); ok && v.State == store.VMBeingMigrated {
		v.State = store.VMHalted
		if t.Start {
			v.State = store.VMRunning
		}
		v.DateUpdated = now()
		tx.PutVM(v)
	}
	for _, d := range t.Disks {
		if x, ok := tx.Disk(d.ID); ok && x.State == store.DiskBeingMigrated {
			x.State, x.DateUpdated = store.DiskCreated, now()
			tx.PutDisk(x)
		}
	}
	for _, ti := range t.Ifaces {
		i, ok := tx.Iface(ti.ID)
		if !ok || i.State != store.IfaceBeingCreated {
			continue
		}
		i.State = store.IfaceFree
		if i.VMID != 0 {
			i.State = store.IfaceUsed
		}
		i.DateUpdated = now()
		tx.PutIface(i)
		for _, id := range i.IPIDs {
			if ip, ok := tx.IP(id); ok {
				ip.State, ip.DateUpdated = "created", now()
				tx.PutIP(ip)
			}
		}
	}
}

// abandonMigrateIn runs with the operation's ERROR or CANCEL. Before the
// commit, the ticket is aborted and the records begin made go (the undo
// steps removed the volumes and the domain); after it (a start that
// failed), the records stay, the VM halted: it lives here now.
func abandonMigrateIn(tx *store.Tx, op store.Operation) {
	t, err := ticketOf(tx, op)
	if err != nil {
		return
	}
	if !AbortTicket(tx, t, op.LastError) {
		t.Start = false
		settle(tx, t, op)
		return
	}
	for _, ti := range t.Ifaces {
		if i, ok := tx.Iface(ti.ID); ok && i.State == store.IfaceBeingCreated {
			for _, id := range i.IPIDs {
				tx.DeleteIP(id)
			}
			tx.DeleteIface(i.ID)
		}
	}
	for _, d := range t.Disks {
		if x, ok := tx.Disk(d.ID); ok && x.State == store.DiskBeingMigrated {
			tx.DeleteDisk(d.ID)
		}
	}
	if v, ok := tx.VM(op.VMID); ok && v.State == store.VMBeingMigrated {
		tx.DeleteVM(v.ID)
	}
}

// VolumeWriter opens volume name to receive a disk's data from another
// agent (host.Extents' receive side: what is not written stays
// unallocated).
func (s *Workflows) VolumeWriter(ctx context.Context, name string) (host.VolumeWriter, error) {
	if s.ext == nil {
		return nil, errors.New("the storage backend cannot receive a volume's extents")
	}
	return s.ext.Writer(ctx, name)
}

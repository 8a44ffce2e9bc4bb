package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// registerMigrate registers both sides of a migration.
func (s *Workflows) registerMigrate() {
	// Before handover every step undoes itself (the rollback aborts on
	// the target, deletes the snapshots and starts the VM again if it
	// ran); handover and cleanup have no return, and retry until they
	// are through (the VM must not stay recorded on both hosts).
	s.eng.Register("vm_migrate", ops.Workflow{Steps: []ops.Step{
		{Name: "begin", Do: s.migBegin, Undo: s.migAbortTarget},
		{Name: "snapshot", Do: s.migSnapshot, Undo: s.migDeleteSnapshots},
		{Name: "precopy", Do: s.migSend(PassPrecopy)},
		{Name: "stop", Do: s.migStop, Undo: s.migRestart},
		{Name: "delta", Do: s.migSend(PassDelta)},
		{Name: "prepare", Do: s.migPrepare},
		{Name: "handover", Do: s.migHandover, NoReturn: true, Prepare: ops.PrepareProgress(func(p *VMMigrateProgress) { p.HandingOver = true })},
		{Name: "cleanup", Do: s.forward("cleaning up after the target committed", s.migCleanup), NoReturn: true},
		{Name: "forget", Do: s.migForget, NoReturn: true, Atomic: true},
	}})
	// A detached disk has no writer (the operation holds it): its data
	// goes once, as the final pass. A detached iface has no data at all.
	s.eng.Register("disk_migrate", ops.Workflow{Steps: []ops.Step{
		{Name: "begin", Do: s.migBegin, Undo: s.migAbortTarget},
		{Name: "send", Do: s.migSend(PassDelta)},
		{Name: "prepare", Do: s.migPrepare},
		{Name: "handover", Do: s.migHandover, NoReturn: true, Prepare: ops.PrepareProgress(func(p *VMMigrateProgress) { p.HandingOver = true })},
		{Name: "cleanup", Do: s.forward("cleaning up after the target committed", s.migCleanup), NoReturn: true},
		{Name: "forget", Do: s.migForget, NoReturn: true, Atomic: true},
	}})
	s.eng.Register("iface_migrate", ops.Workflow{Steps: []ops.Step{
		{Name: "begin", Do: s.migBegin, Undo: s.migAbortTarget},
		{Name: "prepare", Do: s.migPrepare},
		{Name: "handover", Do: s.migHandover, NoReturn: true, Prepare: ops.PrepareProgress(func(p *VMMigrateProgress) { p.HandingOver = true })},
		{Name: "forget", Do: s.migForget, NoReturn: true, Atomic: true},
	}})
	s.registerMigrateIn()
}

// migTarget is the operation's target and ticket.
func (s *Workflows) migTarget(r *ops.Run) (Target, error) {
	in, err := ops.Input[VMMigrate](r)
	if err != nil {
		return Target{}, err
	}
	t := Target{URL: in.Target, Ticket: r.Op().Secrets["ticket"]}
	if s.cfg.Peer == nil || s.cfg.Sender == nil {
		return t, errors.New("this agent has no migration client configured")
	}
	if t.URL == "" || t.Ticket == "" {
		return t, errors.New("the operation names no target or no ticket")
	}
	return t, nil
}

// Bundle reads the records that move with VM vmID.
func (s *Workflows) Bundle(vmID int64) (Bundle, error) {
	b := Bundle{Version: BundleVersion}
	var err error
	s.st.View(func(tx *store.Tx) {
		v, ok := tx.VM(vmID)
		if !ok {
			err = fmt.Errorf("vm %d has no record", vmID)
			return
		}
		// The VM keeps its domain UUID, and with it the instance-id of
		// its first-boot seed: a guest seeing another would run its
		// first boot again (new host keys, its password reset).
		v.UUID = s.vmUUID(v)
		b.VM = &v
		for _, id := range v.DiskIDs {
			if d, ok := tx.Disk(id); ok {
				b.Disks = append(b.Disks, d)
			}
		}
		for _, id := range v.IfaceIDs {
			i, ok := tx.Iface(id)
			if !ok {
				continue
			}
			i.Dev, i.DevCounted = "", store.Traffic{} // this host's device
			b.Ifaces = append(b.Ifaces, i)
			for _, ipID := range i.IPIDs {
				if ip, ok := tx.IP(ipID); ok {
					b.IPs = append(b.IPs, ip)
				}
			}
		}
	})
	return b, err
}

// opBundle is what the operation moves: its VM with everything of it,
// or its detached disk, or its detached iface with its addresses.
func (s *Workflows) opBundle(op store.Operation) (Bundle, error) {
	if op.VMID != 0 {
		return s.Bundle(op.VMID)
	}
	b := Bundle{Version: BundleVersion}
	var err error
	s.st.View(func(tx *store.Tx) {
		switch {
		case op.DiskID != 0:
			d, ok := tx.Disk(op.DiskID)
			if !ok {
				err = fmt.Errorf("disk %d has no record", op.DiskID)
				return
			}
			b.Disks = append(b.Disks, d)
		case op.IfaceID != 0:
			i, ok := tx.Iface(op.IfaceID)
			if !ok {
				err = fmt.Errorf("iface %d has no record", op.IfaceID)
				return
			}
			i.Dev, i.DevCounted = "", store.Traffic{}
			b.Ifaces = append(b.Ifaces, i)
			for _, id := range i.IPIDs {
				if ip, ok := tx.IP(id); ok {
					b.IPs = append(b.IPs, ip)
				}
			}
		}
	})
	return b, err
}

// migBegin hands the records to the target, which checks them against
// its ticket and makes its side (idempotent there: a retry answers the
// same operation).
func (s *Workflows) migBegin(ctx context.Context, r *ops.Run) error {
	t, err := s.migTarget(r)
	if err != nil {
		return err
	}
	b, err := s.opBundle(r.Op())
	if err != nil {
		return err
	}
	var why string
	b.Memory, why = s.memoryOffer(ctx, r.Op())
	st, err := s.cfg.Peer.Begin(ctx, t, b)
	if b.Memory != nil && errors.Is(err, ErrPeerRefused) && strings.Contains(err.Error(), `unknown field "memory"`) {
		// An agent older than live moves refuses the offer's field: move
		// cold, asking again without it.
		b.Memory, why = nil, "the target is an agent older than live moves"
		st, err = s.cfg.Peer.Begin(ctx, t, b)
	}
	if err != nil {
		return errPeer(t, "beginning", err)
	}
	p, err := ops.Progress[VMMigrateProgress](r)
	if err != nil {
		return err
	}
	// Total is known pass by pass, from the extents each sends.
	p.TargetOp = st.OpID
	p.Live, p.LiveWhy = b.Memory != nil && st.Live, why
	if b.Memory != nil && !st.Live {
		p.LiveWhy = st.LiveWhy
		if p.LiveWhy == "" {
			p.LiveWhy = "the target does not restore saved memory (an agent older than live moves)"
		}
	}
	p.Kept, p.KeptKnown = st.Kept, true
	return ops.SetProgress(r, p)
}

// migAbortTarget aborts the transfer on the target. Before handover the
// source never asked for the commit, so the target can never commit: an
// unreachable target is left to abort on its own (IdleAbort), and the
// rollback goes on.
func (s *Workflows) migAbortTarget(ctx context.Context, r *ops.Run) error {
	t, err := s.migTarget(r)
	if err != nil {
		return nil // nothing was begun
	}
	why := r.Op().LastError
	if why == "" {
		why = "the source rolled back"
	}
	deadline, backoff := time.Now().Add(abortFor), 500*time.Millisecond
	for {
		_, err = s.cfg.Peer.Abort(ctx, t, why)
		switch {
		case err == nil, errors.Is(err, ErrPeerAborted):
			return nil
		case errors.Is(err, ErrPeerCommitted):
			// Cannot be: the commit is asked only after handover, which
			// has no undo. Refuse to start the VM here.
			return errPeer(t, "aborting", err)
		case errors.Is(err, ErrPeerRefused) || time.Now().After(deadline) || ctx.Err() != nil:
			s.log.Warn("migration: the target did not take the abort; it aborts on its own when idle",
				"op_id", r.Op().ID, "target", t.URL, "err", err)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// abortFor is how long a rollback asks an unreachable target to abort
// before it leaves that to the target's idle timer (IdleAbort).
var abortFor = 30 * time.Second

// migDisks are the disks that move: id, volume, size.
func (s *Workflows) migDisks(op store.Operation) ([]store.Disk, error) {
	b, err := s.opBundle(op)
	return b.Disks, err
}

func (s *Workflows) mark(opID int64) host.Mark { return host.Mark{Owner: s.st.Instance(), Op: opID} }

// migSnapshot makes a snapshot of every disk, marked by the operation,
// which the precopy reads while the VM runs.
func (s *Workflows) migSnapshot(ctx context.Context, r *ops.Run) error {
	disks, err := s.migDisks(r.Op())
	if err != nil {
		return err
	}
	for _, d := range disks {
		if err := s.vols.Clone(ctx, d.Volume, MigrationSnapshot(d.ID, r.Op().ID), d.SizeMB, s.mark(r.Op().ID)); err != nil {
			return fmt.Errorf("snapshotting disk %d: %w", d.ID, err)
		}
	}
	return nil
}

func (s *Workflows) migDeleteSnapshots(ctx context.Context, r *ops.Run) error {
	disks, err := s.migDisks(r.Op())
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range disks {
		errs = append(errs, s.vols.Delete(ctx, MigrationSnapshot(d.ID, r.Op().ID), s.mark(r.Op().ID)))
	}
	return errors.Join(errs...)
}

// migSend sends every disk for one pass: the snapshots' allocated
// extents for the precopy, the extents changed since for the delta (the
// VM stopped), each resumed where the target says it stands.
func (s *Workflows) migSend(pass string) func(ctx context.Context, r *ops.Run) error {
	return func(ctx context.Context, r *ops.Run) error {
		t, err := s.migTarget(r)
		if err != nil {
			return err
		}
		disks, err := s.migDisks(r.Op())
		if err != nil {
			return err
		}
		st, err := s.cfg.Peer.State(ctx, t)
		if err != nil {
			return errPeer(t, "reading the transfer's state", err)
		}
		if st.Phase == "aborted" {
			return errPeer(t, "sending", ErrPeerAborted)
		}
		p, err := ops.Progress[VMMigrateProgress](r)
		if err != nil {
			return err
		}
		dps, err := s.diskPasses(ctx, r.Op(), pass, disks)
		if err != nil {
			return err
		}
		// What the passes before this one sent: a step run again counts
		// from there, not from what it journalled half-way.
		var sent int64
		if pass == PassDelta && passes(r.Op()) == 2 {
			sent = p.Precopy
		}
		p.Sent, p.Total = sent, sent
		if pass == PassDelta && p.Mode == ModeLive {
			mp, err := memoryPass(p.MemoryPath)
			if err != nil {
				return err
			}
			p.MemoryBytes = mp.Size
			dps = append(dps, mp)
		}
		for _, dp := range dps {
			p.Total += host.ExtentBytes(dp.Extents)
		}
		last := time.Now()
		for _, dp := range dps {
			err := s.cfg.Sender.Send(ctx, t, dp, func(pp PassProgress) {
				if time.Since(last) < time.Second {
					return
				}
				last = time.Now()
				p.Sent, p.Rate, p.ETA = sent+pp.Done, pp.Rate, 0
				if pp.Rate > 0 {
					p.ETA = int64(float64(p.Total-p.Sent) / pp.Rate)
				}
				_ = r.Update(func(tx *store.Tx, op *store.Operation) error {
					op.ETA = p.ETA
					return ops.PutProgress(op, p)
				})
			})
			if err != nil {
				if dp.Pass == PassMemory {
					return errPeer(t, "sending the memory", err)
				}
				return errPeer(t, fmt.Sprintf("sending disk %d (%s)", dp.DiskID, pass), err)
			}
			sent += host.ExtentBytes(dp.Extents)
		}
		p.Sent, p.ETA = sent, 0
		if pass == PassPrecopy {
			p.Precopy = sent
		}
		return ops.SetProgress(r, p)
	}
}

// diskPasses is what a pass sends of each disk: for the precopy its
// migration snapshot's allocated extents, onto the fresh volume; for a
// VM's delta the volume's extents changed since that snapshot, onto the
// precopy; for a detached disk's only pass its volume's allocated
// extents. Extents past the disk's size (a backend's rounding) are not
// the disk's and are cut.
func (s *Workflows) diskPasses(ctx context.Context, op store.Operation, pass string, disks []store.Disk) ([]DiskPass, error) {
	if s.ext == nil {
		return nil, errors.New("the storage backend cannot list a volume's extents, which sending a disk needs")
	}
	out := make([]DiskPass, 0, len(disks))
	for _, d := range disks {
		dp := DiskPass{DiskID: d.ID, Pass: pass, Size: d.SizeMB << 20}
		snap := MigrationSnapshot(d.ID, op.ID)
		var err error
		switch {
		case pass == PassPrecopy:
			dp.Path = s.vols.Path(snap)
			dp.Extents, err = s.ext.Allocated(ctx, snap)
		case op.VMID != 0:
			dp.Base, dp.Path = PassPrecopy, s.vols.Path(d.Volume)
			dp.Extents, err = s.ext.Changed(ctx, snap, d.Volume)
		default:
			dp.Path = s.vols.Path(d.Volume)
			dp.Extents, err = s.ext.Allocated(ctx, d.Volume)
		}
		if err != nil {
			return nil, fmt.Errorf("listing disk %d's extents for the %s: %w", d.ID, pass, err)
		}
		dp.Extents = host.ClipExtents(dp.Extents, dp.Size)
		out = append(out, dp)
	}
	return out, nil
}

// migStop stops the VM for the delta, after journalling whether it ran
// (the rollback starts it again then, and the commit asks the target to
// start it) and how: a live move saves it, its memory file's path
// journalled first; a cold one shuts it down (gracefully, then hard).
// A save that fails leaves the VM running: the move goes on cold.
func (s *Workflows) migStop(ctx context.Context, r *ops.Run) error {
	p, err := ops.Progress[VMMigrateProgress](r)
	if err != nil {
		return err
	}
	name := DomainName(r.Op().VMID)
	if !p.Stopped {
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		p.Stopped, p.Running, p.StoppedAt = true, st.Running, time.Now().UTC()
		p.Mode, p.ModeReason = ModeCold, p.LiveWhy
		switch {
		case !st.Running:
			p.ModeReason = "the vm was not running"
		case p.Live:
			p.Mode, p.ModeReason, p.MemoryPath = ModeLive, "", s.memoryOutPath(r.Op().ID)
		case p.ModeReason == "":
			p.ModeReason = "the target did not offer to restore the memory"
		}
		if err := ops.SetProgress(r, p); err != nil {
			return err
		}
	}
	if p.Mode == ModeLive {
		began := time.Now()
		err := s.saveForMove(ctx, name, p.MemoryPath)
		if err == nil {
			s.log.Info("migration: vm saved", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "took", time.Since(began).Round(time.Millisecond))
			return s.unplugVM(ctx, r)
		}
		if ctx.Err() != nil {
			return err
		}
		s.log.Warn("migration: saving the vm failed; moving it cold", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "err", err)
		p.Mode, p.ModeReason, p.MemoryPath = ModeCold, "saving the memory failed: "+err.Error(), ""
		if err := ops.SetProgress(r, p); err != nil {
			return err
		}
	}
	st, err := s.hv.State(ctx, name)
	if err != nil || !st.Running {
		return err
	}
	if err := s.hv.Shutdown(ctx, name); err == nil {
		wctx, cancel := context.WithTimeout(ctx, max(s.cfg.Timeouts.Stop, time.Second))
		_, err = s.hv.WaitFor(wctx, name, func(st host.State) bool { return !st.Running })
		cancel()
		if err == nil {
			return s.unplugVM(ctx, r)
		}
	}
	if err := s.powerOff(ctx, name); err != nil {
		return err
	}
	return s.unplugVM(ctx, r)
}

// migRestart starts the VM again if it ran before the stop (a rollback
// before handover, or the target's abort after it): from its memory file
// when it was saved, so the guest goes on where it was; a file that will
// not restore (or is gone) leaves a cold boot, which at least runs it.
func (s *Workflows) migRestart(ctx context.Context, r *ops.Run) error {
	p, err := ops.Progress[VMMigrateProgress](r)
	if err != nil || !p.Running || r.Op().VMID == 0 {
		return err
	}
	if p.Mode == ModeLive && p.MemoryPath != "" {
		err := s.restoreHere(ctx, r, p.MemoryPath)
		if err == nil || ctx.Err() != nil {
			return err
		}
		s.log.Warn("migration: restoring the vm from its memory failed; booting it", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "err", err)
		if rerr := removeFile(p.MemoryPath); rerr != nil {
			s.log.Warn("migration: removing the memory file", "op_id", r.Op().ID, "err", rerr)
		}
	}
	if err := s.startDomain(ctx, r); err != nil {
		return err
	}
	return s.wireStep(ctx, r)
}

// migPrepare asks the target to define the domain; it answers prepared
// once it did (or preparing: asked again).
func (s *Workflows) migPrepare(ctx context.Context, r *ops.Run) error {
	t, err := s.migTarget(r)
	if err != nil {
		return err
	}
	for {
		st, err := s.cfg.Peer.Prepare(ctx, t)
		if err != nil {
			return errPeer(t, "preparing", err)
		}
		if st.Phase == "prepared" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// migHandover asks the target to commit, "handing over" journalled
// before (the step's Prepare). It returns only on the target's answer:
// committed goes on to cleanup; aborted starts the VM here again and
// fails the operation; anything else (no answer) is retried with
// backoff, the VM stopped, operation.info saying why.
func (s *Workflows) migHandover(ctx context.Context, r *ops.Run) error {
	t, err := s.migTarget(r)
	if err != nil {
		return err
	}
	p, err := ops.Progress[VMMigrateProgress](r)
	if err != nil {
		return err
	}
	if !p.HandingOver {
		return errors.New("handover began without its journal record")
	}
	backoff := time.Second
	for {
		cst, err := s.cfg.Peer.Commit(ctx, t, p.Running)
		switch {
		case err == nil, errors.Is(err, ErrPeerCommitted):
			p.Committed = true
			// The target answers once the VM runs there (Started), so
			// the downtime ends at its start or resume; an answer
			// without (the target took long, or is older) ends it here.
			if !cst.Started && err == nil {
				s.log.Info("migration: the target committed before the vm ran there; downtime measured to the commit", "op_id", r.Op().ID)
			}
			if !p.StoppedAt.IsZero() && p.DowntimeMS == 0 {
				p.DowntimeMS = time.Since(p.StoppedAt).Milliseconds()
			}
			return r.Update(func(tx *store.Tx, op *store.Operation) error {
				op.LastError = ""
				return ops.PutProgress(op, p)
			})
		case errors.Is(err, ErrPeerAborted):
			// The target can never commit now: the VM is ours again.
			if rerr := s.migRestart(ctx, r); rerr != nil {
				return fmt.Errorf("%w; starting the vm here again failed: %v", errPeer(t, "committing", err), rerr)
			}
			if derr := s.migDeleteSnapshots(ctx, r); derr != nil {
				s.log.Warn("migration: deleting the snapshots", "op_id", r.Op().ID, "err", derr)
			}
			return errPeer(t, "committing", err)
		}
		why := fmt.Sprintf("handing over to %s: %v; retrying in %s (the vm stays stopped until the target answers)", t.URL, err, backoff)
		s.log.Warn("migration: commit unanswered", "op_id", r.Op().ID, "target", t.URL, "err", err)
		if uerr := r.Update(func(tx *store.Tx, op *store.Operation) error { op.LastError = why; return nil }); uerr != nil {
			return uerr
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// forward runs a step past the commit until it succeeds, with backoff,
// operation.info saying why meanwhile: ending in ERROR would leave this
// host records of a VM that lives on the target, which a call could then
// start here too.
func (s *Workflows) forward(what string, do func(ctx context.Context, r *ops.Run) error) func(ctx context.Context, r *ops.Run) error {
	return func(ctx context.Context, r *ops.Run) error {
		backoff := time.Second
		for {
			err := do(ctx, r)
			if err == nil || errors.Is(err, store.ErrUnwritable) || ctx.Err() != nil {
				return err
			}
			s.log.Warn("migration: "+what+" failed; retrying", "op_id", r.Op().ID, "err", err, "in", backoff)
			why := fmt.Sprintf("%s: %v; retrying in %s", what, err, backoff)
			if uerr := r.Update(func(tx *store.Tx, op *store.Operation) error { op.LastError = why; return nil }); uerr != nil {
				return uerr
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
		}
	}
}

// migCleanup removes this host's side once the target committed: the
// domain, the wiring, the volumes and the snapshots.
func (s *Workflows) migCleanup(ctx context.Context, r *ops.Run) error {
	if r.Op().VMID != 0 {
		if err := s.migCleanupDomain(ctx, r); err != nil {
			return err
		}
	}
	if err := s.migDeleteSnapshots(ctx, r); err != nil {
		return err
	}
	if p, err := ops.Progress[VMMigrateProgress](r); err != nil {
		return err
	} else if err := removeFile(p.MemoryPath); err != nil {
		return fmt.Errorf("removing the memory file: %w", err)
	}
	disks, err := s.migDisks(r.Op())
	if err != nil {
		return err
	}
	for _, d := range disks {
		// Any operation of this agent made it.
		if err := s.vols.Delete(ctx, d.Volume, host.Mark{Owner: s.st.Instance()}); err != nil {
			return fmt.Errorf("deleting disk %d's volume: %w", d.ID, err)
		}
	}
	return nil
}

// migCleanupDomain removes a moved VM's domain and wiring.
func (s *Workflows) migCleanupDomain(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	// A domain of that name carrying another agent's mark is not this
	// agent's to stop or remove: on a libvirtd two agents share (tests
	// that move between agents on one host), the target's definition
	// replaced this one when it defined or restored the VM.
	doms, err := s.hv.Domains(ctx)
	if err != nil {
		return err
	}
	for _, d := range doms {
		if d.Name == name && d.Owner != s.st.Instance() {
			s.log.Info("migration: the domain is another agent's now; leaving it", "op_id", r.Op().ID, "domain", name, "owner", d.Owner)
			if err := s.unwireVM(ctx, r); err != nil {
				return err
			}
			return s.removeSeed(ctx, r)
		}
	}
	if st, err := s.hv.State(ctx, name); err != nil {
		return err
	} else if st.Running {
		// Cannot be after the stop step; never leave it running.
		if err := s.powerOff(ctx, name); err != nil {
			return err
		}
	}
	if err := s.unwireVM(ctx, r); err != nil {
		return err
	}
	if err := s.hv.Undefine(ctx, name); err != nil {
		return err
	}
	return s.removeSeed(ctx, r)
}

// migForget removes the records: the VM lives on the target now. An
// address it kept on the target stays held here (ipam.Park: the segment
// is one, this host must not lease it to another VM); one the target
// replaced by its own goes back to its account, as a deleted VM's does.
func (s *Workflows) migForget(ctx context.Context, r *ops.Run) error {
	p, err := ops.Progress[VMMigrateProgress](r)
	if err != nil {
		return err
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		disks, ifaces := []int64{op.DiskID}, []int64{op.IfaceID}
		if v, ok := tx.VM(op.VMID); ok {
			disks, ifaces = v.DiskIDs, v.IfaceIDs
			tx.DeleteVM(v.ID)
		}
		for _, id := range disks {
			tx.DeleteDisk(id)
		}
		for _, id := range ifaces {
			if i, ok := tx.Iface(id); ok {
				for _, ipID := range i.IPIDs {
					ip, ok := tx.IP(ipID)
					if !ok {
						continue
					}
					if !p.KeptKnown || slices.Contains(p.Kept, ip.Addr) {
						ipam.Park(tx, ip.Addr, ip.Version, i.ID)
					} else {
						ipam.Remember(tx, ip)
					}
					tx.DeleteIP(ipID)
				}
			}
			tx.DeleteIface(id)
		}
		return nil
	})
}

// passes is how many times each disk is sent: twice for a VM's (the
// precopy while it runs, the delta once stopped), once for a detached
// disk's.
func passes(op store.Operation) int {
	if op.VMID != 0 {
		return 2
	}
	return 1
}

package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The calls of the target's /migration/v1/ endpoints (agent/api/migration
// decodes them), authenticated by the ticket's secret alone. The ticket's
// phase is the migration's state; commit and abort set their final
// phases in one transaction each, each refusing after the other
// (workflow.AbortTicket), so the VM is kept here or started again on its
// source, never both.

// ticketFor finds the ticket whose secret is secret. Every failure is
// the same refusal, so secrets cannot be probed.
func ticketFor(tx *store.Tx, secret string) (store.Ticket, error) {
	if secret == "" {
		return store.Ticket{}, errBadTicket
	}
	t, ok := tx.TicketBySecret(HashKey(secret))
	if !ok {
		return store.Ticket{}, errBadTicket
	}
	return t, nil
}

var errBadTicket = Errorf(ObjMethod, KindNoRight, "ticket: unknown or expired ticket")

// stateOf is what every call answers.
func stateOf(t store.Ticket) workflow.PeerState {
	st := workflow.PeerState{Phase: t.Phase, OpID: t.OpID, Ready: t.Ready, Why: t.Why, Started: t.Started, Disks: map[int64]workflow.DiskHave{}}
	for _, d := range t.Disks {
		st.Disks[d.ID] = workflow.DiskHave{Pass: t.Received[d.ID].Pass, Have: t.Received[d.ID].Done}
	}
	for _, i := range t.Ifaces {
		if i.Addr != "" {
			st.Kept = append(st.Kept, i.Addr)
		}
	}
	return st
}

// phaseErr refuses a call the ticket's phase does not allow; a face maps
// KindConflict to 409 and the source reads the phase from the message's
// start ("aborted: ...", "committed: ...").
func phaseErr(t store.Ticket, call string) error {
	why := ""
	if t.Why != "" {
		why = " (" + t.Why + ")"
	}
	return Errorf(ObjMethod, KindConflict, "%s: the migration is %s%s; %s refused", t.Phase, t.Phase, why, call)
}

// bundleDigest fingerprints a begin by what it moves (the ids): a
// retry is the same begin even when a counter in its records moved
// meanwhile (an iface's traffic), and the first records stand.
func bundleDigest(b workflow.Bundle) string {
	ids := struct {
		VM            int64
		Disks, Ifaces []int64
	}{}
	if b.VM != nil {
		ids.VM = b.VM.ID
	}
	for _, d := range b.Disks {
		ids.Disks = append(ids.Disks, d.ID)
	}
	for _, i := range b.Ifaces {
		ids.Ifaces = append(ids.Ifaces, i.ID)
	}
	raw, _ := json.Marshal(ids)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// checkBundle checks the source's records against the ticket.
func checkBundle(t store.Ticket, b workflow.Bundle) error {
	if b.Version != workflow.BundleVersion {
		return Invalid(ObjMethod, "version", "records of version %d; this agent reads %d", b.Version, workflow.BundleVersion)
	}
	if t.VMID != 0 {
		if b.VM == nil || b.VM.ID != t.VMID {
			return Invalid(ObjVM, "vm.id", "the ticket admits vm %d", t.VMID)
		}
		if b.VM.AccountID != t.AccountID {
			return Invalid(ObjVM, "vm.account_id", "the ticket admits account %d's vm", t.AccountID)
		}
		if b.VM.Memory <= 0 || b.VM.Cores <= 0 || b.VM.MaxMemory < 0 {
			return Invalid(ObjVM, "vm.memory", "%d MB, %d cores, vm_max_memory %d: must be positive", b.VM.Memory, b.VM.Cores, b.VM.MaxMemory)
		}
		if b.VM.Memory > t.MemoryMB || b.VM.Cores > t.Cores {
			return Invalid(ObjVM, "vm.memory", "%d MB and %d cores; the ticket admits %d MB and %d cores", b.VM.Memory, b.VM.Cores, t.MemoryMB, t.Cores)
		}
		if !slices.Equal(sortedIDs(b.VM.DiskIDs), sortedIDs(ticketDiskIDs(t))) {
			return Invalid(ObjVM, "vm.disk_ids", "%v; the ticket admits disks %v", b.VM.DiskIDs, ticketDiskIDs(t))
		}
		if !slices.Equal(sortedIDs(b.VM.IfaceIDs), sortedIDs(ticketIfaceIDs(t))) {
			return Invalid(ObjVM, "vm.iface_ids", "%v; the ticket admits ifaces %v", b.VM.IfaceIDs, ticketIfaceIDs(t))
		}
	} else if b.VM != nil {
		return Invalid(ObjVM, "vm", "the ticket admits no vm")
	}
	if len(b.Disks) != len(t.Disks) {
		return Invalid(ObjDisk, "disks", "%d disks; the ticket admits %d", len(b.Disks), len(t.Disks))
	}
	// Each admitted id once: a repeated one would leave another
	// admitted id without its record (and its reservation or address
	// behind after an abort).
	if ids := bundleDiskIDs(b); !slices.Equal(sortedIDs(ids), sortedIDs(ticketDiskIDs(t))) {
		return Invalid(ObjDisk, "disks", "ids %v; the ticket admits disks %v, each once", ids, ticketDiskIDs(t))
	}
	if ids := bundleIfaceIDs(b); !slices.Equal(sortedIDs(ids), sortedIDs(ticketIfaceIDs(t))) {
		return Invalid(ObjIface, "ifaces", "ids %v; the ticket admits ifaces %v, each once", ids, ticketIfaceIDs(t))
	}
	for n, d := range b.Disks {
		if d.SizeMB <= 0 {
			return Invalid(ObjDisk, fmt.Sprintf("disks[%d].size", n), "disk %d of %d MB: must be positive", d.ID, d.SizeMB)
		}
		i := slices.IndexFunc(t.Disks, func(x store.TicketDisk) bool { return x.ID == d.ID })
		if i < 0 {
			return Invalid(ObjDisk, fmt.Sprintf("disks[%d].id", n), "the ticket does not admit disk %d", d.ID)
		}
		if d.SizeMB > t.Disks[i].SizeMB || d.AccountID != t.AccountID {
			return Invalid(ObjDisk, fmt.Sprintf("disks[%d].size", n), "disk %d of account %d, %d MB; the ticket admits %d MB of account %d", d.ID, d.AccountID, d.SizeMB, t.Disks[i].SizeMB, t.AccountID)
		}
	}
	if len(b.Ifaces) != len(t.Ifaces) {
		return Invalid(ObjIface, "ifaces", "%d ifaces; the ticket admits %d", len(b.Ifaces), len(t.Ifaces))
	}
	for n, i := range b.Ifaces {
		if !slices.ContainsFunc(t.Ifaces, func(x store.TicketIface) bool { return x.ID == i.ID }) || i.AccountID != t.AccountID {
			return Invalid(ObjIface, fmt.Sprintf("ifaces[%d].id", n), "the ticket does not admit iface %d of account %d", i.ID, i.AccountID)
		}
		// An iface's MAC is its id's, fleet-wide: another would let the
		// arriving VM answer for another tenant's on the bridge.
		if i.MAC != workflow.MAC(i.ID) {
			return Invalid(ObjIface, fmt.Sprintf("ifaces[%d].mac", n), "%q is not iface %d's MAC (%s)", i.MAC, i.ID, workflow.MAC(i.ID))
		}
	}
	return nil
}

func bundleDiskIDs(b workflow.Bundle) []int64 {
	out := make([]int64, len(b.Disks))
	for i, d := range b.Disks {
		out[i] = d.ID
	}
	return out
}

func bundleIfaceIDs(b workflow.Bundle) []int64 {
	out := make([]int64, len(b.Ifaces))
	for i, d := range b.Ifaces {
		out[i] = d.ID
	}
	return out
}

func ticketDiskIDs(t store.Ticket) []int64 {
	out := make([]int64, len(t.Disks))
	for i, d := range t.Disks {
		out[i] = d.ID
	}
	return out
}

func ticketIfaceIDs(t store.Ticket) []int64 {
	out := make([]int64, len(t.Ifaces))
	for i, d := range t.Ifaces {
		out[i] = d.ID
	}
	return out
}

func sortedIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// MigrationBegin is POST /migration/v1/begin: the records, checked
// against the ticket, are made in being_migrated with the vm_migrate_in
// operation that receives the data, in one transaction. A retry with the
// same records answers the same.
func (s *Service) MigrationBegin(ctx context.Context, secret string, b workflow.Bundle) (workflow.PeerState, error) {
	digest := bundleDigest(b)
	var out store.Ticket
	var opID int64
	err := s.st.Update(func(tx *store.Tx) error {
		t, err := ticketFor(tx, secret)
		if err != nil {
			return err
		}
		if t.Phase != store.TicketIssued {
			if t.Digest != digest {
				return Errorf(ObjMethod, KindConflict, "ticket: it began a transfer already (operation %d); a ticket begins one", t.OpID)
			}
			out = t
			return nil
		}
		if !t.Live(time.Now()) {
			return errBadTicket
		}
		if err := checkBundle(t, b); err != nil {
			return err
		}
		if err := s.checkBundleLimits(b); err != nil {
			return err
		}
		if err := s.makeIncoming(tx, &t, b); err != nil {
			return err
		}
		keys := []string{}
		if t.VMID != 0 {
			keys = append(keys, workflow.VMKey(t.VMID))
		}
		for _, d := range t.Disks {
			keys = append(keys, workflow.DiskKey(d.ID))
		}
		for _, i := range t.Ifaces {
			keys = append(keys, workflow.IfaceKey(i.ID))
		}
		sp := opSpec{typ: "vm_migrate_in", vmID: t.VMID, keys: keys, input: workflow.VMMigrateIn{TicketID: t.ID}, eta: 600}
		if t.VMID == 0 && len(t.Disks) == 1 {
			sp.typ, sp.diskID = "disk_migrate_in", t.Disks[0].ID
		}
		if t.VMID == 0 && len(t.Ifaces) == 1 {
			sp.typ, sp.ifaceID = "iface_migrate_in", t.Ifaces[0].ID
		}
		op := s.newOp(tx, t.AccountID, sp)
		opID = op.ID
		t.Phase, t.OpID, t.Digest, t.DateUpdated = store.TicketReceiving, op.ID, digest, now()
		tx.PutTicket(t)
		out = t
		return nil
	})
	if err != nil {
		return workflow.PeerState{}, err
	}
	if opID != 0 {
		s.eng.Enqueue(opID)
		s.log.Info("incoming migration begun", "ticket_id", out.ID, "op_id", opID, "vm_id", out.VMID)
	}
	st := stateOf(out)
	if b.Memory != nil && s.wf != nil {
		// Answered at every begin, a retry's too: the verdict depends on
		// the bundle and this host only.
		st.Live, st.LiveWhy = s.wf.LiveVerdict(b)
	}
	if st.Live && !out.LiveAgreed {
		if err := s.st.Update(func(tx *store.Tx) error {
			t, ok := tx.Ticket(out.ID)
			if !ok {
				return errBadTicket
			}
			t.LiveAgreed = true
			tx.PutTicket(t)
			return nil
		}); err != nil {
			return workflow.PeerState{}, err
		}
	}
	return st, nil
}

// makeIncoming records what arrives, in being_migrated; addresses are
// the ticket's (the same network) or leased from this host's pool.
func (s *Service) makeIncoming(tx *store.Tx, t *store.Ticket, b workflow.Bundle) error {
	at := now()
	if b.VM != nil {
		v := *b.VM
		v.State, v.Domain, v.DatacenterID, v.DateUpdated = store.VMBeingMigrated, workflow.DomainName(v.ID), s.cfg.Datacenter.ID, at
		v.RestartPending = false
		v.ISOID, v.BootType = 0, "" // the source's ISO ids mean nothing here (a VM with one does not move)
		tx.PutVM(v)
	}
	for _, d := range b.Disks {
		d.State, d.Volume, d.DatacenterID, d.DateUpdated = store.DiskBeingMigrated, workflow.VolumeName(d.ID), s.cfg.Datacenter.ID, at
		d.VMID = t.VMID       // the ticket's, whatever the records say
		d.SnapshotProfile = 0 // profiles are per host; the operator sets one again
		d.Source = 0          // the source's disk ids mean nothing here
		if d.Type == store.DiskTypeImage {
			d.Type = store.DiskTypeData
		}
		tx.PutDisk(d)
	}
	for _, i := range b.Ifaces {
		ti := t.Ifaces[slices.IndexFunc(t.Ifaces, func(x store.TicketIface) bool { return x.ID == i.ID })]
		i.State, i.DatacenterID, i.Dev, i.DateUpdated, i.VMID = store.IfaceBeingCreated, s.cfg.Datacenter.ID, "", at, t.VMID
		i.Counted, i.DevCounted = i.Total(), store.Traffic{}
		var ips []int64
		old := map[int64]store.IP{}
		for _, ip := range b.IPs {
			if ip.IfaceID == i.ID {
				old[ip.ID] = ip
			}
		}
		addr, version := ti.Addr, ti.Version
		var a netip.Addr
		var err error
		if addr == "" {
			if a, err = s.leaseAddr(tx, ObjIface, t.AccountID, version); err != nil {
				return err
			}
		} else if a, err = netip.ParseAddr(addr); err != nil {
			return err
		}
		ip := store.IP{AccountID: t.AccountID, DatacenterID: s.cfg.Datacenter.ID, IfaceID: i.ID, Addr: a.String(), Version: version,
			State: "being_created", Reverse: s.reverse(a), DateCreated: at, DateUpdated: at}
		// The address's record keeps its id when it is the same address
		// and the id is free here.
		for id, o := range old {
			if o.Addr == ip.Addr && !tx.HasIP(id) {
				ip.ID, ip.Reverse, ip.DateCreated = id, o.Reverse, o.DateCreated
			}
		}
		if ip.ID == 0 {
			ip.ID = tx.NextID("ip", tx.HasIP)
		}
		tx.PutIP(ip)
		ips = append(ips, ip.ID)
		i.IPIDs = ips
		tx.PutIface(i)
	}
	return nil
}

// MigrationState is GET /migration/v1/state.
func (s *Service) MigrationState(ctx context.Context, secret string) (workflow.PeerState, error) {
	var t store.Ticket
	var err error
	s.st.View(func(tx *store.Tx) { t, err = ticketFor(tx, secret) })
	if err != nil {
		return workflow.PeerState{}, err
	}
	return stateOf(t), nil
}

// MigrationPrepare is POST /migration/v1/prepare: the operation defines
// the domain; the answer is prepared once it did, preparing while it
// does (the source asks again).
func (s *Service) MigrationPrepare(ctx context.Context, secret string) (workflow.PeerState, error) {
	var t store.Ticket
	err := s.st.Update(func(tx *store.Tx) error {
		var err error
		if t, err = ticketFor(tx, secret); err != nil {
			return err
		}
		switch t.Phase {
		case store.TicketPreparing, store.TicketPrepared:
			return nil
		case store.TicketReceiving:
		default:
			return phaseErr(t, "prepare")
		}
		for _, d := range t.Disks {
			if r := t.Received[d.ID]; r.Pass != workflow.PassDelta || !r.Complete {
				return Errorf(ObjDisk, KindConflict, "disks: disk %d holds %d of %d bytes of its %q pass, not its whole %s pass", d.ID, r.Done, r.Total, r.Pass, workflow.PassDelta)
			}
		}
		// A memory file begun must be whole: the domain restores from it.
		if r, ok := t.Received[workflow.MemoryID]; ok && !r.Complete {
			return Errorf(ObjVM, KindConflict, "memory: %d of %d bytes of the saved memory arrived, not all", r.Done, r.Total)
		}
		t.Phase, t.DateUpdated = store.TicketPreparing, now()
		tx.PutTicket(t)
		return nil
	})
	if err != nil {
		return workflow.PeerState{}, err
	}
	// Wait a little for the operation, so the usual answer is prepared.
	deadline := time.Now().Add(10 * time.Second)
	for t.Phase == store.TicketPreparing && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return stateOf(t), nil
		case <-time.After(50 * time.Millisecond):
		}
		s.st.View(func(tx *store.Tx) { t, _ = ticketFor(tx, secret) })
	}
	if t.Phase == store.TicketAborted {
		return workflow.PeerState{}, phaseErr(t, "prepare")
	}
	return stateOf(t), nil
}

// MigrationCommit is POST /migration/v1/commit: committed unless
// aborted, in one transaction; start says the VM ran on the source.
func (s *Service) MigrationCommit(ctx context.Context, secret string, start bool) (workflow.PeerState, error) {
	var t store.Ticket
	err := s.st.Update(func(tx *store.Tx) error {
		var err error
		if t, err = ticketFor(tx, secret); err != nil {
			return err
		}
		switch t.Phase {
		case store.TicketCommitted:
			return nil
		case store.TicketPrepared:
		default:
			return phaseErr(t, "commit")
		}
		t.Phase, t.Start, t.DateUpdated = store.TicketCommitted, start, now()
		tx.PutTicket(t)
		// A VM coming back brings the address this host held for it
		// while it was away (ipam.Park); it is this VM's record's now.
		for _, i := range t.Ifaces {
			if i.Addr != "" {
				ipam.Unpark(tx, i.Addr, i.Version)
			}
		}
		return nil
	})
	if err != nil {
		return workflow.PeerState{}, err
	}
	s.log.Info("incoming migration committed", "ticket_id", t.ID, "op_id", t.OpID, "vm_id", t.VMID)
	// Answer once the VM runs here (its start or resume), within a
	// bound: the source measures the downtime to this answer.
	deadline := time.Now().Add(commitWait)
	for t.Start && !t.Started && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return stateOf(t), nil
		case <-time.After(20 * time.Millisecond):
		}
		s.st.View(func(tx *store.Tx) { t, _ = ticketFor(tx, secret) })
	}
	return stateOf(t), nil
}

// MigrationAbort is POST /migration/v1/abort: aborted unless committed;
// the operation then deletes what begin made and the ticket's
// reservations go with it.
func (s *Service) MigrationAbort(ctx context.Context, secret, why string) (workflow.PeerState, error) {
	var t store.Ticket
	if len(why) > 1024 {
		why = why[:1024]
	}
	err := s.st.Update(func(tx *store.Tx) error {
		var err error
		if t, err = ticketFor(tx, secret); err != nil {
			return err
		}
		if !workflow.AbortTicket(tx, t, "the source aborted: "+why) {
			return phaseErr(t, "abort")
		}
		t, _ = tx.Ticket(t.ID)
		return nil
	})
	if err != nil {
		return workflow.PeerState{}, err
	}
	return stateOf(t), nil
}

// checkBundleLimits applies this host's limits to what the ticket does
// not name: a VM's vm_max_memory, an iface's bandwidth.
func (s *Service) checkBundleLimits(b workflow.Bundle) error {
	if b.VM != nil {
		if err := s.checkMemory("vm.vm_max_memory", b.VM.MaxMemory); err != nil {
			return err
		}
	}
	for n, i := range b.Ifaces {
		if err := s.checkBandwidth(ObjIface, i.Bandwidth); err != nil {
			e := *Classify(err)
			e.Msg = fmt.Sprintf("ifaces[%d].%s", n, e.Msg)
			return &e
		}
	}
	return nil
}

package service

import (
	"context"
	"slices"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The receiving side of PUT /migration/v1/disk/{id} (agent/transfer's
// Receiver, mounted by agent/api/migration): the disk's volume, and its
// receive state journalled in the ticket, in the same bbolt file as the
// phase that decides whether data may still arrive.

// IncomingVolume is a disk a transfer writes: its size, and how to open
// its volume for writing.
type IncomingVolume struct {
	Size int64
	// UpTo, instead of Size, bounds a file of a size the sender tells
	// (a saved memory file).
	UpTo int64
	Open func(ctx context.Context) (host.VolumeWriter, error)
}

// IncomingDisk is the volume disk diskID's data is written to. It is
// admitted while the transfer receives, once its volumes are made.
func (s *Service) IncomingDisk(ctx context.Context, secret string, diskID int64) (IncomingVolume, error) {
	var t store.Ticket
	var d store.Disk
	var err error
	s.st.View(func(tx *store.Tx) {
		if t, err = ticketFor(tx, secret); err == nil {
			d, _ = tx.Disk(diskID)
		}
	})
	if err != nil {
		return IncomingVolume{}, err
	}
	if err := receiving(t, diskID); err != nil {
		return IncomingVolume{}, err
	}
	name := workflow.VolumeName(diskID)
	return IncomingVolume{Size: d.SizeMB << 20, Open: func(ctx context.Context) (host.VolumeWriter, error) {
		return s.wf.VolumeWriter(ctx, name)
	}}, nil
}

// IncomingMemory is the file a VM's saved memory is written to
// (workflow.MemoryID in the ticket's receive journal), admitted like a
// disk while the transfer receives, for a ticket that moves a VM.
func (s *Service) IncomingMemory(ctx context.Context, secret string) (IncomingVolume, error) {
	var t store.Ticket
	var err error
	s.st.View(func(tx *store.Tx) { t, err = ticketFor(tx, secret) })
	if err != nil {
		return IncomingVolume{}, err
	}
	if err := receiving(t, workflow.MemoryID); err != nil {
		return IncomingVolume{}, err
	}
	if !t.LiveAgreed {
		return IncomingVolume{}, Errorf(ObjVM, KindConflict, "memory: this host did not agree to a live move at begin: the move is cold, no memory file may arrive")
	}
	// The room was checked at begin only for a move the target agreed to
	// make live: check it for every stream, so that a peer sending a
	// memory file the move did not offer cannot fill the state's disk.
	bound := s.wf.MemoryBound(t.VMID)
	room, err := s.wf.MemoryRoom()
	if err != nil {
		return IncomingVolume{}, Errorf(ObjVM, KindUnavailable, "memory: %v", err)
	}
	if room < bound {
		return IncomingVolume{}, Errorf(ObjVM, KindQuota, "memory: the file may take %d MiB, %d MiB free where memory is received", bound>>20, room>>20)
	}
	return IncomingVolume{UpTo: bound, Open: func(ctx context.Context) (host.VolumeWriter, error) {
		return s.wf.MemoryWriter(ctx, t.OpID)
	}}, nil
}

// receiving refuses data for a disk the ticket does not move (memory:
// for a ticket without a VM), or when the transfer no longer receives,
// or not yet.
func receiving(t store.Ticket, diskID int64) error {
	switch {
	case t.Phase != store.TicketReceiving:
		return phaseErr(t, "disk data")
	case diskID == workflow.MemoryID && t.VMID == 0:
		return Errorf(ObjVM, KindNotFound, "memory: the ticket moves no vm")
	case diskID != workflow.MemoryID && !slices.Contains(ticketDiskIDs(t), diskID):
		return notFound(ObjDisk, "disk", diskID)
	case !t.Ready:
		return Errorf(ObjDisk, KindBusy, "disk_id: the volumes are being made; retry")
	}
	return nil
}

// ReceiveState is what arrived of disk diskID (the zero value before
// anything did).
func (s *Service) ReceiveState(ctx context.Context, secret string, diskID int64) (store.TicketReceive, error) {
	var t store.Ticket
	var err error
	s.st.View(func(tx *store.Tx) { t, err = ticketFor(tx, secret) })
	if err != nil {
		return store.TicketReceive{}, err
	}
	return t.Received[diskID], nil
}

// SaveReceive journals what arrived of disk diskID, durably (the
// receiver synced the volume before): refused once the transfer stopped
// receiving, so nothing counts as arrived after an abort. The operation
// shows the bytes.
func (s *Service) SaveReceive(ctx context.Context, secret string, diskID int64, r store.TicketReceive) error {
	return s.st.Update(func(tx *store.Tx) error {
		t, err := ticketFor(tx, secret)
		if err != nil {
			return err
		}
		if err := receiving(t, diskID); err != nil {
			return err
		}
		old := t.Received[diskID]
		r.Before = old.Before
		if old.Pass != r.Pass && old.Complete {
			r.Before += old.Total // a new pass on top of a completed one
		}
		if t.Received == nil {
			t.Received = map[int64]store.TicketReceive{}
		}
		t.Received[diskID], t.DateUpdated = r, now()
		tx.PutTicket(t)
		return putInProgress(tx, t, 0, 0, 0)
	})
}

// IncomingProgress shows in the operation a pass of disk diskID holding
// done bytes (verified, perhaps not yet journalled) at rate bytes per
// second.
func (s *Service) IncomingProgress(ctx context.Context, secret string, diskID, done int64, rate float64) error {
	return s.st.Update(func(tx *store.Tx) error {
		t, err := ticketFor(tx, secret)
		if err != nil {
			return err
		}
		if t.Phase != store.TicketReceiving {
			return nil
		}
		return putInProgress(tx, t, diskID, done, rate)
	})
}

// putInProgress sets vm_migrate_in's bytes received (of the passes begun)
// from the ticket's journal, disk diskID's pass at done live, and its
// rate and ETA.
func putInProgress(tx *store.Tx, t store.Ticket, diskID, done int64, rate float64) error {
	op, ok := tx.Operation(t.OpID)
	if !ok || op.Finished() {
		return nil
	}
	p, err := ops.ProgressOf[workflow.VMMigrateInProgress](op)
	if err != nil {
		return err
	}
	p.Received, p.Total = 0, 0
	for id, r := range t.Received {
		if id == diskID {
			r.Done = max(r.Done, done)
		}
		p.Received += r.Before + r.Done
		p.Total += r.Before + r.Total
	}
	if diskID != 0 {
		p.Rate, p.ETA = rate, 0
		if rate > 0 {
			p.ETA = int64(float64(p.Total-p.Received) / rate)
		}
	}
	if err := ops.PutProgress(&op, p); err != nil {
		return err
	}
	op.ETA, op.DateUpdated = p.ETA, now()
	tx.PutOperation(op)
	return nil
}

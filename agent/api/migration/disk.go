package migration

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The disk endpoints are agent/transfer's Receiver: PUT
// /migration/v1/disk/{id} takes a pass's chunk stream, GET answers where
// a resumed stream goes on. What it needs of the agent (the volume, the
// receive state, the progress) comes through resolver, for the disk of
// the ticket the handler checked.

// secretKey holds the request's ticket secret in its context.
type secretKey struct{}

// resolver is the Receiver's transfer.Resolver.
type resolver struct{ t Target }

// Disk finds disk id of the request's ticket. A refusal the sender cannot
// change by sending again (not a disk of the ticket, the transfer aborted
// or committed) is transfer.ErrUnknownDisk, which ends its pass; volumes
// still being made are ErrBusy, which it retries.
func (rs resolver) Disk(ctx context.Context, raw string) (transfer.Disk, error) {
	secret, _ := ctx.Value(secretKey{}).(string)
	var id int64
	var v service.IncomingVolume
	var err error
	if raw == workflow.MemoryItem {
		// A saved domain's memory: one more item of the delta, journalled
		// under workflow.MemoryID.
		id = workflow.MemoryID
		v, err = rs.t.IncomingMemory(ctx, secret)
	} else {
		id, err = strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
			return transfer.Disk{}, fmt.Errorf("disk_id: %q is not a disk id: %w", raw, transfer.ErrUnknownDisk)
		}
		v, err = rs.t.IncomingDisk(ctx, secret, id)
	}
	if err != nil {
		switch service.Classify(err).Kind {
		case service.KindBusy:
			return transfer.Disk{}, fmt.Errorf("%v: %w", err, transfer.ErrBusy)
		case service.KindNotFound, service.KindConflict, service.KindNoRight:
			return transfer.Disk{}, fmt.Errorf("%v: %w", err, transfer.ErrUnknownDisk)
		}
		return transfer.Disk{}, err
	}
	var last time.Time
	return transfer.Disk{
		Size:    v.Size,
		UpTo:    v.UpTo,
		Journal: journal{t: rs.t, secret: secret, id: id},
		Open:    func(ctx context.Context) (transfer.Volume, error) { return v.Open(ctx) },
		// The operation shows the bytes about once a second, not once a
		// chunk: each is a bbolt transaction.
		Progress: func(p transfer.Progress) {
			if p.Done < p.Total && time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			_ = rs.t.IncomingProgress(ctx, secret, id, p.Done, p.Rate)
		},
	}, nil
}

// journal keeps a disk's receive state in its ticket (the target's
// journal): a restarted target resumes there, and once the transfer
// aborted nothing more is saved, so the stream stops.
type journal struct {
	t      Target
	secret string
	id     int64
}

func (j journal) Load(ctx context.Context) (transfer.State, error) {
	r, err := j.t.ReceiveState(ctx, j.secret, j.id)
	return transfer.State{Have: transfer.Have{Pass: r.Pass, Extents: r.Extents, Done: r.Done, Total: r.Total, Complete: r.Complete},
		Digest: r.Digest}, err
}

func (j journal) Save(ctx context.Context, s transfer.State) error {
	return j.t.SaveReceive(ctx, j.secret, j.id, store.TicketReceive{Pass: s.Pass, Extents: s.Extents, Done: s.Done,
		Total: s.Total, Complete: s.Complete, Digest: s.Digest})
}

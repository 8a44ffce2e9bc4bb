package service

import (
	"slices"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// diskEntityID is DiskReturn's entity_id. The seed types it as a string
// and says nothing more, and the recorded responses of the real API do
// not carry it; a client can only use it as an opaque, stable key. It is
// the disk's id in decimal: unique among disks and snapshots like id,
// never reused for another disk, and telling nothing of the host (the
// storage volume's name would, and changes on adoption).
func diskEntityID(d store.Disk) string { return strconv.FormatInt(d.ID, 10) }

// canSnapshot is DiskReturn's can_snapshot: only a data disk is
// snapshotted (create_from type snapshot, snapshot profiles); a snapshot
// is not, and an image is copied rather than snapshotted.
func canSnapshot(d *store.Disk) bool { return d.Type == store.DiskTypeData }

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// DateSpan is the half-open interval [From, To): one value of
// disk.list's date_created, a date (its whole day) or an instant (its
// second, dates being whole seconds).
type DateSpan struct{ From, To time.Time }

// matchDates applies date_created: a disk created within one of the
// Created spans, when there are any, and within every CreatedBounds bound
// ("date_created >=" and the like, as operation.list takes them). A bound
// on another field than date_created never holds: a filter the service
// cannot apply must not pass everything.
func (f DiskFilter) matchDates(d *store.Disk) bool {
	if len(f.Created) > 0 && !slices.ContainsFunc(f.Created, func(s DateSpan) bool {
		return !d.DateCreated.Before(s.From) && d.DateCreated.Before(s.To)
	}) {
		return false
	}
	for _, b := range f.CreatedBounds {
		if b.Field != "date_created" || !b.admits(d.DateCreated) {
			return false
		}
	}
	return true
}

package service

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// diskEntityID is DiskReturn's entity_id. The seed types it as a string
// and says nothing more, and the recorded responses of the real API do
// not carry it; a client can only use it as an opaque, stable key. It is
// the disk's id in decimal: unique among disks and snapshots as id is,
// and telling nothing of the host (the storage volume's name would).
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

// A disk's manual snapshots (create_from type snapshot) are backups its
// owner asked for, each counted in the quota. Deleting the disk would
// either erase them with it or leave them behind, still counted, where
// nobody thinks of them; so a disk is not deleted while it has any
// (hosting.disk.delete, and hosting.vm.delete for the system disk it
// deletes): the fault names them, and the owner deletes them or makes
// disks of them first. A snapshot whose disk_delete is already queued no
// longer counts. Automatic snapshots (snapshot_auto) are the profile's,
// not the owner's: the snapshot scheduler deletes those of a disk that is
// gone.

// keptSnapshots refuses to delete d while it has manual snapshots; field
// names the argument the fault is about, disk the disk as it reads.
func (s *Service) keptSnapshots(tx *store.Tx, obj Object, field, disk string, d store.Disk) error {
	var ids []string
	tx.EachDisk(func(x *store.Disk) bool {
		if x.Type == store.DiskTypeSnapshot && x.Source == d.ID && !s.deleting(tx, workflow.DiskKey(x.ID)) {
			ids = append(ids, strconv.FormatInt(x.ID, 10))
		}
		return true
	})
	if len(ids) == 0 {
		return nil
	}
	what := "snapshot " + ids[0]
	if len(ids) > 1 {
		what = "snapshots " + strings.Join(ids, ", ")
	}
	return Errorf(obj, KindConflict, "%s: %s has %s, which would outlive it and stay counted in the quota; "+
		"delete them (hosting.disk.delete) or make disks of them (hosting.disk.create_from) first", field, disk, what)
}

// keptSnapshotsOfVM refuses to delete a VM whose system disk, deleted
// with it, has manual snapshots. A locked VM is left to the lock's
// fault: deleting the snapshots would not let the delete through.
func (s *Service) keptSnapshotsOfVM(tx *store.Tx, v store.VM) error {
	if len(v.DiskIDs) == 0 || isLocked(tx, v.ID) {
		return nil
	}
	d, ok := tx.Disk(v.DiskIDs[0])
	if !ok {
		return nil
	}
	return s.keptSnapshots(tx, ObjVM, "vm_id", fmt.Sprintf("the system disk %d of vm %d, deleted with it,", d.ID, v.ID), d)
}

// livePosition refuses a disk_attach position that a VM that is not
// halted cannot honour. A disk's position is its device (xvda, xvdb…, or
// vda… under QEMU): the disks at that position and after it would have
// to move to the next device, and a running guest's devices cannot be
// renamed (libvirt refuses a second disk on a target in use, and the
// guest has the others mounted by those names). At or past the end the
// position is honoured as it is on a halted VM: the disk goes after the
// others. The workflow refuses it too, for a VM started while the attach
// waited.
func livePosition(v store.VM, pos int64) error {
	if v.State == store.VMHalted || pos < 0 || pos >= int64(len(v.DiskIDs)) {
		return nil
	}
	return Errorf(ObjVM, KindConflict, "position: vm %d is %s and has %d disks: a disk put at position %d would move the guest's disks from there on to other devices, which cannot be done while it runs; "+
		"give position %d (or none) to put it after them, or stop the VM first", v.ID, v.State, len(v.DiskIDs), pos, len(v.DiskIDs))
}

package service

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// SnapshotProfile is a policy of automatic snapshots: one every Every,
// the newest KeptTotal kept. A disk with a profile counts QuotaFactor
// percent of its size against the quota (its total_size) instead of
// every automatic snapshot counting in full: thin snapshots share blocks.
type SnapshotProfile struct {
	ID          int64
	Name        string
	Every       time.Duration
	KeptTotal   int64
	QuotaFactor int64
}

// DefaultSnapshotProfiles are served when the configuration names none.
var DefaultSnapshotProfiles = []SnapshotProfile{
	{ID: 1, Name: "minimal", Every: 24 * time.Hour, KeptTotal: 2, QuotaFactor: 150},
	{ID: 2, Name: "full", Every: 24 * time.Hour, KeptTotal: 7, QuotaFactor: 200},
	{ID: 3, Name: "hourly", Every: time.Hour, KeptTotal: 24, QuotaFactor: 200},
}

func (s *Service) profile(id int64) (SnapshotProfile, bool) {
	for _, p := range s.cfg.SnapshotProfiles {
		if p.ID == id {
			return p, true
		}
	}
	return SnapshotProfile{}, false
}

// checkProfile refuses a profile this host does not serve (0 is none).
func (s *Service) checkProfile(id int64) error {
	if _, ok := s.profile(id); id != 0 && !ok {
		return Invalid(ObjDisk, "snapshot_profile", "unknown snapshot profile %d (see hosting.snapshotprofile.list)", id)
	}
	return nil
}

// chargedMB is what a disk counts against its account's quota.
func (s *Service) chargedMB(d store.Disk) int64 {
	switch {
	case d.Type == store.DiskTypeImage || d.Type == store.DiskTypeSnapshotAuto:
		return 0 // images are shared; automatic snapshots are in their disk's total_size
	case d.State == store.DiskRollback || d.State == store.DiskDeleted:
		return 0 // being replaced by a new disk, which counts
	}
	return s.totalSize(d)
}

// totalSize is DiskReturn's total_size: the size including the snapshot profile.
func (s *Service) totalSize(d store.Disk) int64 {
	if p, ok := s.profile(d.SnapshotProfile); ok {
		return d.SizeMB * p.QuotaFactor / 100
	}
	return d.SizeMB
}

// SnapshotProfileFilter selects profiles: each list, when not empty, is
// a match.
type SnapshotProfileFilter struct {
	IDs   []int64
	Names []string
}

// SnapshotProfiles lists the profiles this host serves that match f, in
// the configuration's order.
func (s *Service) SnapshotProfiles(f SnapshotProfileFilter) []SnapshotProfile {
	out := []SnapshotProfile{}
	for _, p := range s.cfg.SnapshotProfiles {
		if (len(f.IDs) == 0 || slices.Contains(f.IDs, p.ID)) && (len(f.Names) == 0 || slices.Contains(f.Names, p.Name)) {
			out = append(out, p)
		}
	}
	return out
}

// SnapshotProfile reads one profile this host serves.
func (s *Service) SnapshotProfile(id int64) (SnapshotProfile, error) {
	p, ok := s.profile(id)
	if !ok {
		return p, notFound(ObjDisk, "snapshot profile", id)
	}
	return p, nil
}

// RunSnapshotScheduler takes the snapshots that profiles ask for and
// prunes the ones beyond kept_total, until ctx ends.
func (s *Service) RunSnapshotScheduler(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.SnapshotTick(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SnapshotTick is one pass of the scheduler at time now: a disk whose
// newest automatic snapshot is older than its profile's period gets a new
// one; automatic snapshots beyond kept_total (oldest first), and those of
// a disk that is gone, are deleted. Both are ordinary operations, so they
// queue behind whatever else the disk is doing and survive restarts.
func (s *Service) SnapshotTick(now time.Time) {
	type plan struct {
		take  []store.Disk
		prune []store.Disk
	}
	var p plan
	s.st.View(func(tx *store.Tx) {
		autos := map[int64][]store.Disk{}
		tx.EachDisk(func(d *store.Disk) bool {
			if d.Type == store.DiskTypeSnapshotAuto {
				autos[d.Source] = append(autos[d.Source], *d)
			}
			return true
		})
		tx.EachDisk(func(d *store.Disk) bool {
			prof, ok := s.profile(d.SnapshotProfile)
			if !ok || d.Type != store.DiskTypeData || d.State != store.DiskCreated || s.deleting(tx, workflow.DiskKey(d.ID)) {
				return true
			}
			list := autos[d.ID]
			pending := slices.ContainsFunc(list, func(x store.Disk) bool { return x.State != store.DiskCreated })
			newest := time.Time{}
			for _, x := range list {
				if x.DateCreated.After(newest) {
					newest = x.DateCreated
				}
			}
			if !pending && (newest.IsZero() || !now.Before(newest.Add(prof.Every))) {
				p.take = append(p.take, *d)
			}
			p.prune = append(p.prune, beyondKept(list, prof.KeptTotal)...)
			return true
		})
		for src, list := range autos {
			if _, ok := tx.Disk(src); !ok {
				p.prune = append(p.prune, beyondKept(list, 0)...)
			}
		}
		p.prune = slices.DeleteFunc(p.prune, func(d store.Disk) bool { return s.deleting(tx, workflow.DiskKey(d.ID)) })
	})
	for _, d := range p.take {
		s.submitSystem("snapshot_auto", d.AccountID, func(tx *store.Tx) ([]int64, error) {
			snap, err := s.reserveDisk(tx, diskReq{obj: ObjDisk, accountID: d.AccountID, dc: d.DatacenterID, source: d.ID,
				typ: store.DiskTypeSnapshotAuto})
			if err != nil {
				return nil, err
			}
			op := s.newOp(tx, d.AccountID, opSpec{typ: "disk_create", diskID: snap.ID, keys: []string{workflow.DiskKey(snap.ID), workflow.DiskKey(d.ID)},
				params: map[string]string{"source": strconv.FormatInt(d.ID, 10), "profile": strconv.FormatInt(d.SnapshotProfile, 10)}, eta: 10})
			return []int64{op.ID}, nil
		})
	}
	for _, d := range p.prune {
		s.submitSystem("snapshot_prune", d.AccountID, func(tx *store.Tx) ([]int64, error) {
			if cur, ok := tx.Disk(d.ID); !ok || cur.State != store.DiskCreated || cur.VMID != 0 {
				return nil, nil
			}
			op := s.newOp(tx, d.AccountID, opSpec{typ: "disk_delete", diskID: d.ID, keys: []string{workflow.DiskKey(d.ID)}, eta: 5})
			return []int64{op.ID}, nil
		})
	}
}

// beyondKept returns the created automatic snapshots past the newest kept.
func beyondKept(list []store.Disk, kept int64) []store.Disk {
	created := slices.DeleteFunc(slices.Clone(list), func(d store.Disk) bool { return d.State != store.DiskCreated })
	slices.SortFunc(created, func(a, b store.Disk) int {
		return cmp.Or(b.DateCreated.Compare(a.DateCreated), cmp.Compare(b.ID, a.ID))
	})
	if int64(len(created)) <= kept {
		return nil
	}
	return created[kept:]
}

// submitSystem records operations the agent itself starts (no caller, no
// idempotency key) and logs what it could not start.
func (s *Service) submitSystem(what string, accountID int64, reserve func(tx *store.Tx) ([]int64, error)) {
	if _, err := s.submitCall(accountID, callOpts{method: what}, reserve); err != nil {
		s.log.Warn("scheduled operation not started", "what", what, "account_id", accountID, "err", err)
	}
}

package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Adopted is a volume made a disk by Adopt.
type Adopted struct {
	Volume string // the name it had
	Disk   store.Disk
}

// Candidates lists the volumes no disk record refers to: quarantined,
// another instance's, unmarked ones. Adopt takes any of them.
func Candidates(ctx context.Context, st *store.Store, vols host.Volumes) ([]host.Volume, error) {
	all, err := vols.List(ctx)
	if err != nil {
		return nil, err
	}
	referenced := map[string]bool{}
	st.View(func(tx *store.Tx) {
		tx.EachDisk(func(d *store.Disk) bool { referenced[d.Volume] = true; return true })
	})
	var out []host.Volume
	for _, v := range all {
		if strings.HasPrefix(v.Name, "xa-") && !v.Partial && !referenced[v.Name] {
			out = append(out, v)
		}
	}
	return out, nil
}

// Adopt makes each named volume a free data disk of account, the agent
// stopped (the caller holds the state file). The volume keeps its data
// and is re-marked as this instance's; a quarantined one gets its
// original name back, and a name whose disk id the state already uses
// gets a new id. The order (rename, mark, record) means a crash midway
// leaves either a volume still not this agent's, or one of its own that
// no record refers to, which the next start quarantines: never a record
// without its volume, never a deletion. The account's quota is not
// checked: the operator decides.
func Adopt(ctx context.Context, st *store.Store, vols host.Volumes, datacenter, account int64, names []string) ([]Adopted, error) {
	ok := false
	st.View(func(tx *store.Tx) { _, ok = tx.Account(account) })
	if !ok {
		return nil, fmt.Errorf("account %d does not exist", account)
	}
	cands, err := Candidates(ctx, st, vols)
	if err != nil {
		return nil, err
	}
	all, err := vols.List(ctx)
	if err != nil {
		return nil, err
	}
	onStorage := map[string]bool{}
	for _, v := range all {
		onStorage[strings.TrimSuffix(v.Name, ".tmp")] = true
	}
	byName := map[string]host.Volume{}
	for _, v := range cands {
		byName[v.Name] = v
	}
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			return nil, fmt.Errorf("volume %s: not found among the volumes no disk refers to (xenagent adopt --config FILE lists them)", n)
		}
	}
	var done []Adopted
	for _, n := range names {
		v := byName[n]
		orig := n
		if o, _, ok := host.ParseQuarantined(n); ok {
			orig = o
		}
		var d store.Disk
		err := st.Update(func(tx *store.Tx) error {
			id, err := strconv.ParseInt(strings.TrimPrefix(orig, "xa-disk-"), 10, 64)
			if err != nil || workflow.VolumeName(id) != orig || id <= 0 || tx.HasDisk(id) || orig != n && onStorage[orig] {
				id = tx.NextID("disk", func(id int64) bool { return tx.HasDisk(id) || onStorage[workflow.VolumeName(id)] })
			}
			d = store.Disk{ID: id, AccountID: account, DatacenterID: datacenter, Name: "adopted" + strconv.FormatInt(id, 10),
				SizeMB: v.SizeMB, State: store.DiskCreated, Type: store.DiskTypeData, Visibility: "private",
				Volume: workflow.VolumeName(id), DateCreated: now(), DateUpdated: now()}
			return nil
		})
		if err != nil {
			return done, err
		}
		if d.Volume != n {
			if err := vols.Rename(ctx, n, d.Volume); err != nil {
				return done, fmt.Errorf("volume %s: %w", n, err)
			}
			onStorage[d.Volume] = true
		}
		if err := vols.SetMark(ctx, d.Volume, host.Mark{Owner: st.Instance()}); err != nil {
			return done, fmt.Errorf("volume %s: %w", d.Volume, err)
		}
		if err := st.Update(func(tx *store.Tx) error { tx.PutDisk(d); return nil }); err != nil {
			return done, fmt.Errorf("volume %s (now %s, marked as this agent's): recording disk %d: %w", n, d.Volume, d.ID, err)
		}
		done = append(done, Adopted{Volume: n, Disk: d})
	}
	return done, nil
}

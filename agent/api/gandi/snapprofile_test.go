package gandi

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// settle waits until every operation has finished.
func (a *agent) settle() {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		busy := false
		a.st.View(func(tx *store.Tx) {
			tx.EachOperation(func(o *store.Operation) bool {
				busy = busy || !o.Finished()
				return !busy
			})
		})
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatal("operations never finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (a *agent) autoSnapshots(source int64) []int64 {
	var ids []int64
	a.st.View(func(tx *store.Tx) {
		tx.EachDisk(func(d *store.Disk) bool {
			if d.Type == store.DiskTypeSnapshotAuto && d.Source == source {
				ids = append(ids, d.ID)
			}
			return true
		})
	})
	slices.Sort(ids)
	return ids
}

func TestSnapshotProfiles(t *testing.T) {
	a := newAgent(t, true)
	if list := a.mustCall(a.alice, "hosting.snapshotprofile.list").([]any); len(list) != 4 {
		t.Fatalf("profiles = %v", list)
	}
	p := a.mustCall(a.alice, "hosting.snapshotprofile.info", int64(9)).(map[string]any)
	if p["name"] != "test" || p["kept_total"] != int64(2) || p["quota_factor"] != int64(150) || p["every"] != int64(3600) {
		t.Fatalf("profile 9 = %v", p)
	}
	for _, c := range []struct {
		method string
		params []any
		want   string
	}{
		{"hosting.snapshotprofile.info", []any{int64(77)}, "snapshot profile"},
		{"hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(64), "snapshot_profile": int64(77)}}, "snapshot_profile"},
		{"hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(64), "snapshot_profile": "x"}}, "snapshot_profile"},
		{"hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(80000), "snapshot_profile": int64(9)}}, "quota"},
	} {
		before := a.snapshot()
		if _, f := a.call(a.alice, c.method, c.params...); f == nil || !strings.Contains(f.Error(), c.want) {
			t.Errorf("%s %v: fault %v, want one naming %q", c.method, c.params, f, c.want)
		}
		if a.snapshot() != before {
			t.Errorf("%s: a refused call changed records", c.method)
		}
	}

	disk := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64), "snapshot_profile": int64(9)}))[0]["disk_id"].(int64)
	info := a.mustCall(a.alice, "hosting.disk.info", disk).(map[string]any)
	if info["total_size"] != int64(96) || info["snapshot_profile"].(map[string]any)["id"] != int64(9) {
		t.Fatalf("disk info = %v", info)
	}
	if l := a.mustCall(a.alice, "hosting.disk.list", map[string]any{"id": disk}).([]any); l[0].(map[string]any)["snapshot_profile_id"] != int64(9) {
		t.Fatalf("disk list = %v", l)
	}
	if used := a.mustCall(a.alice, "hosting.account.info").(map[string]any)["resources"].(map[string]any)["used"].(map[string]any)["disk"]; used != int64(96) {
		t.Fatalf("quota use = %v, want total_size 96", used)
	}

	t0 := time.Now()
	for i := range 4 {
		a.svc.SnapshotTick(t0.Add(time.Duration(i) * time.Hour))
		a.settle()
	}
	all := a.autoSnapshots(disk)
	a.svc.SnapshotTick(t0.Add(30 * time.Minute)) // none due: only pruning
	a.settle()
	kept := a.autoSnapshots(disk)
	if len(all) < 3 || len(kept) != 2 || !slices.Equal(kept, all[len(all)-2:]) {
		t.Fatalf("auto snapshots %v, kept %v; want the newest 2", all, kept)
	}
	if used := a.mustCall(a.alice, "hosting.account.info").(map[string]any)["resources"].(map[string]any)["used"].(map[string]any)["disk"]; used != int64(96) {
		t.Errorf("automatic snapshots should be inside total_size; use = %v", used)
	}
	snap := a.mustCall(a.alice, "hosting.disk.info", kept[0]).(map[string]any)
	if snap["type"] != "snapshot_auto" || snap["source"] != disk {
		t.Fatalf("auto snapshot = %v", snap)
	}
	// An automatic snapshot rolls back like any snapshot.
	newDisk := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.rollback_from", kept[1]))[0]["disk_id"].(int64)
	if got := a.autoSnapshots(newDisk); !slices.Equal(got, kept) {
		t.Fatalf("after rollback the snapshots belong to %d: %v", newDisk, got)
	}
	if p := a.mustCall(a.alice, "hosting.disk.info", newDisk).(map[string]any)["snapshot_profile"]; p == nil {
		t.Fatalf("the rolled back disk lost its profile")
	}

	if _, f := a.call(a.alice, "hosting.disk.update", newDisk, map[string]any{"snapshot_profile": int64(77)}); f == nil || !strings.Contains(f.Error(), "snapshot_profile") {
		t.Fatalf("unknown profile in update: %v", f)
	}
	// Without a profile, no more snapshots are taken.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.update", newDisk, map[string]any{"snapshot_profile": "none"}))
	a.svc.SnapshotTick(t0.Add(10 * time.Hour))
	a.settle()
	if got := a.autoSnapshots(newDisk); len(got) != 2 {
		t.Fatalf("snapshots after removing the profile = %v", got)
	}
	// The automatic snapshots of a deleted disk go with it.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.delete", newDisk))
	a.svc.SnapshotTick(t0)
	a.settle()
	if got := a.autoSnapshots(newDisk); len(got) != 0 {
		t.Fatalf("automatic snapshots of a deleted disk left: %v", got)
	}
}

package gandi

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// vm.info's disks carry kernel_cmdline as the recorded real responses do
// (the struct disk.info gives; nil for a disk without one), and every
// DiskReturn carries entity_id, the disk's id as a string.
func TestVMInfoDisksCmdlineAndEntityID(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "gaps")
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, data))

	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	disks := info["disks"].([]any)
	if len(disks) != 2 {
		t.Fatalf("vm.info disks = %v", disks)
	}
	sys := disks[0].(map[string]any)
	want := map[string]any{"root": "/dev/xvda", "ro": true} // the image's "root=/dev/xvda ro"
	if !reflect.DeepEqual(sys["kernel_cmdline"], want) {
		t.Errorf("system disk kernel_cmdline = %#v, want %v", sys["kernel_cmdline"], want)
	}
	sysInfo := a.mustCall(a.alice, "hosting.disk.info", sys["id"]).(map[string]any)
	if !reflect.DeepEqual(sysInfo["kernel_cmdline"], sys["kernel_cmdline"]) {
		t.Errorf("disk.info kernel_cmdline %v, vm.info's %v", sysInfo["kernel_cmdline"], sys["kernel_cmdline"])
	}
	if d := disks[1].(map[string]any); d["kernel_cmdline"] != nil {
		t.Errorf("data disk kernel_cmdline = %#v, want nil (as the recorded disk.info)", d["kernel_cmdline"])
	}
	if d := a.mustCall(a.alice, "hosting.disk.info", data).(map[string]any); d["kernel_cmdline"] != nil {
		t.Errorf("data disk.info kernel_cmdline = %#v, want nil", d["kernel_cmdline"])
	}
	// disk.list keeps the seed's DiskReturn: no kernel_cmdline there.
	for _, d := range a.mustCall(a.alice, "hosting.disk.list").([]any) {
		if _, ok := d.(map[string]any)["kernel_cmdline"]; ok {
			t.Errorf("disk.list shows kernel_cmdline: %v", d)
		}
	}

	for _, c := range []struct {
		where string
		disk  map[string]any
	}{
		{"vm.info", sys}, {"vm.info", disks[1].(map[string]any)}, {"disk.info", sysInfo},
		{"disk.list", a.mustCall(a.alice, "hosting.disk.list", map[string]any{"id": data}).([]any)[0].(map[string]any)},
	} {
		if want := strconv.FormatInt(c.disk["id"].(int64), 10); c.disk["entity_id"] != want {
			t.Errorf("%s: entity_id = %#v, want %q", c.where, c.disk["entity_id"], want)
		}
	}
}

// disk.list and disk.count apply can_snapshot and date_created (a date,
// an instant or an array of them, and the "date_created >=" ranges), and
// sort on can_snapshot.
func TestDiskListSnapshotAndDateFilters(t *testing.T) {
	a := newAgent(t, true)
	create := func(spec map[string]any, src int64) int64 {
		if src == 0 {
			return a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", spec))[0]["disk_id"].(int64)
		}
		return a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create_from", spec, src))[0]["disk_id"].(int64)
	}
	older := create(map[string]any{"datacenter_id": int64(1), "size": int64(64), "name": "older"}, 0)
	newer := create(map[string]any{"datacenter_id": int64(1), "size": int64(64), "name": "newer"}, 0)
	snap := create(map[string]any{"type": "snapshot"}, older)
	at := map[int64]time.Time{
		older: time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC),
		newer: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		snap:  time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC),
	}
	a.st.Update(func(tx *store.Tx) error {
		for id, t := range at {
			d, _ := tx.Disk(id)
			d.DateCreated = t
			tx.PutDisk(d)
		}
		return nil
	})
	ids := func(opts map[string]any) []int64 {
		t.Helper()
		var out []int64
		for _, d := range a.mustCall(a.alice, "hosting.disk.list", opts).([]any) {
			out = append(out, d.(map[string]any)["id"].(int64))
		}
		if n := a.mustCall(a.alice, "hosting.disk.count", withoutPaging(opts)); n != len(out) {
			t.Errorf("disk.count %v = %v, disk.list %v", opts, n, out)
		}
		return out
	}
	tests := []struct {
		name string
		opts map[string]any
		want []int64
	}{
		{"can snapshot", map[string]any{"can_snapshot": true}, []int64{older, newer}},
		{"cannot snapshot", map[string]any{"can_snapshot": false}, []int64{snap}},
		{"a day", map[string]any{"date_created": "2026-02-01"}, []int64{newer, snap}},
		{"an instant as a string", map[string]any{"date_created": "20260110T10:00:00"}, []int64{older}},
		{"an instant in RFC 3339", map[string]any{"date_created": "2026-02-01T12:00:00Z"}, []int64{snap}},
		{"a dateTime", map[string]any{"date_created": at[newer]}, []int64{newer}},
		{"no disk that second", map[string]any{"date_created": "20260110T10:00:01"}, nil},
		{"any of an array", map[string]any{"date_created": []any{"2026-01-10", at[snap]}}, []int64{older, snap}},
		{"from", map[string]any{"date_created >=": "2026-02-01T00:00:00"}, []int64{newer, snap}},
		{"after", map[string]any{"date_created >": at[newer]}, []int64{snap}},
		{"until", map[string]any{"date_created <=": at[newer]}, []int64{older, newer}},
		{"before", map[string]any{"date_created <": at[newer]}, []int64{older}},
		{"a range", map[string]any{"date_created >": "2026-01-10", "date_created <": "2026-02-01T12:00:00"}, []int64{older, newer}},
		{"a day and a flag", map[string]any{"date_created": "2026-02-01", "can_snapshot": true}, []int64{newer}},
		{"sorted on can_snapshot", map[string]any{"sort_by": "can_snapshot"}, []int64{snap, older, newer}},
		{"sorted on -can_snapshot", map[string]any{"sort_by": "-can_snapshot"}, []int64{newer, older, snap}}, // ties too go descending,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(tt.opts); !slices.Equal(got, tt.want) {
				t.Errorf("disk.list %v = %v, want %v", tt.opts, got, tt.want)
			}
		})
	}

	bad := []struct {
		name  string
		opts  map[string]any
		field string
	}{
		{"can_snapshot not a boolean", map[string]any{"can_snapshot": "yes"}, "can_snapshot: must be a boolean"},
		{"date_created an integer", map[string]any{"date_created": int64(5)}, "date_created: must be a date"},
		{"date_created not a date", map[string]any{"date_created": "soon"}, "date_created: must be a date"},
		{"date_created an empty array", map[string]any{"date_created": []any{}}, "date_created: must name at least one date"},
		{"date_created nil", map[string]any{"date_created": nil}, "date_created"},
		{"a bad range", map[string]any{"date_created >=": "soon"}, "date_created >="},
		{"a range on another date", map[string]any{"date_updated >=": "2026-01-01"}, "date_updated >="},
	}
	for _, tt := range bad {
		for _, m := range []string{"hosting.disk.list", "hosting.disk.count"} {
			t.Run(tt.name+" "+m, func(t *testing.T) {
				before := a.snapshot()
				_, f := a.call(a.alice, m, tt.opts)
				if f == nil || f.Cause != CauseBadParam || !strings.Contains(f.Error(), tt.field) {
					t.Errorf("%s %v: fault %v, want one naming %q", m, tt.opts, f, tt.field)
				}
				if a.snapshot() != before {
					t.Errorf("a refused call changed records")
				}
			})
		}
	}
}

// withoutPaging is a list call's options as a count call takes them.
func withoutPaging(opts map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range opts {
		if k != "sort_by" && k != "items_per_page" && k != "page" {
			out[k] = v
		}
	}
	return out
}

// A disk is not deleted while it has manual snapshots (disk.delete, and
// vm.delete for the system disk): the fault names them and nothing
// changes; once they are gone (or their delete is queued) it is.
// Automatic snapshots do not hold a disk: the scheduler deletes those of
// a disk that is gone.
func TestDeleteWithManualSnapshots(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "snapped")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64), "snapshot_profile": int64(9)}))[0]["disk_id"].(int64)
	snapOf := func(src int64) int64 {
		return a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create_from", map[string]any{"type": "snapshot"}, src))[0]["disk_id"].(int64)
	}
	s1, s2, s3 := snapOf(data), snapOf(data), snapOf(sys)
	a.svc.SnapshotTick(time.Now()) // the profile's first automatic snapshot
	var auto int64
	waitFor(t, func() bool {
		a.st.View(func(tx *store.Tx) {
			tx.EachDisk(func(d *store.Disk) bool {
				if d.Type == store.DiskTypeSnapshotAuto && d.Source == data && d.State == store.DiskCreated {
					auto = d.ID
				}
				return true
			})
		})
		return auto != 0
	})
	used := func() int64 {
		return a.mustCall(a.alice, "hosting.account.info").(map[string]any)["resources"].(map[string]any)["used"].(map[string]any)["disk"].(int64)
	}
	refused := func(method string, id int64, want string) {
		t.Helper()
		before := a.snapshot()
		_, f := a.call(a.alice, method, id)
		if f == nil || f.Cause != CauseConflict || !strings.Contains(f.Error(), want) {
			t.Fatalf("%s %d: fault %v, want a conflict naming %q", method, id, f, want)
		}
		if a.snapshot() != before {
			t.Fatalf("%s %d: a refused call changed records", method, id)
		}
	}
	refused("hosting.disk.delete", data, "disk_id: disk "+strconv.FormatInt(data, 10)+" has snapshots "+strconv.FormatInt(s1, 10)+", "+strconv.FormatInt(s2, 10)+",")
	refused("hosting.vm.delete", vmID, "vm_id: the system disk "+strconv.FormatInt(sys, 10)+" of vm "+strconv.FormatInt(vmID, 10)+", deleted with it, has snapshot "+strconv.FormatInt(s3, 10)+",")

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.delete", s1))
	refused("hosting.disk.delete", data, "has snapshot "+strconv.FormatInt(s2, 10)+",")
	// A snapshot whose delete is queued no longer holds the disk.
	last := a.mustCall(a.alice, "hosting.disk.delete", s2)
	gone := a.mustCall(a.alice, "hosting.disk.delete", data)
	a.mustDone(a.alice, []any{last, gone})
	for _, id := range []int64{s2, data} {
		if d := a.disk(id); d.ID != 0 {
			t.Errorf("disk %d still recorded: %+v", id, d)
		}
	}
	// The automatic snapshot goes with its disk, by the scheduler.
	a.svc.SnapshotTick(time.Now())
	waitFor(t, func() bool { return a.disk(auto).ID == 0 })

	before := used()
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.delete", s3))
	if after := used(); after != before-64 {
		t.Errorf("disk use %d after deleting snapshot %d, want %d", after, s3, before-64)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.delete", vmID))
	if d := a.disk(sys); d.ID != 0 {
		t.Errorf("system disk still recorded: %+v", d)
	}
}

// disk_attach's position on a running VM: at or past the end it is
// honoured (the disk goes after the others, as on a halted VM); before
// the end it is refused, naming the rule, since the guest's disks would
// have to move to other devices. A VM started while the attach waited
// gets the same refusal from the operation, which leaves nothing behind.
func TestDiskAttachPositionRunning(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "pos")
	newDisk := func() int64 {
		return a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	}
	disksID := func() []int64 {
		return a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)
	}
	sys, d1, d2, d3, d4 := disksID()[0], newDisk(), newDisk(), newDisk(), newDisk()
	attach := func(disk int64, opts map[string]any) (any, *Fault) {
		return a.call(a.alice, "hosting.vm.disk_attach", vmID, disk, opts)
	}
	if _, f := attach(d1, map[string]any{}); f != nil {
		t.Fatal(f)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "operation.list", map[string]any{"type": "disk_attach"}))
	for _, tt := range []struct {
		pos  int64
		want string
	}{
		{0, "position: the system disk (position 0) of vm"},
		{1, "position: vm " + strconv.FormatInt(vmID, 10) + " is running and has 2 disks: a disk put at position 1 would move"},
	} {
		before := a.snapshot()
		_, f := attach(d2, map[string]any{"position": tt.pos})
		if f == nil || f.Cause != CauseConflict || !strings.Contains(f.Error(), tt.want) || !strings.Contains(f.Error(), "give position 2") && tt.pos != 0 {
			t.Errorf("position %d on a running VM: fault %v, want a conflict naming %q", tt.pos, f, tt.want)
		}
		if a.snapshot() != before {
			t.Errorf("position %d: a refused call changed records", tt.pos)
		}
	}
	op, f := attach(d2, map[string]any{"position": int64(2)})
	if f != nil {
		t.Fatalf("position 2 (the end) on a running VM: %v", f)
	}
	a.mustDone(a.alice, op)
	op, f = attach(d3, map[string]any{"position": int64(9)})
	if f != nil {
		t.Fatalf("position 9 (past the end) on a running VM: %v", f)
	}
	a.mustDone(a.alice, op)
	if got, want := disksID(), []int64{sys, d1, d2, d3}; !slices.Equal(got, want) {
		t.Fatalf("disks_id = %v, want %v", got, want)
	}

	// Halted at submission, running when the attach runs: vm_start is held
	// at its first boundary until the attach is queued behind it.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	release, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == "vm_start" && op.VMID == vmID {
			once.Do(func() { close(held); <-release })
		}
	})
	start := a.mustCall(a.alice, "hosting.vm.start", vmID)
	<-held
	queued, f := attach(d4, map[string]any{"position": int64(1)})
	close(release)
	a.rig.OnBoundary(nil)
	if f != nil {
		t.Fatalf("position 1 on a halted VM: %v", f)
	}
	a.mustDone(a.alice, start)
	end := a.wait(a.alice, queued)[0]
	if end["step"] != "ERROR" || !strings.Contains(fmt.Sprint(end["last_error"]), "position 1: vm "+strconv.FormatInt(vmID, 10)+" is running") {
		t.Fatalf("attach at position 1 of a VM started meanwhile ended %v: %v", end["step"], end["last_error"])
	}
	if got, want := disksID(), []int64{sys, d1, d2, d3}; !slices.Equal(got, want) {
		t.Errorf("after the refused attach, disks_id = %v, want %v", got, want)
	}
	if d := a.disk(d4); d.VMID != 0 {
		t.Errorf("the refused disk is still reserved for vm %d", d.VMID)
	}
	// Halted, a position before the end is honoured: the others shift.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, d4, map[string]any{"position": int64(1)}))
	if got, want := disksID(), []int64{sys, d4, d1, d2, d3}; !slices.Equal(got, want) {
		t.Errorf("halted, position 1: disks_id = %v, want %v", got, want)
	}
}

// A disk detached from the middle of a running VM leaves the ones after
// it on their devices; the next attach goes to the next free device
// instead of being taken for one already there (it was silently left
// out of the domain, attached in the records only).
func TestDiskAttachAfterLiveDetach(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "hole")
	newDisk := func() int64 {
		return a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	}
	d1, d2, d3 := newDisk(), newDisk(), newDisk()
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, d1))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, d2))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_detach", vmID, d1))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, d3))
	x, err := a.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{d2, d3} {
		if !strings.Contains(x, workflow.VolumeName(id)) {
			t.Errorf("disk %d, attached in the records, is not in the domain:\n%s", id, x)
		}
	}
	if strings.Contains(x, workflow.VolumeName(d1)) {
		t.Errorf("detached disk %d is still in the domain", d1)
	}
}

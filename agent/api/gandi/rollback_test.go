package gandi

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

func (a *agent) writeDisk(id int64, data string) {
	a.t.Helper()
	f, err := os.OpenFile(a.vols.Path(workflow.VolumeName(id)), os.O_WRONLY, 0)
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(data), 1<<20); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent) readDisk(id int64, n int) string {
	a.t.Helper()
	got := make([]byte, n)
	f, err := os.Open(a.vols.Path(workflow.VolumeName(id)))
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	f.ReadAt(got, 1<<20)
	return string(bytes.TrimRight(got, "\x00"))
}

func (a *agent) takeSnapshot(c *service.Caller, diskID int64) int64 {
	a.t.Helper()
	return a.mustDone(c, a.mustCall(c, "hosting.disk.create_from", map[string]any{"type": "snapshot"}, diskID))[0]["disk_id"].(int64)
}

func (a *agent) diskState(id int64) string {
	var d store.Disk
	var ok bool
	a.st.View(func(tx *store.Tx) { d, ok = tx.Disk(id) })
	if !ok {
		return "gone"
	}
	return d.State
}

func TestRollbackFrom(t *testing.T) {
	a := newAgent(t, true)
	old := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "name": "data", "size": int64(64)}))[0]["disk_id"].(int64)
	a.writeDisk(old, "before")
	snap := a.takeSnapshot(a.alice, old)
	a.writeDisk(old, "after!")
	used := func() any {
		return a.mustCall(a.alice, "hosting.account.info").(map[string]any)["resources"].(map[string]any)["used"].(map[string]any)["disk"]
	}
	usedBefore := used()

	// The engine stops so the operation waits and the disk is seen in
	// state rollback, where nothing else may change it.
	a = a.reopen(false)
	op := a.mustCall(a.alice, "hosting.disk.rollback_from", snap).(map[string]any)
	if op["type"] != "disk_rollback" || op["disk_id"] == old {
		t.Fatalf("operation = %v", op)
	}
	newID := op["disk_id"].(int64)
	if st := a.diskState(old); st != store.DiskRollback {
		t.Fatalf("old disk state = %s, want rollback", st)
	}
	if u := used(); u != usedBefore {
		t.Errorf("quota use while rolling back = %v, want %v (the new disk replaces the old)", u, usedBefore)
	}
	for _, c := range []struct {
		method string
		params []any
	}{
		{"hosting.disk.update", []any{old, map[string]any{"name": "x"}}},
		{"hosting.disk.delete", []any{old}},
		{"hosting.disk.create_from", []any{map[string]any{"type": "snapshot"}, old}},
		{"hosting.disk.rollback_from", []any{snap}},
	} {
		before := a.snapshot()
		if _, f := a.call(a.alice, c.method, c.params...); f == nil || !strings.Contains(f.Error(), "rollback") {
			t.Errorf("%s during rollback: fault %v, want one saying the disk is in rollback", c.method, f)
		}
		if a.snapshot() != before {
			t.Errorf("%s: a refused call changed records", c.method)
		}
	}
	a.rig.Start()
	a.mustDone(a.alice, op)

	if got := a.readDisk(newID, 6); got != "before" {
		t.Errorf("rolled back disk holds %q, want the snapshot's data", got)
	}
	if _, f := a.call(a.alice, "hosting.disk.info", old); f == nil {
		t.Errorf("the old disk is still there")
	}
	info := a.mustCall(a.alice, "hosting.disk.info", newID).(map[string]any)
	if info["name"] != "data" || info["state"] != "created" || info["source"] != snap {
		t.Errorf("new disk = %v", info)
	}
	if ids := info["snapshots_id"].([]int64); len(ids) != 1 || ids[0] != snap {
		t.Errorf("the old disk's snapshots should be the new disk's: %v", ids)
	}
	if u := used(); u != usedBefore {
		t.Errorf("quota use after = %v, want %v", u, usedBefore)
	}
	if _, err := os.Stat(a.vols.Path(workflow.VolumeName(old))); !os.IsNotExist(err) {
		t.Errorf("old volume left behind: %v", err)
	}
	// Rolling back again to the same snapshot works from the new disk.
	again := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.rollback_from", snap))
	if again[0]["disk_id"] == newID {
		t.Errorf("a second rollback should make another disk")
	}
}

func TestRollbackRefused(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rb")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	snap := a.takeSnapshot(a.alice, sys)
	for _, c := range []struct {
		who    *service.Caller
		method string
		params []any
		want   string
	}{
		{a.alice, "hosting.disk.rollback_from", []any{snap}, "hosting.vm.disk_rollback"},
		{a.alice, "hosting.disk.rollback_from", []any{sys}, "not a snapshot"},
		{a.alice, "hosting.disk.rollback_from", []any{int64(9999)}, "snapshot"},
		{a.bob, "hosting.disk.rollback_from", []any{snap}, "snapshot"},
		{a.bob, "hosting.vm.disk_rollback", []any{snap}, "snapshot"},
		{a.alice, "hosting.disk.rollback_from", []any{"x"}, "snapshot_id"},
	} {
		before := a.snapshot()
		if _, f := a.call(c.who, c.method, c.params...); f == nil || !strings.Contains(f.Error(), c.want) {
			t.Errorf("%s %v: fault %v, want one naming %q", c.method, c.params, f, c.want)
		}
		if a.snapshot() != before {
			t.Errorf("%s: a refused call changed records", c.method)
		}
	}
}

// vm.disk_rollback of a running VM's system disk is the seed's sequence.
func TestVMDiskRollback(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rbvm")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, data, map[string]any{}))
	a.writeDisk(sys, "before")
	snap := a.takeSnapshot(a.alice, sys)
	a.writeDisk(sys, "after!")

	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_rollback", snap))
	var types []string
	for _, o := range done {
		types = append(types, o["type"].(string))
	}
	if strings.Join(types, ",") != "vm_stop,disk_detach,disk_rollback,disk_attach,vm_start" {
		t.Fatalf("operations = %v", types)
	}
	newID := done[2]["disk_id"].(int64)
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if ids := info["disks_id"].([]int64); len(ids) != 2 || ids[0] != newID || ids[1] != data {
		t.Fatalf("disks_id = %v, want [%d %d]", ids, newID, data)
	}
	if info["state"] != "running" {
		t.Errorf("vm state = %v", info["state"])
	}
	if got := a.readDisk(newID, 6); got != "before" {
		t.Errorf("system disk holds %q after rollback", got)
	}
	if a.diskState(sys) != "gone" {
		t.Errorf("old system disk still recorded")
	}
	if d := a.mustCall(a.alice, "hosting.disk.info", newID).(map[string]any); d["is_boot_disk"] != true || len(d["vms_id"].([]int64)) != 1 {
		t.Errorf("new disk = %v", d)
	}
}

// When the rollback itself fails, the operations after it put the old
// disk back at its position and start the VM again.
func TestVMDiskRollbackFailurePutsBack(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rbfail")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	snap := a.takeSnapshot(a.alice, sys)
	// The snapshot's volume vanishes behind the agent's back.
	if err := os.Remove(a.vols.Path(workflow.VolumeName(snap))); err != nil {
		t.Fatal(err)
	}
	done := a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.disk_rollback", snap))
	var steps []string
	for _, o := range done {
		steps = append(steps, o["step"].(string))
	}
	if strings.Join(steps, ",") != "DONE,DONE,ERROR,CANCEL,CANCEL" {
		t.Fatalf("steps = %v", steps)
	}
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if ids := info["disks_id"].([]int64); len(ids) != 1 || ids[0] != sys {
		t.Fatalf("disks_id = %v, want the old disk back [%d]", ids, sys)
	}
	if info["state"] != "running" {
		t.Errorf("vm state = %v, want running again", info["state"])
	}
	if st := a.diskState(sys); st != store.DiskCreated {
		t.Errorf("old disk state = %s", st)
	}
	if a.diskState(done[2]["disk_id"].(int64)) != "gone" {
		t.Errorf("the failed rollback's disk is still recorded")
	}
}

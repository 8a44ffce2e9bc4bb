package gandi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// rebuildSeedMeta reads the instance-id out of the VM's seed image.
func (a *agent) rebuildSeedMeta(vmID int64) string {
	a.t.Helper()
	p, ok := nocloud.New(filepath.Join(a.dir, "seeds")).Path(vmID)
	if !ok {
		a.t.Fatalf("vm %d has no seed", vmID)
	}
	files, _, err := nocloud.ReadImage(p)
	if err != nil {
		a.t.Fatal(err)
	}
	return string(files["meta-data"])
}

func (a *agent) rebuildVMRecord(id int64) store.VM {
	var v store.VM
	a.st.View(func(tx *store.Tx) { v, _ = tx.VM(id) })
	return v
}

func rebuildSteps(done []map[string]any) string {
	var types []string
	for _, o := range done {
		types = append(types, o["type"].(string)+":"+o["step"].(string))
	}
	return strings.Join(types, ",")
}

// vm.rebuild of a running VM with a data disk: the system disk is
// replaced by a copy of the source, the VM keeps its id, iface, address
// and data disk, runs again, and has a seed under a new instance-id.
func TestVMRebuild(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rebuilt")
	before := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	sys := before["disks_id"].([]int64)[0]
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, data, map[string]any{}))
	a.writeDisk(sys, "old-os")
	a.writeDisk(data, "keep-me")
	snap := a.takeSnapshot(a.alice, sys)
	src := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(32), "name": "golden"}))[0]["disk_id"].(int64)
	a.writeDisk(src, "new-os")
	firstSeed := a.rebuildSeedMeta(vmID)
	if !strings.Contains(firstSeed, a.wf.UUID(vmID)+`"`) {
		t.Fatalf("first seed %s, want instance-id %s", firstSeed, a.wf.UUID(vmID))
	}

	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": src}))
	if got := rebuildSteps(done); got != "vm_stop:DONE,disk_detach:DONE,vm_rebuild:DONE,disk_attach:DONE,vm_start:DONE" {
		t.Fatalf("operations = %s", got)
	}
	newID := done[2]["disk_id"].(int64)
	if p := done[2]["params"].(map[string]any); p["old_disk_id"] != sys || p["source"] != src {
		t.Errorf("vm_rebuild params = %v", p)
	}
	after := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if ids := after["disks_id"].([]int64); len(ids) != 2 || ids[0] != newID || ids[1] != data {
		t.Fatalf("disks_id = %v, want [%d %d]", ids, newID, data)
	}
	if after["state"] != "running" || after["id"] != vmID || after["hostname"] != "rebuilt" {
		t.Errorf("vm after = state %v id %v hostname %v", after["state"], after["id"], after["hostname"])
	}
	if !slices.Equal(after["ifaces_id"].([]int64), before["ifaces_id"].([]int64)) {
		t.Errorf("ifaces_id %v, want %v", after["ifaces_id"], before["ifaces_id"])
	}
	ipOf := func(info map[string]any) any {
		return info["ifaces"].([]any)[0].(map[string]any)["ips"].([]any)[0].(map[string]any)["ip"]
	}
	if ipOf(after) != ipOf(before) {
		t.Errorf("address %v, want %v kept", ipOf(after), ipOf(before))
	}
	if got := a.readDisk(newID, 6); got != "new-os" {
		t.Errorf("new system disk holds %q, want the source's data", got)
	}
	if got := a.readDisk(data, 7); got != "keep-me" {
		t.Errorf("data disk holds %q", got)
	}
	if a.diskState(sys) != "gone" {
		t.Errorf("old system disk still recorded")
	}
	if _, err := os.Stat(a.vols.Path(workflow.VolumeName(sys))); !os.IsNotExist(err) {
		t.Errorf("old system volume left behind: %v", err)
	}
	d := a.mustCall(a.alice, "hosting.disk.info", newID).(map[string]any)
	if d["name"] != "sys-rebuilt" || d["is_boot_disk"] != true || d["size"] != int64(64) {
		t.Errorf("new system disk = %v (want the old one's name and size, booting)", d)
	}
	if ids := d["snapshots_id"].([]int64); len(ids) != 1 || ids[0] != snap {
		t.Errorf("the old system disk's snapshots should be the new one's: %v", ids)
	}
	if v := a.rebuildVMRecord(vmID); v.SeedGen != 1 {
		t.Errorf("SeedGen = %d, want 1", v.SeedGen)
	}
	if s := a.rebuildSeedMeta(vmID); !strings.Contains(s, a.wf.UUID(vmID)+`-g1"`) {
		t.Errorf("seed after the rebuild: %s, want instance-id %s-g1", s, a.wf.UUID(vmID))
	}

	// Again, from the image by its image_id: the next generation.
	images := a.mustCall(a.alice, "hosting.image.list", map[string]any{}).([]any)
	imageID := images[0].(map[string]any)["id"]
	done = a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": imageID}))
	if d := a.disk(done[2]["disk_id"].(int64)); d.Source != a.image || d.Cmdline != "root=/dev/xvda ro" {
		t.Errorf("disk rebuilt from the image = %+v", d)
	}
	if s := a.rebuildSeedMeta(vmID); !strings.Contains(s, a.wf.UUID(vmID)+`-g2"`) {
		t.Errorf("seed after the second rebuild: %s", s)
	}
}

// A halted VM asked not to start: no stop, no start, halted at the end.
func TestVMRebuildHalted(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "halted")
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1), "start": false}))
	if got := rebuildSteps(done); got != "disk_detach:DONE,vm_rebuild:DONE,disk_attach:DONE" {
		t.Fatalf("operations = %s", got)
	}
	if s := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; s != "halted" {
		t.Errorf("state = %v, want halted", s)
	}
	// Without "start", a halted VM runs at the end (Gigas's default).
	done = a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
	if got := rebuildSteps(done); got != "disk_detach:DONE,vm_rebuild:DONE,disk_attach:DONE,vm_start:DONE" {
		t.Fatalf("operations = %s", got)
	}
	if s := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; s != "running" {
		t.Errorf("state = %v, want running", s)
	}
	// A source larger than the system disk makes it grow to the source's
	// size (disks never shrink; the quota is charged the difference).
	used := func() int64 {
		return a.mustCall(a.alice, "hosting.account.info").(map[string]any)["resources"].(map[string]any)["used"].(map[string]any)["disk"].(int64)
	}
	big := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(128)}))[0]["disk_id"].(int64)
	before := used()
	done = a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": big, "start": true}))
	if d := a.disk(done[3]["disk_id"].(int64)); d.SizeMB != 128 {
		t.Errorf("system disk rebuilt from a 128 MB disk has %d MB", d.SizeMB)
	}
	if u := used(); u != before+64 {
		t.Errorf("quota use %d MB, want %d (+64)", u, before+64)
	}
}

// Bad input gets a fault naming the field and changes nothing.
func TestVMRebuildRefused(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "refused")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	bobDisk := a.mustDone(a.bob, a.mustCall(a.bob, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	for _, c := range []struct {
		who    *service.Caller
		params []any
		want   string
	}{
		{a.alice, []any{vmID}, "rebuild_spec"},
		{a.alice, []any{vmID, map[string]any{}}, "image_id"},
		{a.alice, []any{vmID, map[string]any{"image_id": int64(1), "disk_id": a.image}}, "image_id"},
		{a.alice, []any{vmID, map[string]any{"image_id": int64(999)}}, "image_id: image 999"},
		{a.alice, []any{vmID, map[string]any{"image_id": "1"}}, "image_id"},
		{a.alice, []any{vmID, map[string]any{"disk_id": int64(0)}}, "disk_id"},
		{a.alice, []any{vmID, map[string]any{"disk_id": sys}}, "disk_id: disk"},
		{a.alice, []any{vmID, map[string]any{"disk_id": bobDisk}}, "disk_id: disk"},
		{a.alice, []any{vmID, map[string]any{"disk_id": int64(4242)}}, "disk_id: disk 4242"},
		{a.alice, []any{vmID, map[string]any{"image_id": int64(1), "start": "yes"}}, "start"},
		{a.alice, []any{vmID, map[string]any{"image_id": int64(1), "template": int64(1)}}, "rebuild_spec.template"},
		{a.alice, []any{int64(9999), map[string]any{"image_id": int64(1)}}, "vm 9999"},
		{a.bob, []any{vmID, map[string]any{"image_id": int64(1)}}, "vm"},
		{a.alice, []any{vmID, map[string]any{"image_id": int64(1)}, map[string]any{}, int64(1)}, "too many arguments"},
	} {
		before := a.snapshot()
		if _, f := a.call(c.who, "hosting.vm.rebuild", c.params...); f == nil || !strings.Contains(f.Msg, c.want) {
			t.Errorf("vm.rebuild %v: fault %v, want one naming %q", c.params, f, c.want)
		}
		if a.snapshot() != before {
			t.Errorf("vm.rebuild %v: a refused call changed records", c.params)
		}
	}
	// While a rebuild is queued, the old system disk is in state
	// rollback: nothing else may change it, and a second rebuild waits
	// for no disk in that state.
	a = a.reopen(false)
	a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)})
	if st := a.diskState(sys); st != store.DiskRollback {
		t.Fatalf("old system disk state = %s, want rollback", st)
	}
	for _, c := range []struct {
		method string
		params []any
	}{
		{"hosting.disk.update", []any{sys, map[string]any{"name": "x"}}},
		{"hosting.disk.create_from", []any{map[string]any{"type": "snapshot"}, sys}},
		{"hosting.vm.rebuild", []any{vmID, map[string]any{"image_id": int64(1)}}},
	} {
		before := a.snapshot()
		if _, f := a.call(a.alice, c.method, c.params...); f == nil || !strings.Contains(f.Error(), "rollback") && !strings.Contains(f.Error(), "vm_rebuild") {
			t.Errorf("%s during a rebuild: fault %v, want one saying the disk is in rollback or being rebuilt", c.method, f)
		}
		if a.snapshot() != before {
			t.Errorf("%s: a refused call changed records", c.method)
		}
	}
}

// When vm_rebuild fails, the operations after it put the old system disk
// back at position 0 and start the VM again; the seed keeps its
// instance-id.
func TestVMRebuildFailurePutsBack(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rbfail")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	src := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(32)}))[0]["disk_id"].(int64)
	seed := a.rebuildSeedMeta(vmID)
	// The source's volume vanishes behind the agent's back.
	if err := os.Remove(a.vols.Path(workflow.VolumeName(src))); err != nil {
		t.Fatal(err)
	}
	done := a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": src}))
	if got := rebuildSteps(done); got != "vm_stop:DONE,disk_detach:DONE,vm_rebuild:ERROR,disk_attach:CANCEL,vm_start:CANCEL" {
		t.Fatalf("operations = %s", got)
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
		t.Errorf("the failed rebuild's disk is still recorded")
	}
	if v := a.rebuildVMRecord(vmID); v.SeedGen != 0 {
		t.Errorf("SeedGen = %d after a failed rebuild", v.SeedGen)
	}
	if s := a.rebuildSeedMeta(vmID); s != seed {
		t.Errorf("seed after a failed rebuild: %s, want %s", s, seed)
	}
}

// A rebuild cancelled once its new seed is written (the last boundary
// before the swap) rolls back: the seed the record names is written
// again, the new volume goes, and the chain puts the old system disk
// back and starts the VM.
func TestVMRebuildCancelledAfterSeed(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rbcancel")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	seed := a.rebuildSeedMeta(vmID)
	var written string
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == "vm_rebuild" && boundary == "done:seed" {
			written = a.rebuildSeedMeta(vmID)
			if err := a.eng.Cancel(op.ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
		}
	})
	done := a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
	a.rig.OnBoundary(nil)
	if got := rebuildSteps(done); got != "vm_stop:DONE,disk_detach:DONE,vm_rebuild:CANCEL,disk_attach:CANCEL,vm_start:CANCEL" {
		t.Fatalf("operations = %s", got)
	}
	if !strings.Contains(written, a.wf.UUID(vmID)+`-g1"`) {
		t.Errorf("seed before the swap: %s, want the next instance-id", written)
	}
	if s := a.rebuildSeedMeta(vmID); s != seed {
		t.Errorf("seed after the cancelled rebuild: %s, want %s back", s, seed)
	}
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if ids := info["disks_id"].([]int64); len(ids) != 1 || ids[0] != sys || info["state"] != "running" {
		t.Fatalf("vm after = disks %v state %v, want [%d] running", ids, info["state"], sys)
	}
	if _, err := os.Stat(a.vols.Path(workflow.VolumeName(done[2]["disk_id"].(int64)))); !os.IsNotExist(err) {
		t.Errorf("the cancelled rebuild's volume is left: %v", err)
	}
}

// A VM under the operator's lock refuses a rebuild with the lock's fault,
// and nothing changes; unlocked, the rebuild goes ahead.
func TestVMRebuildLocked(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rblocked")
	a.mustCall(a.op, "hosting.vm.lock", vmID, "legal hold")
	before := a.snapshot()
	if _, f := a.call(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}); f == nil || !strings.Contains(f.Msg, "legal hold") {
		t.Fatalf("rebuild of a locked VM: fault %v, want one naming the lock", f)
	}
	if a.snapshot() != before {
		t.Errorf("a refused rebuild changed records")
	}
	a.mustCall(a.op, "hosting.vm.unlock", vmID)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
}

// The seed a failed rebuild puts back is of the kind the record names:
// after new credentials, a later seed that keeps the guest's host keys,
// not a first boot's that would make it generate new ones.
func TestVMRebuildFailureKeepsCredentialSeedKind(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rbcreds")
	a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"password": "new-secret-42"}))
	before, userData, _ := a.credSeed(vmID)
	if !strings.Contains(userData, `"ssh_deletekeys": false`) {
		t.Fatalf("the credentials seed does not keep the host keys:\n%s", userData)
	}
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == "vm_rebuild" && boundary == "done:seed" {
			if err := a.eng.Cancel(op.ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
		}
	})
	a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
	a.rig.OnBoundary(nil)
	after, userData, _ := a.credSeed(vmID)
	if after != before || !strings.Contains(userData, `"ssh_deletekeys": false`) {
		t.Fatalf("seed after a cancelled rebuild: %s (was %s), user-data:\n%s", after, before, userData)
	}
}

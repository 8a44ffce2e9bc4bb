package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/storage/nocloud"
)

// rebuildBoundaries are every step boundary of hosting.vm.rebuild's chain
// on a running VM: vm_stop, disk_detach, vm_rebuild, disk_attach, vm_start.
var rebuildBoundaries = []string{
	"vm_stop:begin:stop", "vm_stop:done:stop", "vm_stop:done:finish",
	"disk_detach:begin:detach", "disk_detach:done:detach",
	"vm_rebuild:begin:clone", "vm_rebuild:done:clone", "vm_rebuild:begin:seed", "vm_rebuild:done:seed",
	"vm_rebuild:begin:swap", "vm_rebuild:done:swap", "vm_rebuild:begin:delete_old_volume", "vm_rebuild:done:delete_old_volume",
	"vm_rebuild:begin:forget_old", "vm_rebuild:done:forget_old",
	"disk_attach:begin:attach", "disk_attach:done:attach",
	"vm_start:begin:start", "vm_start:done:start", "vm_start:begin:finish", "vm_start:done:finish",
}

// A kill -9 at every step boundary of hosting.vm.rebuild (on libvirt's
// test driver, whose domains vanish with the agent): after a restart and
// the client's retry (the same operations), every operation ends DONE,
// the VM runs on exactly one new system disk with its data disk, the old
// disk and its volume are gone, volumes match records, the seed carries
// the next instance-id, and the VM still stops and starts.
func TestCrashDuringRebuild(t *testing.T) {
	for _, fp := range rebuildBoundaries {
		t.Run(fp, func(t *testing.T) {
			l := newDriverLab(t)
			// Armed from the start, so the VM still runs when the call
			// comes (the test driver forgets domains at a restart), unless
			// the fixture itself would reach the fail point (its data disk's
			// disk_attach): then armed by a restart, and the VM started again.
			setupHitsFP := strings.HasPrefix(fp, "disk_attach:")
			if setupHitsFP {
				l.start("")
			} else {
				l.start(fp)
			}
			made := l.done("hosting.vm.create_from",
				map[string]any{"datacenter_id": int64(1), "hostname": "rebuilt", "memory": int64(256), "password": "first-boot-pass"},
				map[string]any{"name": "sys"}, l.imageDisk())
			vmID := made[2]["vm_id"].(int64)
			sys := l.must("hosting.vm.info", vmID).(map[string]any)["disks_id"].([]any)[0].(int64)
			data := l.done("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(8)})[0]["disk_id"].(int64)
			l.done("hosting.vm.disk_attach", vmID, data, map[string]any{})
			if setupHitsFP {
				l.restart(fp)
				if l.vmState(vmID) != "running" {
					l.done("hosting.vm.start", vmID)
				}
			}
			imageID := l.must("hosting.image.list", map[string]any{}).([]any)[0].(map[string]any)["id"]
			rebuild := func() (any, error) {
				return l.call("hosting.vm.rebuild", vmID, map[string]any{"image_id": imageID}, map[string]any{"idempotency_key": "rb"})
			}
			rebuild() // the fail point may kill the agent before it answers
			l.waitKilled()
			l.start("")
			if _, err := rebuild(); err != nil { // the client's retry: the same operations
				t.Fatalf("retried rebuild: %v", err)
			}
			disks := l.checkDisks()
			if fp == "vm_start:done:finish" && l.vmState(vmID) == "halted" {
				// The chain had ended: the domain died with the agent,
				// as the test driver's do, and the restart recorded it.
				l.done("hosting.vm.start", vmID)
			}
			info := l.must("hosting.vm.info", vmID).(map[string]any)
			ids := info["disks_id"].([]any)
			if len(ids) != 2 || ids[0] == sys || ids[1] != data || info["state"] != "running" {
				t.Fatalf("vm after = disks %v state %v, want a new system disk, data disk %d, running", ids, info["state"], data)
			}
			for _, d := range disks {
				if d.(map[string]any)["id"] == sys {
					t.Errorf("the old system disk is still listed: %v", d)
				}
			}
			if len(disks) != 2 {
				t.Errorf("disks = %v, want the new system disk and the data disk", disks)
			}
			p, ok := nocloud.New(filepath.Join(l.dir, "seeds")).Path(vmID)
			files, _, err := nocloud.ReadImage(p)
			if !ok || err != nil || !strings.Contains(string(files["meta-data"]), `-g1"`) {
				t.Errorf("seed after the rebuild (%v, %v): %s, want the second instance-id", ok, err, files["meta-data"])
			}
			ran := 0
			for _, o := range l.settle() {
				if o["type"] == "vm_rebuild" {
					ran++
				}
			}
			if ran != 1 {
				t.Errorf("%d vm_rebuild operations, want 1", ran)
			}
			l.done("hosting.vm.stop", vmID)
			l.done("hosting.vm.start", vmID)
			if s := l.vmState(vmID); s != "running" {
				t.Fatalf("after stop and start: state %s", s)
			}
			l.checkVolumes()
			l.stop()
		})
	}
}

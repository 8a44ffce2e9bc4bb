package main

import (
	"math/rand"
	"testing"
)

func (l *lab) imageDisk() any {
	return l.must("hosting.image.list", map[string]any{}).([]any)[0].(map[string]any)["disk_id"]
}

// A kill -9 at every step boundary of disk.create_from, disk.update and
// disk.delete: after a restart the operation is finished and volumes and
// records match.
func TestCrashDuringDiskOperations(t *testing.T) {
	boundaries := []struct {
		fp   string
		call func(l *lab)
		want func(t *testing.T, disks []any)
	}{}
	create := func(l *lab) {
		l.create("hosting.disk.create_from", map[string]any{"name": "data1", "size": int64(16)}, l.imageDisk(),
			map[string]any{"disk_id": int64(7001), "idempotency_key": "c1"})
	}
	wantOne := func(size int64) func(t *testing.T, disks []any) {
		return func(t *testing.T, disks []any) {
			if len(disks) != 1 || disks[0].(map[string]any)["size"] != size || disks[0].(map[string]any)["state"] != "created" {
				t.Fatalf("disks = %v, want one created disk of %d MB", disks, size)
			}
		}
	}
	for _, b := range []string{"begin:create_volume", "done:create_volume", "begin:finish", "done:finish"} {
		boundaries = append(boundaries, struct {
			fp   string
			call func(l *lab)
			want func(t *testing.T, disks []any)
		}{"disk_create:" + b, create, wantOne(16)})
	}
	for _, b := range []string{"begin:apply", "done:apply", "begin:reboot", "done:reboot", "begin:finish", "done:finish"} {
		boundaries = append(boundaries, struct {
			fp   string
			call func(l *lab)
			want func(t *testing.T, disks []any)
		}{"disk_update:" + b, func(l *lab) {
			create(l)
			l.checkDisks()
			l.call("hosting.disk.update", int64(7001), map[string]any{"size": int64(48), "name": "grown"})
		}, wantOne(48)})
	}
	for _, b := range []string{"begin:delete_volume", "done:delete_volume", "begin:forget", "done:forget"} {
		boundaries = append(boundaries, struct {
			fp   string
			call func(l *lab)
			want func(t *testing.T, disks []any)
		}{"disk_delete:" + b, func(l *lab) {
			create(l)
			l.checkDisks()
			l.call("hosting.disk.delete", int64(7001))
		}, func(t *testing.T, disks []any) {
			if len(disks) != 0 {
				t.Fatalf("disks after delete = %v", disks)
			}
		}})
	}
	for _, b := range boundaries {
		t.Run(b.fp, func(t *testing.T) {
			l := newLab(t, "")
			l.start(b.fp)
			b.call(l)
			l.waitKilled()
			l.start("")
			if b.fp[:11] == "disk_create" {
				create(l) // the client's retry: same operation, no second disk
			}
			b.want(t, l.checkDisks())
			l.stop()
		})
	}
}

var rollbackBoundaries = []string{
	"disk_rollback:begin:clone", "disk_rollback:done:clone", "disk_rollback:begin:swap", "disk_rollback:done:swap",
	"disk_rollback:begin:delete_old_volume", "disk_rollback:done:delete_old_volume", "disk_rollback:begin:forget_old", "disk_rollback:done:forget_old",
}

// A kill -9 at every step boundary of disk.rollback_from: after a restart
// the snapshot and exactly one disk (the rolled back one) remain, each
// with its volume.
func TestCrashDuringRollbackFrom(t *testing.T) {
	for _, fp := range rollbackBoundaries {
		t.Run(fp, func(t *testing.T) {
			l := newLab(t, "")
			l.start(fp)
			l.mustCreate("hosting.disk.create_from", map[string]any{"name": "data1", "size": int64(16)}, l.imageDisk(), map[string]any{"disk_id": int64(7001)})
			l.checkDisks()
			l.mustCreate("hosting.disk.create_from", map[string]any{"type": "snapshot"}, int64(7001), map[string]any{"disk_id": int64(7002)})
			l.checkDisks()
			rollback := func() { l.call("hosting.disk.rollback_from", int64(7002), map[string]any{"idempotency_key": "rb"}) }
			rollback()
			l.waitKilled()
			l.start("")
			rollback() // the client's retry: the same operation
			disks := l.checkDisks()
			if len(disks) != 2 {
				t.Fatalf("disks = %v, want the snapshot and the rolled back disk", disks)
			}
			for _, d := range disks {
				m := d.(map[string]any)
				if m["id"] == int64(7001) || m["state"] != "created" {
					t.Errorf("disk %v", m)
				}
				if m["type"] == "snapshot" && m["source"] == int64(7001) {
					t.Errorf("the snapshot still points at the replaced disk: %v", m)
				}
			}
			l.stop()
		})
	}
}

// A kill -9 inside vm.disk_rollback's chain on a running guest (real
// QEMU): after a restart every operation finishes, the VM runs again on
// the rolled back system disk, and volumes match records.
func TestCrashDuringVMDiskRollback(t *testing.T) {
	for _, fp := range []string{
		"vm_stop:done:stop", "disk_detach:done:detach", "disk_rollback:done:clone", "disk_rollback:done:swap",
		"disk_attach:begin:attach", "disk_attach:done:attach", "vm_start:begin:start", "vm_start:done:start",
	} {
		t.Run(fp, func(t *testing.T) {
			l := newLab(t, "[timeouts]\nstop = \"3s\"\nstop_messages = 1\n")
			vmID := 920000 + rand.Int63n(70000)
			t.Cleanup(func() { undefine(vmID) })
			l.start(fp)
			l.createFrom(vmID)
			l.checkWhole(vmID, true)
			sys := l.must("hosting.vm.info", vmID).(map[string]any)["disks_id"].([]any)[0]
			l.mustCreate("hosting.disk.create_from", map[string]any{"type": "snapshot"}, sys, map[string]any{"disk_id": int64(7002)})
			l.checkDisks()
			l.call("hosting.vm.disk_rollback", int64(7002), map[string]any{"idempotency_key": "rb"})
			l.waitKilled()
			l.start("")
			l.checkWhole(vmID, true)
			ids := l.must("hosting.vm.info", vmID).(map[string]any)["disks_id"].([]any)
			if len(ids) != 1 || ids[0] == sys {
				t.Fatalf("disks_id = %v, want the rolled back disk instead of %v", ids, sys)
			}
			l.stop()
		})
	}
}

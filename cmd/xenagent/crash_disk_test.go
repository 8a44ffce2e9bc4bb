package main

import (
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
		l.call("hosting.disk.create_from", map[string]any{"name": "data1", "size": int64(16)}, l.imageDisk(),
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

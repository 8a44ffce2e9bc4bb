package gandi

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// The same for disk.rollback_from (the chain rebuild copies): a snapshot
// asked before the rollback holds the disk as it was, not the rolled-back one.
func TestRollbackAfterPendingSnapshot(t *testing.T) {
	a := newAgent(t, true)
	disk := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.writeDisk(disk, "v1")
	first := a.takeSnapshot(a.alice, disk)
	a.writeDisk(disk, "v2")
	swapped := make(chan struct{})
	var once sync.Once
	a.rig.OnBoundary(func(op store.Operation, b string) {
		switch {
		case op.Type == "disk_create" && b == "begin:create_volume":
			select {
			case <-swapped:
			case <-time.After(3 * time.Second):
			}
		case op.Type == "disk_rollback" && b == "done:swap":
			once.Do(func() { close(swapped) })
		}
	})
	snapOp := a.mustCall(a.alice, "hosting.disk.create_from", map[string]any{"type": "snapshot"}, disk)
	rb, f := a.call(a.alice, "hosting.disk.rollback_from", first)
	if f != nil {
		once.Do(func() { close(swapped) })
	}
	snap := a.wait(a.alice, snapOp)[0]
	a.rig.OnBoundary(nil)
	if f != nil {
		if f.Cause != CauseConflict || !strings.Contains(f.Msg, "snapshot or copy") {
			t.Errorf("rollback while a snapshot of the disk is made: %v", f)
		}
		return
	}
	a.wait(a.alice, rb)
	if snap["step"] != "DONE" {
		t.Fatalf("the snapshot asked before the rollback ended %v: %v", snap["step"], snap["last_error"])
	}
	if got := a.readDisk(snap["disk_id"].(int64), 2); got != "v2" {
		t.Errorf("snapshot taken before the rollback holds %q, want v2", got)
	}
}

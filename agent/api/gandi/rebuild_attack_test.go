package gandi

import (
	"context"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// A second rebuild asked while the first one's chain has detached the
// system disk must not take the data disk (now first in the VM's list)
// for the system disk.
func TestVMRebuildTwiceKeepsDataDisk(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "twice")
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, data, map[string]any{}))
	a.writeDisk(data, "keep-me")
	second := make(chan any, 1)
	a.hook.set(func(op store.Operation, boundary string) {
		if op.Type == "vm_rebuild" && boundary == "begin:clone" {
			a.hook.set(nil)
			v, err := a.api.Call(context.Background(), a.alice, "hosting.vm.rebuild", []any{vmID, map[string]any{"image_id": int64(1)}})
			if err != nil {
				second <- err
				return
			}
			second <- v
		}
	})
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
	f, ok := (<-second).(*Fault)
	if !ok || f.Cause != CauseConflict || !strings.Contains(f.Msg, "vm_id: ") || !strings.Contains(f.Msg, "vm_rebuild, is not finished") {
		t.Errorf("second rebuild while the first one's system disk is detached: %v, want a conflict naming the pending rebuild", f)
	}
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	ids := info["disks_id"].([]int64)
	if len(ids) != 2 || ids[1] != data {
		t.Fatalf("disks_id = %v, want the data disk %d kept second", ids, data)
	}
	if got := a.readDisk(data, 7); got != "keep-me" {
		t.Errorf("data disk holds %q", got)
	}
}

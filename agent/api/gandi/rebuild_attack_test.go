package gandi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
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
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == "vm_rebuild" && boundary == "begin:clone" {
			a.rig.OnBoundary(nil)
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

// rebuildAt runs fn (in the engine's goroutine) at the first boundary
// named boundary of an operation of type typ, and returns what fn gave.
func (a *agent) rebuildAt(typ, boundary string, fn func(op store.Operation) any) chan any {
	out := make(chan any, 1)
	a.rig.OnBoundary(func(op store.Operation, b string) {
		if op.Type == typ && b == boundary {
			a.rig.OnBoundary(nil)
			out <- fn(op)
		}
	})
	return out
}

func (a *agent) rawCall(c *service.Caller, method string, params ...any) any {
	v, err := a.api.Call(context.Background(), c, method, params)
	if err != nil {
		return err
	}
	return v
}

// Calls that race a rebuild's chain: each ends in a defined way and
// leaves consistent records (the harness runs the store's Check at close).
func TestVMRebuildRaces(t *testing.T) {
	t.Run("chain cancelled before vm_rebuild", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "rbc")
		sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
		got := a.rebuildAt("vm_stop", "begin:stop", func(op store.Operation) any { return a.eng.Cancel(op.ID) })
		done := a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
		if err := <-got; err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if s := rebuildSteps(done); s != "vm_stop:CANCEL,disk_detach:CANCEL,vm_rebuild:CANCEL,disk_attach:CANCEL,vm_start:CANCEL" {
			t.Errorf("operations = %s", s)
		}
		if st := a.diskState(sys); st != store.DiskCreated {
			t.Errorf("old system disk state %s, want created again", st)
		}
		if st := a.diskState(done[2]["disk_id"].(int64)); st != "gone" {
			t.Errorf("the cancelled rebuild's disk is %s", st)
		}
		info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
		if ids := info["disks_id"].([]int64); len(ids) != 1 || ids[0] != sys || info["state"] != "running" {
			t.Errorf("vm after = %v %v", ids, info["state"])
		}
	})
	for _, at := range []string{"vm_stop begin:stop", "vm_rebuild begin:clone", "vm_rebuild done:swap", "disk_attach begin:attach"} {
		t.Run("vm.delete at "+at, func(t *testing.T) { rebuildDeleteAt(t, strings.Fields(at)[0], strings.Fields(at)[1]) })
	}
	t.Run("lock during vm_rebuild", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "rbl")
		got := a.rebuildAt("vm_rebuild", "begin:clone", func(op store.Operation) any { return a.rawCall(a.op, "hosting.vm.lock", vmID, "hold") })
		a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
		if _, ok := (<-got).(map[string]any); !ok {
			t.Fatal("lock during a rebuild refused")
		}
		if st := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; st != "locked" {
			t.Errorf("state = %v", st)
		}
		if l := a.mustCall(a.alice, "hosting.vm.locks", vmID).([]any); len(l) != 1 {
			t.Errorf("locks after the chain = %v", l)
		}
	})
	t.Run("disk.delete of the source during the chain", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "rbs")
		src := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(32)}))[0]["disk_id"].(int64)
		a.writeDisk(src, "src")
		got := a.rebuildAt("vm_stop", "begin:stop", func(op store.Operation) any { return a.rawCall(a.alice, "hosting.disk.delete", src) })
		done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": src}))
		del, ok := (<-got).(map[string]any)
		if !ok {
			t.Fatal("disk.delete refused")
		}
		a.mustDone(a.alice, del)
		if got := a.readDisk(done[2]["disk_id"].(int64), 3); got != "src" || a.diskState(src) != "gone" {
			t.Errorf("new system disk holds %q, source %s", got, a.diskState(src))
		}
	})
}

// rebuildDeleteAt asks vm.delete at a boundary of the rebuild's chain.
func rebuildDeleteAt(t *testing.T, typ, boundary string) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "rbd")
	got := a.rebuildAt(typ, boundary, func(op store.Operation) any { return a.rawCall(a.alice, "hosting.vm.delete", vmID) })
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
	del, ok := (<-got).(map[string]any)
	if !ok {
		t.Fatalf("vm.delete during the rebuild refused")
	}
	a.mustDone(a.alice, del)
	// Nothing left but the image's disk and volume.
	if n := a.snapshot(); n[0] != 0 || n[1] != 1 || n[2] != 0 || n[3] != 0 || n[5] != 1 {
		t.Errorf("records after = %v (ops %s)", n, rebuildSteps(done))
	}
}

// Retries, sources and quotas through the face.
func TestVMRebuildSources(t *testing.T) {
	t.Run("retry with the same key", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "idem")
		co := map[string]any{"idempotency_key": "k1"}
		first := a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}, co)
		again := a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}, co)
		ids := func(l any) (out []any) {
			for _, o := range l.([]any) {
				out = append(out, o.(map[string]any)["id"])
			}
			return out
		}
		if fmt.Sprint(ids(first)) != fmt.Sprint(ids(again)) {
			t.Errorf("retry gave operations %v, the call %v", ids(again), ids(first))
		}
		a.mustDone(a.alice, first)
		if _, f := a.call(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1), "start": false}, co); f == nil || f.Cause != CauseDuplicate {
			t.Errorf("another rebuild with the same key: %v", f)
		}
	})
	t.Run("snapshot source, another account's", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "snapsrc")
		sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
		a.writeDisk(sys, "v1")
		snap := a.takeSnapshot(a.alice, sys)
		a.writeDisk(sys, "v2")
		done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": snap}))
		if got := a.readDisk(done[2]["disk_id"].(int64), 2); got != "v1" || a.diskState(snap) != store.DiskCreated {
			t.Errorf("rebuilt from its snapshot: holds %q, snapshot %s", got, a.diskState(snap))
		}
		bobVM := a.createVM(a.bob, "bobvm")
		for _, c := range []*service.Caller{a.bob, a.op} {
			before := a.snapshot()
			if _, f := a.call(c, "hosting.vm.rebuild", bobVM, map[string]any{"disk_id": snap}); f == nil || f.Cause != CauseNotFound {
				t.Errorf("%s: bob's VM from alice's snapshot: %v", c.Handle, f)
			}
			if a.snapshot() != before {
				t.Errorf("a refused rebuild changed records")
			}
		}
	})
	t.Run("quota", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "quota")
		big := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(1024)}))[0]["disk_id"].(int64)
		a.svc.EnsureAccount("ALICE-GANDI", "Alice", service.HashKey("alice-key-0123456789abcd"), 1024+64+10)
		before := a.snapshot()
		if _, f := a.call(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": big}); f == nil || f.Cause != CauseQuota || !strings.Contains(f.Msg, "960 MB more") {
			t.Errorf("rebuild beyond the quota: %v", f)
		}
		if a.snapshot() != before {
			t.Errorf("a refused rebuild changed records")
		}
	})
	t.Run("failure with start false", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "sf")
		sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
		src := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(32)}))[0]["disk_id"].(int64)
		os.Remove(a.vols.Path(workflow.VolumeName(src)))
		done := a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": src, "start": false}))
		info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
		// As documented: the old disk is back, the VM stays halted.
		if ids := info["disks_id"].([]int64); rebuildSteps(done) != "vm_stop:DONE,disk_detach:DONE,vm_rebuild:ERROR,disk_attach:CANCEL" || len(ids) != 1 || ids[0] != sys || info["state"] != "halted" {
			t.Errorf("ops %s, vm %v %v", rebuildSteps(done), ids, info["state"])
		}
	})
	t.Run("a data disk of the same VM, a disk of another running VM", func(t *testing.T) {
		a := newAgent(t, true)
		vmID := a.createVM(a.alice, "dsv")
		data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
		a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, data, map[string]any{}))
		a.writeDisk(data, "dd")
		done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": data}))
		nd := done[2]["disk_id"].(int64)
		if ids := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64); len(ids) != 2 || ids[0] != nd || ids[1] != data || a.readDisk(nd, 2) != "dd" {
			t.Errorf("disks after = %v", ids)
		}
		other := a.createVM(a.alice, "iu2")
		osys := a.mustCall(a.alice, "hosting.vm.info", other).(map[string]any)["disks_id"].([]int64)[0]
		a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": osys}))
	})
}

// A snapshot of the system disk asked before a rebuild holds the old
// system, whenever its copy runs: never the new one (the swap moves the
// old disk's snapshots to the new disk, the unfinished one too, and its
// copy would then read the new disk) nor a volume deleted under it.
func TestVMRebuildAfterPendingSnapshot(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "snapfirst")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	a.writeDisk(sys, "old-os")
	src := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.writeDisk(src, "new-os")
	swapped := make(chan struct{})
	var once sync.Once
	a.rig.OnBoundary(func(op store.Operation, b string) {
		switch {
		case op.Type == "disk_create" && b == "begin:create_volume":
			select { // the copy waits for the swap (or not forever)
			case <-swapped:
			case <-time.After(3 * time.Second):
			}
		case op.Type == "vm_rebuild" && b == "done:swap":
			once.Do(func() { close(swapped) })
		}
	})
	snapOp := a.mustCall(a.alice, "hosting.disk.create_from", map[string]any{"type": "snapshot"}, sys)
	_, f := a.call(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"disk_id": src})
	if f != nil {
		once.Do(func() { close(swapped) })
	}
	snap := a.wait(a.alice, snapOp)[0]
	a.rig.OnBoundary(nil)
	if f == nil {
		if snap["step"] != "DONE" {
			t.Fatalf("the snapshot asked before the rebuild ended %v: %v", snap["step"], snap["last_error"])
		}
		if got := a.readDisk(snap["disk_id"].(int64), 6); got != "old-os" {
			t.Errorf("snapshot of the old system disk holds %q", got)
		}
		return
	}
	if f.Cause != CauseConflict || !strings.Contains(f.Msg, "snapshot") {
		t.Errorf("rebuild while a snapshot of the system disk is made: %v", f)
	}
}

// A rebuild from a source naming a kernel this host does not have (an
// image's, or one removed since a disk was set to it) is refused: past
// the swap the VM could not be defined with it, and was left with no
// system disk at all, its old one deleted.
func TestVMRebuildUnknownKernel(t *testing.T) {
	kernels := t.TempDir()
	os.MkdirAll(filepath.Join(kernels, "6.1"), 0o755)
	os.WriteFile(filepath.Join(kernels, "6.1", "vmlinuz"), []byte("k"), 0o644)
	a := newAgent(t, true, func(c *agentConfig) { c.KernelsDir = kernels })
	if err := a.wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "pv", SizeMB: 8, KernelVersion: "6.1", Cmdline: "root=/dev/xvda ro"}); err != nil {
		t.Fatal(err)
	}
	var img int64
	a.st.View(func(tx *store.Tx) {
		tx.EachImage(func(i *store.Image) bool {
			if i.Label == "pv" {
				img = i.ID
			}
			return true
		})
	})
	vmID := a.createVM(a.alice, "kern")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	os.RemoveAll(filepath.Join(kernels, "6.1"))
	before := a.snapshot()
	if _, f := a.call(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": img}); f == nil || !strings.Contains(f.Msg, `image_id: disk `) || !strings.Contains(f.Msg, `kernel "6.1"`) {
		t.Fatalf("rebuild from an image whose kernel is gone: %v, want a fault naming image_id and the kernel", f)
	}
	if a.snapshot() != before || a.diskState(sys) != store.DiskCreated {
		t.Errorf("a refused rebuild changed records")
	}
	// With the kernel back, the rebuild goes through and the VM runs.
	os.MkdirAll(filepath.Join(kernels, "6.1"), 0o755)
	os.WriteFile(filepath.Join(kernels, "6.1", "vmlinuz"), []byte("k"), 0o644)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": img}))
	if info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any); info["state"] != "running" || len(info["disks_id"].([]int64)) != 1 {
		t.Errorf("vm after = %v %v", info["state"], info["disks_id"])
	}
}

// A rebuild asked while a growth of the system disk is queued: the new
// disk must not be smaller than the disk it replaces (disks never shrink).
func TestVMRebuildAfterPendingGrowth(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "grow")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	a = a.reopen(false)
	grow := a.mustCall(a.alice, "hosting.disk.update", sys, map[string]any{"size": int64(128)})
	ops, f := a.call(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)})
	a = a.reopen(true)
	a.mustDone(a.alice, grow)
	if f != nil {
		if f.Cause != CauseConflict || !strings.Contains(f.Msg, "disk_update, is not finished") {
			t.Errorf("rebuild while the system disk grows: %v", f)
		}
		// Once it has grown, the rebuild keeps the size.
		done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1)}))
		if d := a.disk(done[2]["disk_id"].(int64)); d.SizeMB != 128 {
			t.Errorf("rebuilt after the growth: %d MB, want 128", d.SizeMB)
		}
		return
	}
	done := a.wait(a.alice, ops)
	for _, o := range done {
		if o["type"] == "vm_rebuild" && o["step"] == "DONE" {
			if d := a.disk(o["disk_id"].(int64)); d.SizeMB < 128 {
				t.Errorf("the rebuilt system disk has %d MB, the disk it replaced 128", d.SizeMB)
			}
		}
	}
}

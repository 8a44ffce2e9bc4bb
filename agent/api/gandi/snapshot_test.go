package gandi

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/workflow"
)

func TestSnapshots(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "snapme")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	// Data on the disk before the snapshot is in the snapshot.
	f, _ := os.OpenFile(a.vols.Path(workflow.VolumeName(sys)), os.O_WRONLY, 0)
	f.WriteAt([]byte("before"), 1<<20)
	f.Close()

	op := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create_from", map[string]any{"type": "snapshot"}, sys))
	snap := op[0]["disk_id"].(int64)
	info := a.mustCall(a.alice, "hosting.disk.info", snap).(map[string]any)
	if info["type"] != "snapshot" || info["source"] != sys || info["size"] != int64(64) || !strings.HasPrefix(info["name"].(string), "snap") || info["can_snapshot"] != false {
		t.Fatalf("snapshot info = %v", info)
	}
	if ids := a.mustCall(a.alice, "hosting.disk.info", sys).(map[string]any)["snapshots_id"].([]int64); len(ids) != 1 || ids[0] != snap {
		t.Fatalf("snapshots_id = %v", ids)
	}
	// Writing the disk afterwards leaves the snapshot as it was.
	f, _ = os.OpenFile(a.vols.Path(workflow.VolumeName(sys)), os.O_WRONLY, 0)
	f.WriteAt([]byte("after!"), 1<<20)
	f.Close()
	got := make([]byte, 6)
	f, _ = os.Open(a.vols.Path(workflow.VolumeName(snap)))
	f.ReadAt(got, 1<<20)
	f.Close()
	if !bytes.Equal(got, []byte("before")) {
		t.Fatalf("snapshot data = %q", got)
	}
	if n := a.mustCall(a.alice, "hosting.disk.count", map[string]any{"type": "snapshot"}); n != 1 {
		t.Fatalf("snapshot count = %v", n)
	}

	// A snapshot is not attached or updated; a disk is made from it.
	for _, c := range []struct {
		method string
		params []any
		field  string
	}{
		{"hosting.vm.disk_attach", []any{vmID, snap}, "snapshots are not attached"},
		{"hosting.disk.update", []any{snap, map[string]any{"name": "x"}}, "only data disks"},
		{"hosting.disk.create_from", []any{map[string]any{"type": "snapshot", "size": int64(128)}, sys}, "size"},
		{"hosting.disk.create_from", []any{map[string]any{"type": "snapshot"}, snap}, "only a data disk"},
		{"hosting.disk.create_from", []any{map[string]any{"type": "snapshot_auto"}, sys}, "type"},
		{"hosting.vm.create_from", []any{vmSpec("x"), map[string]any{"type": "snapshot"}, sys}, "system disk"},
	} {
		before := a.snapshot()
		if _, f := a.call(a.alice, c.method, c.params...); f == nil || !strings.Contains(f.Error(), c.field) {
			t.Errorf("%s %v: fault %v, want one naming %q", c.method, c.params, f, c.field)
		}
		if a.snapshot() != before {
			t.Errorf("%s: a refused call changed records", c.method)
		}
	}
	restored := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create_from", map[string]any{"name": "restored"}, snap))
	rid := restored[0]["disk_id"].(int64)
	f, _ = os.Open(a.vols.Path(workflow.VolumeName(rid)))
	f.ReadAt(got, 1<<20)
	f.Close()
	if !bytes.Equal(got, []byte("before")) {
		t.Fatalf("disk made from the snapshot holds %q", got)
	}
	// Snapshots count against the quota like any disk.
	acct := a.mustCall(a.alice, "hosting.account.info").(map[string]any)
	if used := acct["resources"].(map[string]any)["used"].(map[string]any)["disk"]; used != int64(64*3) {
		t.Fatalf("disk use = %v, want 192 (disk, snapshot, restored)", used)
	}
}

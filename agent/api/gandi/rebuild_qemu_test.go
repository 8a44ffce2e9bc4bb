package gandi

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// A running QEMU guest with a data disk, rebuilt from another image: it
// boots the new image's system (its behaviour on the console), reads a
// seed under the next instance-id, keeps its data disk in its definition,
// and the old system volume is gone.
func TestQEMURebuild(t *testing.T) {
	q := newQEMUAgent(t, 3*time.Second, 3*time.Second)
	vmID := q.boot("coop")
	q.waitConsole(vmID, "xenagent-guest: booted behaviour=coop", 1)
	sys := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]
	data := q.mustDone(q.alice, q.mustCall(q.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(8), "name": "data"}))[0]["disk_id"].(int64)
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.disk_attach", vmID, data, map[string]any{}))
	q.writeDisk(data, "keep-me")
	var imageID any
	for _, im := range q.mustCall(q.alice, "hosting.image.list", map[string]any{"label": "stubborn"}).([]any) {
		imageID = im.(map[string]any)["id"]
	}

	start := time.Now()
	done := q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": imageID}))
	t.Logf("rebuild chain %s took %s", rebuildSteps(done), time.Since(start).Round(time.Millisecond))
	newID := done[2]["disk_id"].(int64)
	q.waitConsole(vmID, "xenagent-guest: booted behaviour=stubborn", 1)
	q.waitConsole(vmID, fmt.Sprintf(`xenagent-guest: seed "instance-id": %q`, q.wf.UUID(vmID)+"-g1"), 1)
	q.waitConsole(vmID, guesttest.ReadyMarker, 2)

	info := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)
	if ids := info["disks_id"].([]int64); len(ids) != 2 || ids[0] != newID || ids[1] != data || info["state"] != "running" {
		t.Fatalf("vm after = disks %v state %v, want [%d %d] running", ids, info["state"], newID, data)
	}
	x, err := q.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{newID, data} {
		if !strings.Contains(x, q.vols.Path(workflow.VolumeName(id))) {
			t.Errorf("definition lacks disk %d:\n%s", id, x)
		}
	}
	if strings.Contains(x, q.vols.Path(workflow.VolumeName(sys))) {
		t.Errorf("definition still names the old system disk %d", sys)
	}
	if _, err := os.Stat(q.vols.Path(workflow.VolumeName(sys))); !os.IsNotExist(err) {
		t.Errorf("old system volume left behind: %v", err)
	}
	if got := q.readDisk(data, 7); got != "keep-me" {
		t.Errorf("data disk holds %q", got)
	}
}

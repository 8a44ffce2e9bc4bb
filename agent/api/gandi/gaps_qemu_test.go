package gandi

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/workflow"
)

// TestQEMUDiskAttachPosition shows why disk_attach refuses a position
// before the end on a running VM, and that one at the end is honoured: a
// running QEMU guest gets a disk hot-plugged at the next device (vdb,
// then vdc), and libvirt itself refuses a second disk on a device the
// guest already has, which is what inserting at position 1 would need
// before the disks after it could move.
func TestQEMUDiskAttachPosition(t *testing.T) {
	t.Parallel()
	q := newQEMUAgent(t, 30*time.Second, 30*time.Second)
	vmID := q.boot("coop")
	name := workflow.DomainName(vmID)
	newDisk := func() int64 {
		return q.mustDone(q.alice, q.mustCall(q.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)}))[0]["disk_id"].(int64)
	}
	path := func(id int64) string { return q.vols.Path(workflow.VolumeName(id)) }
	// blk is the running domain's disks, target → source, as libvirt has them live.
	blk := func() map[string]string {
		t.Helper()
		out, err := exec.Command("virsh", "-c", "qemu:///system", "domblklist", name).CombinedOutput()
		if err != nil {
			t.Fatalf("virsh domblklist: %v: %s", err, out)
		}
		m := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(f[0], "vd") {
				m[f[0]] = f[1]
			}
		}
		return m
	}
	d1, d2, d3 := newDisk(), newDisk(), newDisk()

	// At the end (position 1 of a one-disk VM): plugged live at vdb.
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.disk_attach", vmID, d1, map[string]any{"position": int64(1)}))
	if got := blk(); got["vdb"] != path(d1) {
		t.Fatalf("after attaching disk %d at position 1 of the running guest, live disks = %v", d1, got)
	}

	// Position 1 again: the guest's vdb would have to become vdc. libvirt
	// refuses a second disk on vdb while the guest runs...
	out, err := exec.Command("virsh", "-c", "qemu:///system", "attach-disk", name, path(d2), "vdb", "--live", "--targetbus", "virtio").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "vdb") {
		t.Fatalf("libvirt hot-plugged a second disk at vdb (err %v): %s", err, out)
	}
	t.Logf("libvirt, asked for a second disk at vdb of the running guest: %s", strings.Join(strings.Fields(string(out)), " "))
	// ...and so does the agent, at once, naming the rule.
	_, f := q.call(q.alice, "hosting.vm.disk_attach", vmID, d2, map[string]any{"position": int64(1)})
	if f == nil || f.Cause != CauseConflict || !strings.Contains(f.Msg, "position: vm "+strconv.FormatInt(vmID, 10)+" is running and has 2 disks") {
		t.Fatalf("position 1 on the running guest: fault %v", f)
	}
	if got := blk(); len(got) != 3 || got["vdb"] != path(d1) {
		t.Fatalf("after the refusals, live disks = %v (want the system disk, vdb and the seed)", got)
	}

	// The end again (position 2, or past it): plugged live at vdc.
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.disk_attach", vmID, d3, map[string]any{"position": int64(5)}))
	if got := blk(); got["vdc"] != path(d3) || got["vdb"] != path(d1) {
		t.Fatalf("after attaching disk %d past the end, live disks = %v", d3, got)
	}
	if ids := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64); len(ids) != 3 || ids[1] != d1 || ids[2] != d3 {
		t.Fatalf("disks_id = %v", ids)
	}

	// Unplugging vdb leaves the guest's vdc where it is; the next disk,
	// at the end of the records (position 2), takes the next free device.
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.disk_detach", vmID, d1))
	waitFor(t, func() bool { _, ok := blk()["vdb"]; return !ok })
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.disk_attach", vmID, d2))
	if got := blk(); got["vdc"] != path(d3) || got["vdd"] != path(d2) {
		t.Fatalf("after unplugging vdb and attaching disk %d, live disks = %v (want it at vdd, disk %d still at vdc)", d2, got, d3)
	}
	t.Logf("live disks at the end: %v", blk())
}

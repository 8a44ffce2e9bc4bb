package gandi

import (
	"context"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// A real guest's counters, through the one bulk call: cpu time, its
// tap matched to its iface by MAC, its disks to their records by path.
func TestQEMUStats(t *testing.T) {
	q := newQEMUAgent(t, 60*time.Second, 60*time.Second)
	id := q.boot("coop")
	var v store.VM
	q.st.View(func(tx *store.Tx) { v, _ = tx.VM(id) })
	c, _ := q.statsOf(q.hv, "stats")
	ctx := context.Background()
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range c.Latest() {
		if l.VMID != id {
			continue
		}
		t.Logf("vm %d: running %v, cpu %.3f s, vcpus %v, balloon %d/%d KiB, ifaces %+v, disks %+v",
			id, l.Running, l.CPUSeconds, l.VCPUSeconds, l.BalloonKiB, l.BalloonMaxKiB, l.Ifaces, l.Disks)
		if !l.Running || l.CPUSeconds <= 0 || len(l.VCPUSeconds) != 1 || l.BalloonMaxKiB == 0 {
			t.Errorf("cpu and memory not read: %+v", l)
		}
		if len(l.Ifaces) != 1 || l.Ifaces[0].IfaceID != v.IfaceIDs[0] {
			t.Errorf("iface not matched to %d: %+v", v.IfaceIDs[0], l.Ifaces)
		}
		if len(l.Disks) == 0 || l.Disks[0].DiskID != v.DiskIDs[0] {
			t.Errorf("system disk not matched to %d: %+v", v.DiskIDs[0], l.Disks)
		}
		st := q.mustCall(q.alice, "hosting.vm.stats", id, map[string]any{"window": "1h", "targets": "cpu"}).(map[string]any)
		if used, ok := lastPoint(st["cpu"].(map[string]any)["cpu_used"].([]any)).(float64); !ok || used <= 0 || used > 1.5 {
			t.Errorf("cpu used by a 1-vCPU guest = %v", used)
		}
		return
	}
	t.Fatalf("vm %d not in the latest counters: %+v", id, c.Latest())
}

package hosttest

import (
	"context"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

// NodeSuite checks a Node's answer is possible: memory total positive,
// free within it, cpus and the hypervisor's name present, and the same
// node twice (total and cpus do not move between calls).
func NodeSuite(t *testing.T, n host.Node) {
	ctx := context.Background()
	a, err := n.NodeInfo(ctx)
	if err != nil {
		t.Fatalf("NodeInfo: %v", err)
	}
	if err := a.Check(); err != nil {
		t.Fatalf("%v (%+v)", err, a)
	}
	b, err := n.NodeInfo(ctx)
	if err != nil {
		t.Fatalf("NodeInfo again: %v", err)
	}
	if a.MemoryTotal != b.MemoryTotal || a.CPUs != b.CPUs || a.Hypervisor != b.Hypervisor {
		t.Errorf("NodeInfo changed between calls: %+v then %+v", a, b)
	}
}

// CapacitySuite checks a pool's Capacity is possible (sizes positive,
// use within them) and that used and free sum to no more than the size.
// thin says whether metadata must be reported.
func CapacitySuite(t *testing.T, p host.PoolCapacity, thin bool) {
	c, err := p.Capacity(context.Background())
	if err != nil {
		t.Fatalf("Capacity: %v", err)
	}
	if err := c.Check(); err != nil {
		t.Fatalf("%v (%+v)", err, c)
	}
	if c.Used+c.Free > c.Size {
		t.Errorf("used %d + free %d exceed size %d", c.Used, c.Free, c.Size)
	}
	if thin != (c.Metadata != nil) {
		t.Errorf("metadata = %+v, want it reported: %v", c.Metadata, thin)
	}
}

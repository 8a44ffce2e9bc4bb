package hypervisor

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// libvirt's test driver answers virNodeGetInfo and virNodeGetFreeMemory,
// so the port's rules run on the real calls.
func TestNodeInfoOnTestDriver(t *testing.T) {
	d := openTest(t)
	n, err := d.NodeInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Check(); err != nil {
		t.Fatalf("%v (%+v)", err, n)
	}
	if n.Hypervisor != "TEST" || n.Library == "" {
		t.Errorf("hypervisor %q library %q, want TEST and a version", n.Hypervisor, n.Library)
	}
	t.Logf("%+v", n)
}

func TestDotted(t *testing.T) {
	for v, want := range map[uint32]string{9000000: "9.0.0", 4017002: "4.17.2", 2: "0.0.2"} {
		if got := dotted(v); got != want {
			t.Errorf("dotted(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestNodeConformance(t *testing.T) { hosttest.NodeSuite(t, openTest(t)) }

// On a node without cells the test driver has no free memory, which the
// binding reports as an error with no cause: NodeInfo says 0 free.
func TestNodeInfoNoFreeMemory(t *testing.T) {
	n, err := openPrivate(t).NodeInfo(context.Background())
	if err != nil || n.MemoryFree != 0 || n.MemoryTotal == 0 {
		t.Fatalf("NodeInfo on an empty node = %+v, %v; want total > 0, free 0", n, err)
	}
}

// On qemu:///system the node is this machine: its processors, and its
// memory with some of it free (the port's rules hold on a real node).
func TestNodeInfoOnQEMU(t *testing.T) {
	guesttest.RequireQEMU(t)
	d, err := Open(context.Background(), Config{URI: "qemu:///system", CommandTimeout: 10 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	hosttest.NodeSuite(t, d)
	n, _ := d.NodeInfo(context.Background())
	if n.Hypervisor != "QEMU" || n.CPUs != runtime.NumCPU() || n.MemoryFree == 0 {
		t.Errorf("NodeInfo = %+v; want QEMU, %d cpus, some memory free", n, runtime.NumCPU())
	}
	t.Logf("%+v", n)
}

package host

import (
	"context"
	"fmt"
)

// Node is what placement needs to know about the machine the agent runs
// on: its memory and processors as the hypervisor sees them. It is a port
// of its own, not a method of Hypervisor, so a hypervisor adapter that
// cannot answer it still drives domains.
type Node interface {
	// NodeInfo reads the node's capacity now. MemoryFree is what the
	// hypervisor can still give to domains: on Xen, the hypervisor's free
	// pages (neither dom0's free memory nor its page cache).
	NodeInfo(ctx context.Context) (NodeInfo, error)
}

// NodeInfo is a node's capacity and hypervisor.
type NodeInfo struct {
	// MemoryTotal and MemoryFree are in bytes.
	MemoryTotal int64
	MemoryFree  int64
	// CPUs are the logical processors the hypervisor schedules on;
	// Sockets*Cores*Threads per NUMA node, Nodes of them.
	CPUs    int
	Nodes   int
	Sockets int
	Cores   int
	Threads int
	MHz     int
	// Model is the CPU architecture ("x86_64").
	Model string
	// Hypervisor is its name ("Xen", "QEMU", "TEST") and version
	// ("4.17.0"); Library is the management library's version.
	Hypervisor        string
	HypervisorVersion string
	Library           string
}

// Check reports a NodeInfo that cannot be true (a conformance rule).
func (n NodeInfo) Check() error {
	switch {
	case n.MemoryTotal <= 0:
		return fmt.Errorf("node info: memory total %d must be positive", n.MemoryTotal)
	case n.MemoryFree < 0 || n.MemoryFree > n.MemoryTotal:
		return fmt.Errorf("node info: memory free %d must be within 0..total %d", n.MemoryFree, n.MemoryTotal)
	case n.CPUs <= 0:
		return fmt.Errorf("node info: cpus %d must be positive", n.CPUs)
	case n.Hypervisor == "":
		return fmt.Errorf("node info: hypervisor name is empty")
	}
	return nil
}

// PoolCapacity is implemented by disk backends that can say how much
// room their pool has. A Volumes backend that cannot is simply not one;
// the caller asks with a type assertion.
type PoolCapacity interface {
	// Capacity reads the pool's size and use now.
	Capacity(ctx context.Context) (Capacity, error)
}

// Capacity is a storage pool's room, in bytes. For a thin pool, Size,
// Used and Free are its data; Metadata its metadata, which fills on its
// own (many snapshots of small writes) and stops every thin volume when
// full.
type Capacity struct {
	// Kind names the pool ("lvm-thin", "lvm", "file").
	Kind string
	// Where is the pool ("vg/pool", a directory).
	Where string
	Size  int64
	Used  int64
	Free  int64
	// Metadata is set for thin pools only.
	Metadata *Space
}

// Space is a size and its use, in bytes.
type Space struct {
	Size int64
	Used int64
	Free int64
}

// Check reports a Capacity that cannot be true (a conformance rule).
func (c Capacity) Check() error {
	check := func(what string, size, used, free int64) error {
		if size <= 0 || used < 0 || free < 0 || used > size || free > size {
			return fmt.Errorf("capacity: %s size %d, used %d, free %d: want size > 0 and used, free within 0..size", what, size, used, free)
		}
		return nil
	}
	if c.Kind == "" {
		return fmt.Errorf("capacity: kind is empty")
	}
	if err := check("data", c.Size, c.Used, c.Free); err != nil {
		return err
	}
	if m := c.Metadata; m != nil {
		return check("metadata", m.Size, m.Used, m.Free)
	}
	return nil
}

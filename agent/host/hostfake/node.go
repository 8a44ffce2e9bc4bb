package hostfake

import (
	"context"

	"github.com/xenagent/xenagent/agent/host"
)

// The fake node: 64 GiB and 16 cpus, of which running domains take their
// current memory, as Xen's free memory shrinks when a domain starts.
const (
	NodeMemory = 64 << 30
	NodeCPUs   = 16
)

var _ host.Node = (*Hypervisor)(nil)

// NodeInfo reports the fake node; "NodeInfo" faults apply.
func (h *Hypervisor) NodeInfo(ctx context.Context) (host.NodeInfo, error) {
	n := host.NodeInfo{MemoryTotal: NodeMemory, CPUs: NodeCPUs, Nodes: 1, Sockets: 1, Cores: 8, Threads: 2, MHz: 2400,
		Model: "x86_64", Hypervisor: "FAKE", HypervisorVersion: "1.0.0", Library: "0.0.0"}
	used := int64(0)
	err := h.do(ctx, "NodeInfo", "", func(*effects) error {
		for _, d := range h.doms {
			if d.running {
				used += d.memMB << 20
			}
		}
		return nil
	})
	n.MemoryFree = max(0, n.MemoryTotal-used)
	return n, err
}

package gandi

import (
	"context"
	"math"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/service"
)

// hostInfo is hosting.host.info(apikey), an extension for the central
// tier that places VMs (operator key only). Sizes are MB, as everywhere
// in this API (memory, disk size), which also keeps them XML-RPC <int>s:
// a byte count past 2 GiB would have to be a <double>. Used is rounded
// up and size and free down, so rounding never shows room that is not
// there; the *_percent fields keep the precision MB lose (a thin pool's
// metadata is often a few MB). A value the host could not read is nil
// (never a guessed 0), and *_error says why.
func (f *Face) hostInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	if err := a.atMost(0); err != nil {
		return nil, err
	}
	h, err := f.svc.HostInfo(ctx, c)
	if err != nil {
		return nil, err
	}
	dc := h.Datacenter
	out := map[string]any{
		"agent_version": h.Agent,
		"datacenter":    map[string]any{"id": dc.ID, "name": dc.Name, "country": dc.Country, "iso": dc.ISO, "dc_code": dc.Code},
		"date":          h.At,
		"healthy":       h.Healthy,
		"problems":      h.Problems,
		"operations":    map[string]any{"running": h.OpsRunning, "queued": h.OpsQueued},
		"node_error":    h.NodeError,
		"storage_error": h.StorageError,
	}
	vms := map[string]any{}
	for st, n := range h.VMs {
		vms[st] = n
	}
	out["vms"] = vms
	for _, k := range []string{"memory_total_mb", "memory_free_mb", "cpus", "cpu_sockets", "cpu_cores", "cpu_threads",
		"cpu_mhz", "numa_nodes", "cpu_model", "hypervisor", "hypervisor_version", "libvirt_version"} {
		out[k] = nil
	}
	if n := h.Node; n != nil {
		out["memory_total_mb"], out["memory_free_mb"] = floorMB(n.MemoryTotal), floorMB(n.MemoryFree)
		out["cpus"], out["cpu_sockets"], out["cpu_cores"], out["cpu_threads"] = n.CPUs, n.Sockets, n.Cores, n.Threads
		out["cpu_mhz"], out["numa_nodes"], out["cpu_model"] = n.MHz, n.Nodes, n.Model
		out["hypervisor"], out["hypervisor_version"], out["libvirt_version"] = n.Hypervisor, n.HypervisorVersion, n.Library
	}
	out["storage"] = renderCapacity(h.Storage)
	return out, nil
}

// renderCapacity is the pool's room; metadata_* are nil but for thin pools.
func renderCapacity(c *host.Capacity) any {
	if c == nil {
		return nil
	}
	m := map[string]any{"kind": c.Kind, "where": c.Where, "size_mb": floorMB(c.Size), "used_mb": ceilMB(c.Used),
		"free_mb": floorMB(c.Free), "used_percent": percent(c.Used, c.Size),
		"metadata_size_mb": nil, "metadata_used_mb": nil, "metadata_free_mb": nil, "metadata_used_percent": nil}
	if md := c.Metadata; md != nil {
		m["metadata_size_mb"], m["metadata_used_mb"], m["metadata_free_mb"] = floorMB(md.Size), ceilMB(md.Used), floorMB(md.Free)
		m["metadata_used_percent"] = percent(md.Used, md.Size)
	}
	return m
}

const mib = 1 << 20

func floorMB(b int64) int64 { return b / mib }
func ceilMB(b int64) int64  { return (b + mib - 1) / mib }

// percent is part of whole, to two decimals.
func percent(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Round(float64(part)/float64(whole)*10000) / 100
}

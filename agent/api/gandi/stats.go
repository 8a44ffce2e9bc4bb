package gandi

import (
	"context"
	"math"

	"github.com/xenagent/xenagent/agent/service"
)

// renderGraphs puts a VM's graph_urls (the recorded shape: vcpu, vdi,
// vif, one URL per device) and probes in a vm.info answer. probes is a
// struct of ProbeReturn arrays by device type, {"cpu": [...], "iface":
// [...]}, as graph_urls groups its URLs. Graphs failing to mint (the
// token bound) leave the fields empty rather than fail vm.info.
func (f *Face) renderGraphs(c *service.Caller, id int64, out map[string]any) {
	g, err := f.svc.VMGraphs(c, id)
	if err != nil {
		return
	}
	strs := func(ss []string) []any {
		out := make([]any, len(ss))
		for i, s := range ss {
			out[i] = s
		}
		return out
	}
	out["graph_urls"] = map[string]any{"vcpu": strs(g.CPU), "vdi": strs(g.Disks), "vif": strs(g.Ifaces)}
	probes := map[string]any{"cpu": []any{}, "iface": []any{}}
	for _, p := range g.Probes {
		probes[p.DeviceType] = append(probes[p.DeviceType].([]any), map[string]any{
			"id": p.ID, "name": p.Name, "device_type": p.DeviceType, "datasource": p.Datasource,
			"status": p.Status, "date_created": p.DateCreated,
		})
	}
	out["probes"] = probes
}

// vmStats is the extension hosting.vm.stats(apikey, vm_id, {window,
// targets}): a VM's raw series (README, "Statistics").
func (f *Face) vmStats(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	if err := a.atMost(2); err != nil {
		return nil, err
	}
	id, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "options", true)
	if err != nil {
		return nil, err
	}
	var req service.StatsRequest
	if req.Window, err = sp.str("window", "", false); err != nil {
		return nil, err
	}
	if req.Targets, err = sp.strs("targets"); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	st, err := f.svc.VMStats(c, id, req)
	if err != nil {
		return nil, err
	}
	return renderVMStats(st), nil
}

func renderVMStats(st service.VMStats) map[string]any {
	out := map[string]any{"vm_id": st.VMID, "window": st.Window, "start": st.Start, "step": int64(st.Step.Seconds()), "points": st.Points}
	if st.CPU != nil {
		out["cpu"] = map[string]any{"vcpus": st.CPU.VCPUs, "cpu_used": points(st.CPU.Used),
			"memory_kib": points(st.CPU.MemKiB), "memory_max_kib": points(st.CPU.MemMaxKiB)}
	}
	ifaces := make([]any, 0, len(st.Ifaces))
	for _, i := range st.Ifaces {
		ifaces = append(ifaces, map[string]any{"iface_id": i.IfaceID, "rx_bytes": points(i.RxBytes), "tx_bytes": points(i.TxBytes),
			"rx_packets": points(i.RxPackets), "tx_packets": points(i.TxPackets)})
	}
	disks := make([]any, 0, len(st.Disks))
	for _, d := range st.Disks {
		disks = append(disks, map[string]any{"disk_id": d.DiskID, "read_bytes": points(d.ReadBytes), "write_bytes": points(d.WriteBytes),
			"read_requests": points(d.ReadReqs), "write_requests": points(d.WriteReqs)})
	}
	out["ifaces"], out["disks"] = ifaces, disks
	return out
}

// points renders a series: doubles, nil where nothing was measured
// (XML-RPC has no NaN).
func points(vs []float64) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[i] = v
		}
	}
	return out
}

package gandi

import (
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// hosting.host.info answers the operator with the node (libvirt's test
// driver), the file pool, VMs by state and the health check, in MB; an
// account's key is refused with CAUSE_NORIGHT.
func TestHostInfo(t *testing.T) {
	a := newAgent(t, true)
	a.svc.SetHostSources(service.HostSources{Node: a.hv, Pool: a.vols, Health: a.rec.Healthy})
	a.createVM(a.alice, "placed")

	if _, f := a.call(a.alice, "hosting.host.info"); f == nil || f.Cause != CauseNoRight || !strings.Contains(f.Error(), "operator key only") {
		t.Fatalf("an account's key: %v, want CAUSE_NORIGHT naming the operator key", f)
	}
	if _, f := a.call(a.op, "hosting.host.info", map[string]any{}); f == nil || f.Cause != CauseBadParam {
		t.Errorf("an extra argument: %v, want CAUSE_BADPARAMETER", f)
	}
	h := a.mustCall(a.op, "hosting.host.info").(map[string]any)
	if h["healthy"] != true || len(h["problems"].([]string)) != 0 {
		t.Errorf("healthy %v problems %v, want a healthy agent", h["healthy"], h["problems"])
	}
	// The test driver's node: 3 GiB, 16 cpus, no cells (no free memory).
	if h["memory_total_mb"] != int64(3072) || h["memory_free_mb"] != int64(0) || h["cpus"] != 16 || h["hypervisor"] != "TEST" {
		t.Errorf("node: memory %v/%v cpus %v hypervisor %v", h["memory_free_mb"], h["memory_total_mb"], h["cpus"], h["hypervisor"])
	}
	if vms := h["vms"].(map[string]any); vms["running"] != int64(1) || vms["halted"] != int64(0) {
		t.Errorf("vms = %v, want 1 running and 0 halted", vms)
	}
	if ops := h["operations"].(map[string]any); ops["running"] != int64(0) || ops["queued"] != int64(0) {
		t.Errorf("operations = %v, want none unfinished", ops)
	}
	st := h["storage"].(map[string]any)
	if st["kind"] != "file" || st["size_mb"].(int64) <= 0 || st["free_mb"].(int64) > st["size_mb"].(int64) || st["metadata_size_mb"] != nil {
		t.Errorf("storage = %v, want the file pool without metadata", st)
	}
	if dc := h["datacenter"].(map[string]any); dc["dc_code"] != "FR-T1" || h["agent_version"] != "test" {
		t.Errorf("datacenter %v agent %v", dc, h["agent_version"])
	}
}

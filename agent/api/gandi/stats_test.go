package gandi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/graph"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
)

// statsOf opens a collector over src in the agent's dir and has the
// service answer from it; it returns the collector and the token issuer.
func (a *agent) statsOf(src host.Stats, sub string) (*stats.Collector, *token.Issuer) {
	a.t.Helper()
	c, err := stats.Open(stats.Config{Dir: filepath.Join(a.dir, sub), Every: time.Minute,
		DiskPath: func(id int64) string { return a.vols.Path(workflow.VolumeName(id)) }}, src, a.st, a.log)
	if err != nil {
		a.t.Fatal(err)
	}
	iss := token.NewIssuer(token.Limits{})
	if err := a.svc.SetStats(c, iss, "http://agent.example:8080/"); err != nil {
		a.t.Fatal(err)
	}
	return c, iss
}

func TestStatsOnTheTestDriver(t *testing.T) {
	a := newAgent(t, true)
	id := a.createVM(a.alice, "stats1")
	info := a.mustCall(a.alice, "hosting.vm.info", id).(map[string]any)
	if g := info["graph_urls"].(map[string]any); len(g["vcpu"].([]any)) != 0 {
		t.Fatalf("graph URLs without stats configured: %v", g)
	}
	if _, f := a.call(a.alice, "hosting.vm.stats", id); f == nil || f.Cause != CauseUnavailable {
		t.Fatalf("vm.stats without stats configured: %v", f)
	}
	// libvirt's test driver reports only the state: the round still
	// finds the VM's domain, through the one bulk call, and keeps zeros.
	c, _ := a.statsOf(a.hv, "stats")
	for i := 0; i < 2; i++ {
		if err := c.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l := c.Latest()
	if len(l) != 1 || l[0].VMID != id || !l[0].Running {
		t.Fatalf("latest counters on the test driver = %+v", l)
	}
	st := a.mustCall(a.alice, "hosting.vm.stats", id, map[string]any{"window": "1h", "targets": "cpu"}).(map[string]any)
	used := st["cpu"].(map[string]any)["cpu_used"].([]any)
	if len(used) != 60 || st["step"] != int64(60) || lastPoint(used) != 0.0 {
		t.Fatalf("vm.stats on the test driver: %d points, step %v, last %v", len(used), st["step"], lastPoint(used))
	}
	if _, ok := st["ifaces"].([]any); !ok || len(st["ifaces"].([]any)) != 0 {
		t.Fatalf("targets cpu gave ifaces: %v", st["ifaces"])
	}
}

func TestStatsGraphURLsProbesAndSeries(t *testing.T) {
	a := newAgent(t, true)
	id := a.createVM(a.alice, "stats2")
	var v store.VM
	var mac string
	a.st.View(func(tx *store.Tx) {
		v, _ = tx.VM(id)
		i, _ := tx.Iface(v.IfaceIDs[0])
		mac = i.MAC
	})
	src := hostfake.NewStats()
	sysPath := a.vols.Path(workflow.VolumeName(v.DiskIDs[0]))
	src.Set(host.DomainStats{Name: workflow.DomainName(id), VMID: id, Running: true, VCPUTimeNs: []uint64{0},
		Ifaces: []host.IfaceStats{{Dev: "vif3.0", MAC: mac}}, Disks: []host.DiskStats{{Dev: "xvda", Path: sysPath}}})
	c, iss := a.statsOf(src, "stats")
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	src.Update(workflow.DomainName(id), func(s *host.DomainStats) {
		s.CPUTimeNs += 5e6
		s.Ifaces[0].RxBytes, s.Ifaces[0].TxBytes = 1e5, 2e4
		s.Disks[0].WriteBytes = 1 << 20
	})
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}

	info := a.mustCall(a.alice, "hosting.vm.info", id).(map[string]any)
	g := info["graph_urls"].(map[string]any)
	if len(g["vcpu"].([]any)) != 1 || len(g["vdi"].([]any)) != len(v.DiskIDs) || len(g["vif"].([]any)) != len(v.IfaceIDs) {
		t.Fatalf("graph_urls = %v; want one vcpu, %d vdi, %d vif", g, len(v.DiskIDs), len(v.IfaceIDs))
	}
	again := a.mustCall(a.alice, "hosting.vm.info", id).(map[string]any)["graph_urls"].(map[string]any)
	if again["vcpu"].([]any)[0] != g["vcpu"].([]any)[0] {
		t.Errorf("a second vm.info minted another token: %v, then %v", g["vcpu"], again["vcpu"])
	}
	probes := info["probes"].(map[string]any)
	cpu := probes["cpu"].([]any)
	ifp := probes["iface"].([]any)
	if len(cpu) != 1 || len(ifp) != len(v.IfaceIDs) || cpu[0].(map[string]any)["device_type"] != "cpu" || cpu[0].(map[string]any)["status"] != "active" {
		t.Fatalf("probes = %v", probes)
	}
	if p := ifp[0].(map[string]any); p["id"] != v.IfaceIDs[0] || p["device_type"] != "iface" {
		t.Fatalf("iface probe = %v", p)
	}

	// Every URL serves an SVG through the graph handler, to anyone
	// holding it; the token opens this VM's graphs only.
	h := graph.Handler(iss, c, a.svc.GraphDevice, a.log)
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(u string) (int, string) {
		resp, err := http.Get(srv.URL + strings.TrimPrefix(u, "http://agent.example:8080"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, key := range []string{"vcpu", "vdi", "vif"} {
		for _, u := range g[key].([]any) {
			if !strings.HasPrefix(u.(string), "http://agent.example:8080/graph/") || !strings.Contains(u.(string), "window=1d") {
				t.Errorf("%s URL %q", key, u)
			}
			if code, body := get(u.(string)); code != 200 || !strings.HasPrefix(body, "<svg") {
				t.Errorf("GET %s = %d %.80q", u, code, body)
			}
		}
	}
	vif := g["vif"].([]any)[0].(string)
	if code, body := get(strings.Replace(vif, "window=1d", "window=1y", 1)); code != 400 || !strings.HasPrefix(body, "window:") {
		t.Errorf("a bad window = %d %q", code, body)
	}

	// The raw series: the extension method.
	st := a.mustCall(a.alice, "hosting.vm.stats", id, map[string]any{"window": "1h"}).(map[string]any)
	ifs := st["ifaces"].([]any)
	if len(ifs) != 1 || ifs[0].(map[string]any)["iface_id"] != v.IfaceIDs[0] {
		t.Fatalf("vm.stats ifaces = %v", ifs)
	}
	rx := ifs[0].(map[string]any)["rx_bytes"].([]any)
	if len(rx) != 60 || rx[0] != nil {
		t.Fatalf("rx: %d points, first %v (want 60, a gap before collection began)", len(rx), rx[0])
	}
	// The last point, or the one before when a minute began since.
	if last, ok := lastPoint(rx).(float64); !ok || last <= 0 {
		t.Fatalf("rx last point = %v, want a positive rate", lastPoint(rx))
	}
	disks := st["disks"].([]any)
	if len(disks) != 1 || disks[0].(map[string]any)["disk_id"] != v.DiskIDs[0] {
		t.Fatalf("vm.stats disks = %v", disks)
	}
	if w := lastPoint(disks[0].(map[string]any)["write_bytes"].([]any)); w == nil || w.(float64) <= 0 {
		t.Fatalf("disk write rate = %v", w)
	}

	// Refusals name the parameter; another account's VM is not found.
	for _, c := range []struct {
		name   string
		params []any
		want   string
	}{
		{"window", []any{id, map[string]any{"window": "2d"}}, "window"},
		{"targets", []any{id, map[string]any{"targets": []any{"cpu", "ram"}}}, "targets"},
		{"unknown key", []any{id, map[string]any{"span": "1h"}}, "options.span"},
	} {
		_, f := a.call(a.alice, "hosting.vm.stats", c.params...)
		if f == nil || !strings.Contains(f.Msg, c.want) {
			t.Errorf("%s: fault %v, want one naming %q", c.name, f, c.want)
		}
	}
	if _, f := a.call(a.bob, "hosting.vm.stats", id); f == nil || f.Cause != CauseNotFound {
		t.Errorf("bob reading alice's series: %v", f)
	}
	if _, f := a.call(a.bob, "hosting.vm.info", id); f == nil {
		t.Error("bob got alice's vm.info")
	}
}

// lastPoint is a series' last measured point among its last two.
func lastPoint(ps []any) any {
	if p := ps[len(ps)-1]; p != nil {
		return p
	}
	return ps[len(ps)-2]
}

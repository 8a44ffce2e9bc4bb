package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/metrics/metricstest"
	"github.com/xenagent/xenagent/agent/service"
)

// TestMetricsOfARunningAgent scrapes a real agent on libvirt's test
// driver after it made a VM: every family is there with plausible values,
// the page is valid exposition text, /metrics on the API's address asks
// for the operator key ([metrics] operator_only) while the management
// address ([metrics] listen) serves it, and /healthz, alone; the log has
// one line per operation end.
func TestMetricsOfARunningAgent(t *testing.T) {
	dir := t.TempDir()
	mport := freePort(t)
	l := &lab{t: t, dir: dir, port: freePort(t), bin: buildPlain(t), conf: filepath.Join(dir, "agent.toml")}
	conf := fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
log_level = "info"
[libvirt]
uri = "test:///default"
[storage]
backend = "file"
[network]
wire = false
sweep = false
[network.ipv4]
prefix = "10.97.0.0/24"
[demo]
enabled = true
[operator]
key_sha256 = %q
[metrics]
listen = "127.0.0.1:%d"
operator_only = true
[[images]]
label = "base"
size_mb = 8
`, l.port, dir, service.HashKey(operatorKey), mport)
	if err := os.WriteFile(l.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l.agent != nil {
			l.agent.cmd.Process.Kill()
			l.agent.wait()
			if t.Failed() {
				t.Logf("agent log:\n%s", l.agent.out)
			}
		}
	})
	l.start("")

	img := l.must("hosting.image.list", map[string]any{}).([]any)[0].(map[string]any)["disk_id"]
	l.must("hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "scraped", "memory": int64(256), "password": "scrape-pass-123"},
		map[string]any{"name": "scraped"}, img)
	for _, o := range l.settle() {
		if o["step"] != "DONE" {
			t.Fatalf("operation %v (%v) ended %v: %v", o["id"], o["type"], o["step"], o["last_error"])
		}
	}
	vms := l.must("hosting.vm.list", map[string]any{}).([]any)
	if len(vms) != 1 {
		t.Fatalf("vms: %v", vms)
	}
	vm := vms[0].(map[string]any)
	vmID := fmt.Sprint(vm["id"])

	get := func(port int, path, auth string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// The Gigas face is served beside /xmlrpc/, counted on /metrics.
	acct := l.must("hosting.account.info").(map[string]any)["id"]
	if code, b := get(l.port, fmt.Sprintf("/account/%v/virtual_machine/%s", acct, vmID), l.key); code != http.StatusOK || !strings.Contains(string(b), `"hostname":"scraped"`) {
		t.Errorf("the Gigas face's GET of the VM: %d %s", code, b)
	}
	for _, auth := range []string{"", "Bearer " + l.key, "Bearer wrong-operator-key-0123456789", "Basic " + operatorKey} {
		if code, _ := get(l.port, "/metrics", auth); code != http.StatusUnauthorized {
			t.Errorf("/metrics on the API address with %q: %d, want 401", auth, code)
		}
	}
	code, page := get(l.port, "/metrics", "Bearer "+operatorKey)
	if code != http.StatusOK {
		t.Fatalf("/metrics with the operator key: %d %s", code, page)
	}
	metricstest.Check(t, page)
	if code, b := get(mport, "/healthz", ""); code != http.StatusOK || string(b) != "ok\n" {
		t.Errorf("/healthz on metrics.listen: %d %q", code, b)
	}
	if code, _ := get(mport, "/xmlrpc/", ""); code != http.StatusNotFound {
		t.Errorf("metrics.listen serves the API: %d", code)
	}
	code, page = get(mport, "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics on metrics.listen: %d %s", code, page)
	}
	p := metricstest.Check(t, page)

	for _, c := range []struct {
		name   string
		labels []string
		ok     func(float64) bool
		want   string
	}{
		{"xenagent_vms", []string{"state", fmt.Sprint(vm["state"])}, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_operations_ended_total", []string{"type", "vm_create", "result", "done"}, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_operation_duration_seconds_count", []string{"type", "vm_create"}, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_operation_duration_seconds_sum", []string{"type", "vm_create"}, func(v float64) bool { return v > 0 && v < 120 }, "0 < s < 120"},
		{"xenagent_operations_finished", []string{"type", "vm_create", "result", "done"}, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_operations_suspended", nil, func(v float64) bool { return v == 0 }, "0"},
		{"xenagent_iface_bytes_total", []string{"vm_id", vmID, "account", "DEMO-XENAGENT", "direction", "in"}, func(v float64) bool { return v == 0 }, "0 (not wired)"},
		{"xenagent_iface_packets_total", []string{"vm_id", vmID, "direction", "out"}, func(v float64) bool { return v == 0 }, "0 (not wired)"},
		{"xenagent_store_commit_seconds_count", nil, func(v float64) bool { return v >= 5 }, "a commit per change at least"},
		{"xenagent_store_commits_total", nil, func(v float64) bool { return v >= 5 }, ">= 5"},
		{"xenagent_store_write_errors_total", nil, func(v float64) bool { return v == 0 }, "0"},
		{"xenagent_store_writable", nil, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_libvirt_connected", []string{"uri", "test:///default"}, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_libvirt_reconnects_total", nil, func(v float64) bool { return v == 0 }, "0"},
		{"go_goroutines", nil, func(v float64) bool { return v > 5 }, "> 5"},
		{"go_heap_objects_bytes", nil, func(v float64) bool { return v > 256<<10 }, "> 256 KiB"},
		{"go_gc_pauses_seconds_count", nil, func(v float64) bool { return v >= 0 }, "present"},
		{"xenagent_rpc_requests_total", []string{"method", "hosting.vm.create_from", "fault", "0"}, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_gigas_requests_total", []string{"route", "GET /account/{account_id}/virtual_machine/{virtual_machine_id}", "status", "200"}, func(v float64) bool { return v == 1 }, "1"},
		{"xenagent_connections", nil, func(v float64) bool { return v >= 0 }, "present"},
		{"xenagent_volumes", []string{"kind", "quarantined"}, func(v float64) bool { return v == 0 }, "0"},
		{"xenagent_build_info", nil, func(v float64) bool { return v == 1 }, "1"},
	} {
		got := p.Find(c.name, c.labels...)
		if len(got) == 0 {
			t.Errorf("no %s%q in /metrics", c.name, c.labels)
			continue
		}
		if v := p.Sum(c.name, c.labels...); !c.ok(v) {
			t.Errorf("%s%q = %v, want %s", c.name, c.labels, v, c.want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", page)
	}

	agent := l.agent
	l.stop() // the log is whole once the agent is gone
	log := agent.out.String()
	if t.Failed() {
		t.Logf("agent log:\n%s", log)
	}
	ended := regexp.MustCompile(`(?m)^.*msg="operation ended".*$`).FindAllString(log, -1)
	types := map[string]int{}
	for _, line := range ended {
		for _, typ := range []string{"vm_create", "disk_create", "iface_create"} {
			if strings.Contains(line, " type="+typ+" ") {
				types[typ]++
			}
		}
		if !regexp.MustCompile(`op_id=\d+ .*duration=\S+ result=done`).MatchString(line) {
			t.Errorf("end line without its op_id, duration or result: %s", line)
		}
	}
	if types["vm_create"] != 1 || types["disk_create"] != 1 || types["iface_create"] != 1 {
		t.Errorf("end lines by type %v, want one each of vm_create, disk_create, iface_create:\n%s", types, strings.Join(ended, "\n"))
	}
	if !regexp.MustCompile(`msg="operation ended" op_id=\d+ type=vm_create vm_id=` + vmID + ` `).MatchString(log) {
		t.Errorf("the vm_create end line does not name the VM %s:\n%s", vmID, strings.Join(ended, "\n"))
	}
}

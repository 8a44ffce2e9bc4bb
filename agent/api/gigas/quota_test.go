package gigas

import (
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// Every quota the service enforces reaches this face as 403
// quota_exceeded, its message starting with the resource (in this
// document's words where it has a field for it), on create, edit and
// network_interface alike, and a refused call leaves nothing behind.
func TestQuotaRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grant  service.Resources
		method string
		path   string // under the VM's path ("" the create)
		body   map[string]any
		msg    string
	}{
		{"create: servers", service.Resources{Servers: 1}, "POST", "", nil, "servers: 1 more would exceed"},
		{"create: cores", service.Resources{Cores: 2}, "POST", "", map[string]any{"cpus": "2"}, "cpus: 2 more would exceed"},
		{"create: memory", service.Resources{MemoryMB: 512}, "POST", "", map[string]any{"memory": "512"}, "memory: 512 MB more would exceed"},
		{"create: bandwidth", service.Resources{Bandwidth: 40e6}, "POST", "", map[string]any{"rate_limit": "50"}, "rate_limit: 50000000 bit/s more would exceed"},
		{"create: ips", service.Resources{IPs: 1}, "POST", "", nil, "ips: 1 more would exceed"},
		{"edit: memory", service.Resources{MemoryMB: 512}, "PUT", "", map[string]any{"memory": "1024"}, "memory: 768 MB more would exceed"},
		{"edit: cpus", service.Resources{Cores: 2}, "PUT", "", map[string]any{"cpus": "3"}, "cpus: 2 more would exceed"},
		{"edit: rate_limit", service.Resources{Bandwidth: 40e6}, "PUT", "", map[string]any{"rate_limit": "70"}, "rate_limit: 69897600 bit/s more would exceed"},
		{"network_interface: ips", service.Resources{IPs: 1}, "POST", "/network_interface", nil, "ips: 1 more would exceed"},
		{"network_interface: rate_limit", service.Resources{Bandwidth: 40e6}, "POST", "/network_interface", map[string]any{"rate_limit": "50"}, "rate_limit: 50000000 bit/s more would exceed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAgent(t, func(c *service.Config) { c.Quotas.Default = tc.grant })
			// 256 MB, 1 cpu, one iface at the default 102400 bit/s: within
			// every grant above. The face adds an interface only to a VM
			// without one (412): its own is freed, and still counts.
			var id string
			if tc.path == "/network_interface" {
				id, _ = a.bareVM("q1", false)
			} else {
				id = a.createVM("q1")
			}
			path := acctPath(a.alice) + "/virtual_machine"
			body := tc.body
			if tc.method == "PUT" || tc.path != "" {
				path = a.vmPath(a.alice, id) + tc.path
			} else {
				body = map[string]any{"memory": "256", "cpus": "1", "label": "q2", "primary_disk_size": "1", "hostname": "q2",
					"template_id": strconv.FormatInt(a.template, 10)}
				for k, v := range tc.body {
					body[k] = v
				}
			}
			before := a.must(200, aliceKey, "GET", a.vmPath(a.alice, id)+"/network_interfaces", nil).raw
			r := a.must(403, aliceKey, tc.method, path, body)
			if msg, _ := r.obj()["message"].(string); r.obj()["code"] != CodeQuota || !strings.HasPrefix(msg, tc.msg) {
				t.Fatalf("%s, want %s %q...", r.raw, CodeQuota, tc.msg)
			}
			if n := len(a.must(200, aliceKey, "GET", acctPath(a.alice)+"/virtual_machines", nil).list()); n != 1 {
				t.Errorf("%d VMs after a refused call, want 1", n)
			}
			if after := a.must(200, aliceKey, "GET", a.vmPath(a.alice, id)+"/network_interfaces", nil).raw; string(after) != string(before) {
				t.Errorf("interfaces changed by a refused call:\n%s\n%s", before, after)
			}
		})
	}
}

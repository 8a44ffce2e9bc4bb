package gigas

import (
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// Refusals name this document's wire fields: a firewall rule's command,
// port and address (not the XML-RPC face's action, port_min, port_max,
// source), an unknown key inside a rule is refused by name, and the GB
// fields' refusals are worded in GB.
func TestWireFieldMessages(t *testing.T) {
	a := newAgent(t, func(c *service.Config) { c.Quotas.Default = service.Resources{DiskMB: 3000} })
	id := a.createVM("wire1") // a 1 GB system disk
	path := a.vmPath(a.alice, id)
	rule := func(r map[string]any) map[string]any { return map[string]any{"policy": "drop", "rules": []any{r}} }
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		msg    string // the message's start
	}{
		{"rule: command", "POST", "/apply_firewall_rules", rule(map[string]any{"command": "allow", "protocol": "tcp", "port": "22"}), 400, `rules[0].command: "allow" is not accept or drop`},
		{"rule: no command", "POST", "/apply_firewall_rules", rule(map[string]any{"protocol": "tcp"}), 400, "rules[0].command: missing parameter"},
		{"rule: port without tcp or udp", "POST", "/apply_firewall_rules", rule(map[string]any{"command": "accept", "port": "22"}), 400, "rules[0].port: ports need protocol tcp or udp"},
		{"rule: port range backwards", "POST", "/apply_firewall_rules", rule(map[string]any{"command": "accept", "protocol": "tcp", "port": "443-80"}), 400, "rules[0].port: must be a port or a range lo-hi"},
		{"rule: port 0", "POST", "/apply_firewall_rules", rule(map[string]any{"command": "accept", "protocol": "tcp", "port": 0}), 400, "rules[0].port: must be a port"},
		{"rule: address", "POST", "/apply_firewall_rules", rule(map[string]any{"command": "accept", "address": "10.0.0.300"}), 400, "rules[0].address: "},
		{"rule: XML-RPC key", "POST", "/apply_firewall_rules", rule(map[string]any{"action": "accept", "port_min": 22}), 400, "rules[0].action: unknown key in a rule (a rule is {command, protocol, port, address}) (and port_min)"},
		{"rule: not an object", "POST", "/apply_firewall_rules", map[string]any{"rules": []any{"accept"}}, 400, "rules[0]: must be an object"},
		{"rule: command a number", "POST", "/apply_firewall_rules", rule(map[string]any{"command": 1}), 400, "rules[0].command: must be a string"},
		{"edit: past the limit", "PUT", "", map[string]any{"primary_disk_size": "2000"}, 400, "primary_disk_size: must be at most 1024 GB"},
		{"edit: shrink", "PUT", "", map[string]any{"primary_disk_size": "1"}, 400, "primary_disk_size: 1 GB is less than the disk's 2 GB: disks never shrink"},
		{"edit: quota", "PUT", "", map[string]any{"primary_disk_size": "5"}, 403, "primary_disk_size: 3 GB more would exceed the account's disk quota (2 of 2.93 GB used)"},
		{"create: past the limit", "POST", "create", map[string]any{"primary_disk_size": "2000"}, 400, "primary_disk_size: must be between 1 and 1024 GB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := path + tc.path
			body := tc.body
			if tc.path == "create" {
				p = acctPath(a.alice) + "/virtual_machine"
				m := map[string]any{"memory": "256", "cpus": "1", "label": "w2", "hostname": "w2", "template_id": strconv.FormatInt(a.template, 10)}
				for k, v := range tc.body.(map[string]any) {
					m[k] = v
				}
				body = m
			}
			r := a.must(tc.status, aliceKey, tc.method, p, body)
			if msg, _ := r.obj()["message"].(string); !strings.HasPrefix(msg, tc.msg) {
				t.Fatalf("%s, want %q...", r.raw, tc.msg)
			}
		})
		if tc.name == "edit: past the limit" { // grow to 2 GB for the shrink and the quota
			a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"primary_disk_size": "2"}))
		}
	}
	if rules := a.must(200, aliceKey, "GET", path+"/firewall_rules", nil).list(); len(rules) != 0 {
		t.Fatalf("refused rules applied: %v", rules)
	}
}

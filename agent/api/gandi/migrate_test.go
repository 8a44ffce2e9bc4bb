package gandi

import (
	"strings"
	"testing"
)

// hosting.migration.ticket and hosting.vm.migrate decode their specs and
// refuse, naming the field; the seed's target_dc form says who resolves
// a datacenter. (The move itself: agent/api/migration's tests.)
func TestMigrateFaults(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "mover")
	ticket := map[string]any{"account_id": a.alice.AccountID, "vm_id": int64(900), "memory": int64(512), "cores": int64(1),
		"disks": []any{map[string]any{"id": int64(901), "size": int64(64)}}, "ifaces": []any{map[string]any{"id": int64(902), "ip_version": int64(4)}}}
	with := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{}
		for k, v := range ticket {
			m[k] = v
		}
		edit(m)
		return m
	}
	tests := []struct {
		name   string
		who    string
		method string
		params []any
		saying string
	}{
		{"ticket: an account's key", "alice", "hosting.migration.ticket", []any{ticket}, "the operator key only"},
		{"ticket: no account", "op", "hosting.migration.ticket", []any{with(func(m map[string]any) { delete(m, "account_id") })}, "account_id: missing"},
		{"ticket: disk without size", "op", "hosting.migration.ticket", []any{with(func(m map[string]any) { m["disks"] = []any{map[string]any{"id": int64(901)}} })}, "size: missing"},
		{"ticket: unknown key in a disk", "op", "hosting.migration.ticket", []any{with(func(m map[string]any) {
			m["disks"] = []any{map[string]any{"id": int64(901), "size": int64(64), "sise": int64(1)}}
		})}, "sise"},
		{"ticket: disks not an array", "op", "hosting.migration.ticket", []any{with(func(m map[string]any) { m["disks"] = "x" })}, "disks"},
		{"ticket: no free memory on the test driver", "op", "hosting.migration.ticket", []any{ticket}, "memory: "},
		{"migrate: an account's key", "alice", "hosting.vm.migrate", []any{vmID, map[string]any{"target": "https://h:1", "ticket": "t"}}, "the operator key only"},
		{"migrate: the seed's target_dc", "op", "hosting.vm.migrate", []any{vmID, int64(2)}, "target_dc: an agent knows no other datacenter"},
		{"migrate: no ticket", "op", "hosting.vm.migrate", []any{vmID, map[string]any{"target": "https://h:1"}}, "ticket: missing"},
		{"migrate: bad target", "op", "hosting.vm.migrate", []any{vmID, map[string]any{"target": "h:1", "ticket": "t"}}, "target: must be"},
		{"disk.migrate: the seed's target_dc", "op", "hosting.disk.migrate", []any{int64(5), int64(2)}, "target_dc: an agent knows no other datacenter"},
		{"disk.migrate: an account's key", "alice", "hosting.disk.migrate", []any{int64(5), map[string]any{"target": "https://h:1", "ticket": "t"}}, "the operator key only"},
		{"iface.migrate: the seed's target_dc", "op", "hosting.iface.migrate", []any{int64(5), int64(2)}, "target_dc: an agent knows no other datacenter"},
		{"iface.migrate: attached", "op", "hosting.iface.migrate", []any{a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["ifaces_id"].([]int64)[0],
			map[string]any{"target": "https://h:1", "ticket": "t"}}, "move the vm (hosting.vm.migrate)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := a.op
			if tt.who == "alice" {
				c = a.alice
			}
			_, f := a.call(c, tt.method, tt.params...)
			if f == nil || !strings.Contains(f.Error(), tt.saying) {
				t.Fatalf("%s: fault %v, want one saying %q", tt.method, f, tt.saying)
			}
		})
	}
}

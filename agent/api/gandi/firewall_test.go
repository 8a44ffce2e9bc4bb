package gandi

import (
	"reflect"
	"strings"
	"testing"
)

func TestIfaceFirewall(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "fw")
	id := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["ifaces_id"].([]int64)[0]
	empty := map[string]any{"policy": "accept", "rules": []any{}}
	if got := a.mustCall(a.alice, "hosting.iface.firewall_rules", id); !reflect.DeepEqual(got, empty) {
		t.Errorf("firewall of a new iface = %v, want %v", got, empty)
	}

	rules := []any{
		map[string]any{"protocol": "tcp", "port_min": int64(22), "action": "accept"},
		map[string]any{"protocol": "tcp", "port_min": int64(8000), "port_max": int64(8080), "source": "192.0.2.0/24", "action": "accept"},
		map[string]any{"protocol": "icmp", "source": "2001:db8::1", "action": "accept"},
	}
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.firewall_apply", id, map[string]any{"policy": "drop", "rules": rules}))
	if done[0]["type"] != "iface_firewall" || done[0]["iface_id"] != id || done[0]["vm_id"] != vmID {
		t.Errorf("operation = %v", done[0])
	}
	if p := done[0]["params"].(map[string]any); p["policy"] != "drop" || p["rules"] != int64(3) {
		t.Errorf("operation params = %v, want policy drop and 3 rules", p)
	}
	want := map[string]any{"policy": "drop", "rules": []any{
		map[string]any{"protocol": "tcp", "port_min": int64(22), "port_max": int64(22), "action": "accept"},
		map[string]any{"protocol": "tcp", "port_min": int64(8000), "port_max": int64(8080), "source": "192.0.2.0/24", "action": "accept"},
		map[string]any{"protocol": "icmp", "source": "2001:db8::1/128", "action": "accept"},
	}}
	if got := a.mustCall(a.alice, "hosting.iface.firewall_rules", id); !reflect.DeepEqual(got, want) {
		t.Errorf("firewall_rules = %v\nwant %v", got, want)
	}

	rule := func(kv ...any) map[string]any {
		m := map[string]any{"protocol": "tcp", "action": "accept"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	fw := func(rs ...any) map[string]any { return map[string]any{"policy": "drop", "rules": rs} }
	many := make([]any, 65)
	for n := range many {
		many[n] = rule("port_min", int64(n+1))
	}
	bad := []struct {
		name, field string
		cause       int
		params      []any
	}{
		{"no firewall", "firewall", CauseMissing, []any{id}},
		{"no policy", "policy", CauseMissing, []any{id, map[string]any{"rules": []any{}}}},
		{"bad policy", "policy", CauseBadParam, []any{id, map[string]any{"policy": "reject"}}},
		{"rules not an array", "rules", CauseBadParam, []any{id, map[string]any{"policy": "drop", "rules": "all"}}},
		{"too many rules", "rules", CauseBadParam, []any{id, fw(many...)}},
		{"rule not a struct", "rules[0]", CauseBadParam, []any{id, fw("tcp")}},
		{"no protocol", "rules[1].protocol", CauseMissing, []any{id, fw(rule(), map[string]any{"action": "drop"})}},
		{"bad protocol", "rules[0].protocol", CauseBadParam, []any{id, fw(rule("protocol", "gre"))}},
		{"no action", "rules[0].action", CauseMissing, []any{id, fw(map[string]any{"protocol": "udp"})}},
		{"port as a string", "rules[0].port_min", CauseBadParam, []any{id, fw(rule("port_min", "22"))}},
		{"port out of range", "rules[0].port_max", CauseBadParam, []any{id, fw(rule("port_min", int64(1), "port_max", int64(70000)))}},
		{"ports on icmp", "rules[0].port_min", CauseBadParam, []any{id, fw(rule("protocol", "icmp", "port_min", int64(1)))}},
		{"range backwards", "rules[0].port_max", CauseBadParam, []any{id, fw(rule("port_min", int64(90), "port_max", int64(80)))}},
		{"bad source", "rules[0].source", CauseBadParam, []any{id, fw(rule("source", "10.0.0.1/24"))}},
		{"unknown rule field", "rules[0].colour", CauseBadParam, []any{id, fw(rule("colour", "red"))}},
		{"unknown field", "firewall.colour", CauseBadParam, []any{id, map[string]any{"policy": "drop", "colour": "red"}}},
		{"unknown iface", "iface", CauseNotFound, []any{int64(424242), fw()}},
		{"someone else's iface", "iface", CauseNotFound, []any{id, fw()}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			caller := a.alice
			if tt.name == "someone else's iface" {
				caller = a.bob
			}
			before := a.snapshot()
			_, f := a.call(caller, "hosting.iface.firewall_apply", tt.params...)
			if f == nil || f.Cause != tt.cause || !strings.Contains(f.Msg, tt.field) {
				t.Fatalf("fault %v, want cause %d naming %q", f, tt.cause, tt.field)
			}
			if a.snapshot() != before {
				t.Errorf("a refused call changed records")
			}
		})
	}
	if _, f := a.call(a.bob, "hosting.iface.firewall_rules", id); f == nil || f.Cause != CauseNotFound {
		t.Errorf("bob reads alice's firewall: fault %v", f)
	}
	if got := a.mustCall(a.alice, "hosting.iface.firewall_rules", id); !reflect.DeepEqual(got, want) {
		t.Errorf("firewall after refused calls = %v", got)
	}
	// The accept policy without rules removes it.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.firewall_apply", id, empty))
	if got := a.mustCall(a.alice, "hosting.iface.firewall_rules", id); !reflect.DeepEqual(got, empty) {
		t.Errorf("firewall after removal = %v", got)
	}
}

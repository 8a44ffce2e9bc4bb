package gandi

import (
	"strings"
	"testing"
)

func TestIfaceAndIPUpdate(t *testing.T) {
	a := newAgent(t, true)
	made := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1), "bandwidth": 2e6}))
	id := made[0]["iface_id"].(int64)
	info := a.mustCall(a.alice, "hosting.iface.info", id).(map[string]any)
	ipID := info["ips_id"].([]int64)[0]
	if info["bandwidth"] != 2e6 {
		t.Fatalf("bandwidth = %v", info["bandwidth"])
	}
	if _, ok := info["traffic"].(map[string]any)["rx_bytes"]; !ok {
		t.Errorf("iface.info has no traffic: %v", info)
	}

	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.update", id, map[string]any{"bandwidth": 5e6}))
	if done[0]["type"] != "iface_update" {
		t.Errorf("operation type %v", done[0]["type"])
	}
	if bw := a.mustCall(a.alice, "hosting.iface.info", id).(map[string]any)["bandwidth"]; bw != 5e6 {
		t.Errorf("bandwidth after update = %v", bw)
	}

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.ip.update", ipID, map[string]any{"reverse": "www.example.org."}))
	if r := a.mustCall(a.alice, "hosting.ip.info", ipID).(map[string]any)["reverse"]; r != "www.example.org" {
		t.Errorf("reverse = %v", r)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.ip.update", ipID, map[string]any{"reverse": ""}))
	if r := a.mustCall(a.alice, "hosting.ip.info", ipID).(map[string]any)["reverse"].(string); !strings.HasPrefix(r, "xvm-") || !strings.HasSuffix(r, ".example.net") {
		t.Errorf("reverse back to the default = %q", r)
	}

	bad := []struct {
		name, method, field string
		cause               int
		params              []any
	}{
		{"no bandwidth", "hosting.iface.update", "bandwidth", CauseMissing, []any{id, map[string]any{}}},
		{"zero bandwidth", "hosting.iface.update", "bandwidth", CauseBadParam, []any{id, map[string]any{"bandwidth": 0.0}}},
		{"bandwidth over the limit", "hosting.iface.update", "bandwidth", CauseBadParam, []any{id, map[string]any{"bandwidth": 1e12}}},
		{"bandwidth not a number", "hosting.iface.update", "bandwidth", CauseBadParam, []any{id, map[string]any{"bandwidth": "fast"}}},
		{"unknown field", "hosting.iface.update", "colour", CauseBadParam, []any{id, map[string]any{"bandwidth": 1e6, "colour": "red"}}},
		{"unknown iface", "hosting.iface.update", "iface", CauseNotFound, []any{int64(424242), map[string]any{"bandwidth": 1e6}}},
		{"someone else's iface", "hosting.iface.update", "iface", CauseNotFound, []any{id, map[string]any{"bandwidth": 1e6}}},
		{"no reverse", "hosting.ip.update", "reverse", CauseMissing, []any{ipID, map[string]any{}}},
		{"bad reverse", "hosting.ip.update", "reverse", CauseBadParam, []any{ipID, map[string]any{"reverse": "not a name!"}}},
		{"long label", "hosting.ip.update", "reverse", CauseBadParam, []any{ipID, map[string]any{"reverse": strings.Repeat("a", 64) + ".example.org"}}},
		{"unknown ip", "hosting.ip.update", "ip", CauseNotFound, []any{int64(424242), map[string]any{"reverse": "a.example.org"}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			caller := a.alice
			if tt.name == "someone else's iface" {
				caller = a.bob
			}
			before := a.snapshot()
			_, f := a.call(caller, tt.method, tt.params...)
			if f == nil || f.Cause != tt.cause || !strings.Contains(f.Msg, tt.field) {
				t.Fatalf("fault %v, want cause %d naming %q", f, tt.cause, tt.field)
			}
			if a.snapshot() != before {
				t.Errorf("a refused call changed records")
			}
		})
	}
	if bw := a.mustCall(a.alice, "hosting.iface.info", id).(map[string]any)["bandwidth"]; bw != 5e6 {
		t.Errorf("bandwidth after refused updates = %v", bw)
	}
}

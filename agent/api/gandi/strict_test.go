package gandi

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Every XML-RPC type against every kind of field: a value of a type the
// field does not take is refused with a fault naming the field, the type
// it takes and the one it got, and changes nothing.
func TestStrictTypes(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "strict")
	var ifaceID, diskID int64
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	ifaceID = info["ifaces_id"].([]int64)[0]
	diskID = info["disks_id"].([]int64)[0]

	values := map[string]any{
		"int": int64(512), "boolean": true, "string": "512", "double": 512.0,
		"dateTime": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "base64": []byte("512"),
		"array": []any{int64(512)}, "struct": map[string]any{"memory": int64(512)}, "nil": nil,
	}
	kinds := []struct {
		kind   string
		takes  []string // the value types the field takes
		call   func(v any) (string, []any)
		field  string
		refuse string // the fault names the field and says this
	}{
		{"integer", []string{"int"}, func(v any) (string, []any) {
			return "hosting.vm.update", []any{vmID, map[string]any{"memory": v}}
		}, "memory", "must be an integer"},
		{"integer in a creation", []string{"int"}, func(v any) (string, []any) {
			m := vmSpec("strict2")
			m["cores"] = v
			return "hosting.vm.create_from", []any{m, map[string]any{}, a.image}
		}, "cores", "must be an integer"},
		{"positional integer", []string{"int"}, func(v any) (string, []any) {
			return "hosting.vm.stop", []any{v}
		}, "vm_id", "must be an integer"},
		{"boolean", []string{"boolean"}, func(v any) (string, []any) {
			return "hosting.vm.update", []any{vmID, map[string]any{"console": v}}
		}, "console", "must be a boolean"},
		{"string", []string{"string"}, func(v any) (string, []any) {
			m := vmSpec("strict3")
			m["hostname"] = v
			return "hosting.vm.create_from", []any{m, map[string]any{}, a.image}
		}, "hostname", "must be a string"},
		{"secret string", []string{"string"}, func(v any) (string, []any) {
			return "hosting.vm.update", []any{vmID, map[string]any{"password": v}}
		}, "password", "must be a string"},
		{"number", []string{"int", "double"}, func(v any) (string, []any) {
			return "hosting.iface.update", []any{ifaceID, map[string]any{"bandwidth": v}}
		}, "bandwidth", `must be a number (int or double) or "unlimited"`},
		{"integer or array", []string{"int", "array"}, func(v any) (string, []any) {
			return "hosting.vm.list", []any{map[string]any{"id": v}}
		}, "id", "must be an integer or an array of integers"},
		{"string or array", []string{"string"}, func(v any) (string, []any) {
			return "hosting.vm.list", []any{map[string]any{"hostname": v}}
		}, "hostname", "must be a string or an array of strings"},
		{"dateTime", []string{"dateTime"}, func(v any) (string, []any) {
			return "operation.list", []any{map[string]any{"date_created >=": v}}
		}, "date_created >=", "must be a dateTime.iso8601"},
		{"struct", []string{"struct"}, func(v any) (string, []any) {
			return "hosting.disk.update", []any{diskID, map[string]any{"cmdline_options": v}}
		}, "cmdline_options", "must be a struct"},
		{"ip version", []string{"int"}, func(v any) (string, []any) {
			return "hosting.iface.create", []any{map[string]any{"datacenter_id": int64(1), "ip_version": v}}
		}, "ip_version", "must be an integer"},
		{"call options", []string{"string"}, func(v any) (string, []any) {
			return "hosting.vm.start", []any{vmID, map[string]any{"idempotency_key": v}}
		}, "idempotency_key", "must be a string"},
	}
	for _, k := range kinds {
		for name, v := range values {
			if slices.Contains(k.takes, name) {
				continue
			}
			t.Run(k.kind+"/"+name, func(t *testing.T) {
				method, params := k.call(v)
				before := a.snapshot()
				_, f := a.call(a.alice, method, params...)
				if f == nil {
					t.Fatalf("%s accepted a %s for %s", method, name, k.field)
				}
				want := k.field + ": " + k.refuse + ", got "
				if v == nil {
					want = k.field + ": must not be nil"
				}
				if f.Cause != CauseBadParam || !strings.Contains(f.Msg, want) {
					t.Fatalf("fault %q, want one saying %q", f.Msg, want)
				}
				if after := a.snapshot(); after != before {
					t.Fatalf("records changed: %v -> %v", before, after)
				}
			})
		}
	}
}

// The cases, word for word.
func TestStrictTypesNamed(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "named")
	tests := []struct {
		name   string
		spec   map[string]any
		cause  int
		saying string
	}{
		{"boolean as memory", map[string]any{"memory": true}, CauseBadParam, "memory: must be an integer, got a boolean"},
		{"string as memory", map[string]any{"memory": "512"}, CauseBadParam, "memory: must be an integer, got a string"},
		{"double as memory", map[string]any{"memory": 512.0}, CauseBadParam, "memory: must be an integer, got a double"},
		{"int as console", map[string]any{"console": int64(1)}, CauseBadParam, "console: must be a boolean, got an integer"},
		{"nil memory", map[string]any{"memory": nil}, CauseBadParam, "memory: must not be nil"},
		{"nothing", map[string]any{}, CauseMissing, "update_spec: nothing to change"},
		{"only ignored keys", map[string]any{"shares": int64(1)}, CauseMissing, "update_spec: nothing to change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.snapshot()
			_, f := a.call(a.alice, "hosting.vm.update", vmID, tt.spec)
			if f == nil || f.Cause != tt.cause || !strings.Contains(f.Msg, tt.saying) {
				t.Fatalf("fault %v, want cause %d saying %q", f, tt.cause, tt.saying)
			}
			if after := a.snapshot(); after != before {
				t.Fatalf("records changed: %v -> %v", before, after)
			}
		})
	}
	// A Gandi client's nil for "no snapshot profile" is still taken.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16), "snapshot_profile": nil}))
}

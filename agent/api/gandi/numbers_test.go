package gandi

import (
	"math"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// Every list method pages: the huge page panicked the handler
// (perPage × page overflowed into a negative slice offset).
func TestHugePages(t *testing.T) {
	a := newAgent(t, true)
	lists := []string{"hosting.vm.list", "hosting.disk.list", "hosting.ssh.list", "hosting.iface.list", "hosting.ip.list", "operation.list"}
	tests := []struct {
		name          string
		perPage, page int64
		wantField     string // "" accepted (an empty page)
	}{
		{"the issue's page", 500, math.MaxInt64, "page"},
		{"largest page of 500", 500, math.MaxInt64 / 500, ""},
		{"one past it", 500, math.MaxInt64/500 + 1, "page"},
		{"largest page of 1", 1, math.MaxInt64, ""},
		{"items_per_page max int", math.MaxInt64, 2, "items_per_page"},
		{"items_per_page min int", math.MinInt64, 0, "items_per_page"},
		{"page min int", 10, math.MinInt64, "page"},
	}
	for _, m := range lists {
		for _, tt := range tests {
			t.Run(m+"/"+tt.name, func(t *testing.T) {
				v, f := a.call(a.alice, m, map[string]any{"items_per_page": tt.perPage, "page": tt.page})
				switch {
				case tt.wantField == "" && f != nil:
					t.Fatalf("refused: %v", f)
				case tt.wantField == "" && len(v.([]any)) != 0:
					t.Fatalf("page past the end = %v", v)
				case tt.wantField != "" && (f == nil || f.Cause != CauseBadParam || !strings.HasPrefix(f.Msg, tt.wantField+":")):
					t.Fatalf("got %v, %v; want a fault on %s", v, f, tt.wantField)
				}
			})
		}
	}
}

// Numbers at the ends of their type get a fault naming the field and
// change nothing: none is multiplied, added or used as a name unchecked.
func TestExtremeNumbers(t *testing.T) {
	a := newAgent(t, true)
	vm := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("big"), map[string]any{"name": "sys"}, a.image))
	vmID := vm[len(vm)-1]["vm_id"].(int64)
	disk := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	iface := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))[0]["iface_id"].(int64)
	spec := func(k string, v any) map[string]any { m := vmSpec("x1"); m[k] = v; return m }
	const huge, tiny = int64(math.MaxInt64), int64(math.MinInt64)
	tests := []struct {
		name   string
		method string
		params []any
		cause  int
		field  string
	}{
		{"disk size max", "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": huge}}, CauseBadParam, "size"},
		{"disk size min", "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": tiny}}, CauseBadParam, "size"},
		{"disk_create_from size max", "hosting.disk.create_from", []any{map[string]any{"size": huge}, a.image}, CauseBadParam, "size"},
		{"disk update size max", "hosting.disk.update", []any{disk, map[string]any{"size": huge}}, CauseBadParam, "size"},
		{"vm memory max", "hosting.vm.create_from", []any{spec("memory", huge), map[string]any{}, a.image}, CauseBadParam, "memory"},
		{"vm memory min", "hosting.vm.create_from", []any{spec("memory", tiny), map[string]any{}, a.image}, CauseBadParam, "memory"},
		{"vm max memory", "hosting.vm.create_from", []any{spec("vm_max_memory", huge), map[string]any{}, a.image}, CauseBadParam, "vm_max_memory"},
		{"vm cores max", "hosting.vm.create_from", []any{spec("cores", huge), map[string]any{}, a.image}, CauseBadParam, "cores"},
		{"vm bandwidth max float", "hosting.vm.create_from", []any{spec("bandwidth", math.MaxFloat64), map[string]any{}, a.image}, CauseBadParam, "bandwidth"},
		{"vm bandwidth smallest float", "hosting.vm.create_from", []any{spec("bandwidth", math.SmallestNonzeroFloat64), map[string]any{}, a.image}, CauseBadParam, "bandwidth"},
		{"vm disk size max", "hosting.vm.create_from", []any{vmSpec("x2"), map[string]any{"size": huge}, a.image}, CauseBadParam, "size"},
		{"vm update memory max", "hosting.vm.update", []any{vmID, map[string]any{"memory": huge}}, CauseBadParam, "memory"},
		{"vm update cores min", "hosting.vm.update", []any{vmID, map[string]any{"cores": tiny}}, CauseBadParam, "cores"},
		{"iface bandwidth max", "hosting.iface.create", []any{map[string]any{"datacenter_id": int64(1), "bandwidth": math.MaxFloat64}}, CauseBadParam, "bandwidth"},
		{"iface update bandwidth max", "hosting.iface.update", []any{iface, map[string]any{"bandwidth": math.MaxFloat64}}, CauseBadParam, "bandwidth"},
		{"operator iface_id max int", "hosting.vm.create_from", []any{vmSpec("x3"), map[string]any{}, a.image, map[string]any{"iface_id": huge, "account_id": int64(1)}}, CauseBadParam, "iface_id"},
		{"operator vm_id min int", "hosting.vm.create_from", []any{vmSpec("x3"), map[string]any{}, a.image, map[string]any{"vm_id": tiny, "account_id": int64(1)}}, CauseBadParam, "vm_id"},
		{"vm info max id", "hosting.vm.info", []any{huge}, CauseBadParam, "vm_id"},
		{"disk info min id", "hosting.disk.info", []any{tiny}, CauseNotFound, "disk"},
		{"operation info max id", "operation.info", []any{huge}, CauseBadParam, "id"},
		{"attach position min", "hosting.vm.disk_attach", []any{vmID, disk, map[string]any{"position": tiny}}, CauseBadParam, "position"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := a.alice
			if strings.HasPrefix(tt.name, "operator") {
				c = a.op
			}
			before := a.snapshot()
			v, f := a.call(c, tt.method, tt.params...)
			if f == nil {
				t.Fatalf("accepted: %v", v)
			}
			if f.Cause != tt.cause || !strings.Contains(f.Msg, tt.field) {
				t.Fatalf("fault %q, want cause %d naming %q", f.Error(), tt.cause, tt.field)
			}
			if after := a.snapshot(); after != before {
				t.Fatalf("records changed: %v -> %v", before, after)
			}
		})
	}
}

// Ids go back to clients as XML-RPC <int> (32 bits): a larger one came
// back as a <double> the agent then refused as an id, and beyond 2^53 two
// ids collided. Every id a caller sends, chosen (call_options) or
// referred to (arguments, filters), is bounded by service.MaxID, naming the field.
func TestIDsFitXMLRPCInt(t *testing.T) {
	a := newAgent(t, true)
	vm := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("ids"), map[string]any{"name": "sys"}, a.image))
	vmID := vm[len(vm)-1]["vm_id"].(int64)
	const over = int64(service.MaxID) + 1
	opts := func(k string) map[string]any {
		m := map[string]any{k: over}
		if k != "account_id" {
			m["account_id"] = int64(1)
		}
		return m
	}
	dc := map[string]any{"datacenter_id": int64(1)}
	tests := []struct {
		name   string
		method string
		params []any
		field  string
	}{
		{"operator vm_id", "hosting.vm.create_from", []any{vmSpec("x1"), map[string]any{}, a.image, opts("vm_id")}, "vm_id"},
		{"operator disk_id", "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(64)}, opts("disk_id")}, "disk_id"},
		{"operator iface_id", "hosting.iface.create", []any{dc, opts("iface_id")}, "iface_id"},
		{"operator ip_id", "hosting.iface.create", []any{dc, opts("ip_id")}, "ip_id"},
		{"operator account_id", "hosting.iface.create", []any{dc, opts("account_id")}, "account_id"},
		{"operator iface_id 2^53+1", "hosting.iface.create", []any{dc, map[string]any{"iface_id": int64(1<<53 + 1), "account_id": int64(1)}}, "iface_id"},
		{"vm.info argument", "hosting.vm.info", []any{over}, "vm_id"},
		{"disk.info argument", "hosting.disk.info", []any{over}, "disk_id"},
		{"attach disk argument", "hosting.vm.disk_attach", []any{vmID, over, map[string]any{}}, "disk_id"},
		{"datacenter_id", "hosting.disk.create", []any{map[string]any{"datacenter_id": over, "size": int64(64)}}, "datacenter_id"},
		{"list filter", "hosting.vm.list", []any{map[string]any{"id": []any{int64(1), over}}}, "id"},
		{"list filter single", "hosting.disk.list", []any{map[string]any{"vm_id": over}}, "vm_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := a.alice
			if strings.HasPrefix(tt.name, "operator") {
				c = a.op
			}
			before := a.snapshot()
			v, f := a.call(c, tt.method, tt.params...)
			if f == nil {
				t.Fatalf("accepted: %v", v)
			}
			want := tt.field + ": must be at most 2147483647 (XML-RPC <int> is 32 bits)"
			if f.Cause != CauseBadParam || !strings.Contains(f.Msg, want) {
				t.Fatalf("fault %q, want CAUSE_BADPARAM with %q", f.Error(), want)
			}
			if after := a.snapshot(); after != before {
				t.Fatalf("records changed: %v -> %v", before, after)
			}
		})
	}
	// The largest id is accepted and comes back as an <int>.
	f := a.mustDone(a.op, a.mustCall(a.op, "hosting.iface.create", dc, map[string]any{"iface_id": int64(service.MaxID), "account_id": int64(1)}))
	if got := f[0]["iface_id"]; got != int64(service.MaxID) {
		t.Fatalf("iface_id = %v (%T), want %d", got, got, service.MaxID)
	}
}

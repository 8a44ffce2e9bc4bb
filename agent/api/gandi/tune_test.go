package gandi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/workflow"
)

// The extensions description, label, note and cpu_shares: given at
// creation and by vm.update, kept, returned by vm.info and vm.list, the
// weight in the domain's definition; bad values refused naming the
// field, changing nothing.
func TestVMTuneExtensions(t *testing.T) {
	a := newAgent(t, true)
	spec := vmSpec("tuned")
	spec["description"], spec["label"], spec["note"], spec["cpu_shares"] = "front end", "Web 1", "owner: ops\nticket 42", int64(512)
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", spec, map[string]any{"name": "sys-tuned"}, a.image))
	id := done[2]["params"].(map[string]any)["vm_id"].(int64)
	shown := func(want map[string]any) {
		t.Helper()
		info := a.mustCall(a.alice, "hosting.vm.info", id).(map[string]any)
		list := a.mustCall(a.alice, "hosting.vm.list", map[string]any{"id": id}).([]any)[0].(map[string]any)
		for k, v := range want {
			if info[k] != v || list[k] != v {
				t.Errorf("%s: vm.info %#v, vm.list %#v; want %#v", k, info[k], list[k], v)
			}
		}
		x, err := a.hv.DomainXMLOf(context.Background(), workflow.DomainName(id))
		if err != nil || !strings.Contains(x, fmt.Sprintf("<shares>%d</shares>", want["cpu_shares"])) {
			t.Errorf("definition has no <shares>%d</shares> (%v):\n%s", want["cpu_shares"], err, x)
		}
	}
	shown(map[string]any{"description": "front end", "label": "Web 1", "note": "owner: ops\nticket 42", "cpu_shares": int64(512)})

	up := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", id,
		map[string]any{"description": "", "label": "Web one", "note": "moved", "cpu_shares": int64(2048)}))
	if p := up[0]["params"].(map[string]any); p["label"] != "Web one" || p["cpu_shares"] != int64(2048) || p["description"] != "" {
		t.Errorf("vm_update params %v", p)
	}
	want := map[string]any{"description": "", "label": "Web one", "note": "moved", "cpu_shares": int64(2048)}
	shown(want)
	// One field alone is an update of its own; the others stay.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", id, map[string]any{"note": ""}))
	want["note"] = ""
	shown(want)

	bad := []struct {
		name, method, field string
		params              []any
	}{
		{"description too long", "hosting.vm.update", "description", []any{id, map[string]any{"description": strings.Repeat("d", 256)}}},
		{"label of two lines", "hosting.vm.update", "label", []any{id, map[string]any{"label": "a\nb"}}},
		{"label not a string", "hosting.vm.update", "label", []any{id, map[string]any{"label": int64(1)}}},
		{"note with an escape", "hosting.vm.update", "note", []any{id, map[string]any{"note": "\x1b[2J"}}},
		{"cpu_shares 0", "hosting.vm.update", "cpu_shares", []any{id, map[string]any{"cpu_shares": int64(0)}}},
		{"cpu_shares too high", "hosting.vm.update", "cpu_shares", []any{id, map[string]any{"cpu_shares": int64(10001)}}},
		{"cpu_shares a string", "hosting.vm.update", "cpu_shares", []any{id, map[string]any{"cpu_shares": "512"}}},
		{"create: cpu_shares 0", "hosting.vm.create_from", "cpu_shares", []any{func() map[string]any {
			m := vmSpec("tuned2")
			m["cpu_shares"] = int64(0)
			return m
		}(), map[string]any{}, a.image}},
		{"create: hostname not a DNS label", "hosting.vm.create_from", "hostname", []any{vmSpec("web_1"), map[string]any{}, a.image}},
		{"create: hostname ending with '-'", "hosting.vm.create_from", "hostname", []any{vmSpec("web-"), map[string]any{}, a.image}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			before := a.snapshot()
			_, f := a.call(a.alice, tt.method, tt.params...)
			if f == nil || f.Cause != CauseBadParam || !strings.Contains(f.Msg, tt.field+": must") {
				t.Fatalf("fault %v, want a bad parameter naming %q and its rule", f, tt.field)
			}
			if a.snapshot() != before {
				t.Errorf("a refused call changed records")
			}
		})
	}
	shown(want)
}

// Bandwidth "unlimited" creates and updates an iface that is not
// shaped, shown as "unlimited"; 0 stays refused (it is no rate), and a
// rate limits it again.
func TestIfaceUnlimited(t *testing.T) {
	a := newAgent(t, true)
	made := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1), "bandwidth": "unlimited"}))
	id := made[0]["iface_id"].(int64)
	bw := func() any { return a.mustCall(a.alice, "hosting.iface.info", id).(map[string]any)["bandwidth"] }
	if got := bw(); got != "unlimited" {
		t.Fatalf("created unlimited: bandwidth %#v", got)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.update", id, map[string]any{"bandwidth": 3e6}))
	if got := bw(); got != 3e6 {
		t.Fatalf("limited: bandwidth %#v", got)
	}
	up := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.update", id, map[string]any{"bandwidth": "unlimited"}))
	if p := up[0]["params"].(map[string]any); p["bandwidth"] != int64(0) {
		t.Errorf("iface_update params %v, want bandwidth 0 (unlimited)", p)
	}
	if got := bw(); got != "unlimited" {
		t.Fatalf("updated to unlimited: bandwidth %#v", got)
	}
	for _, v := range []any{0.0, int64(0), "Unlimited", "none"} {
		before := a.snapshot()
		if _, f := a.call(a.alice, "hosting.iface.update", id, map[string]any{"bandwidth": v}); f == nil || f.Cause != CauseBadParam || !strings.Contains(f.Msg, "bandwidth: ") || !strings.Contains(f.Msg, `"unlimited"`) {
			t.Errorf("bandwidth %#v: fault %v, want a bad parameter naming bandwidth and \"unlimited\"", v, f)
		}
		if a.snapshot() != before {
			t.Errorf("bandwidth %#v: a refused call changed records", v)
		}
	}
	// A VM's first iface too.
	spec := vmSpec("free")
	spec["bandwidth"] = "unlimited"
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", spec, map[string]any{"name": "sys-free"}, a.image))
	vm := a.mustCall(a.alice, "hosting.vm.info", done[2]["params"].(map[string]any)["vm_id"].(int64)).(map[string]any)
	if got := vm["ifaces"].([]any)[0].(map[string]any)["bandwidth"]; got != "unlimited" {
		t.Errorf("VM created unlimited: iface bandwidth %#v", got)
	}
}

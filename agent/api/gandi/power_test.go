package gandi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/workflow"
)

// Bad input to the power extensions is a fault naming the field and the
// rule, and changes nothing.
func TestPowerFaults(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "pw1")
	tests := []struct {
		name   string
		method string
		params []any
		cause  int
		field  string
	}{
		{"force not a boolean", "hosting.vm.stop", []any{vmID, map[string]any{"force": "true"}}, CauseBadParam, "force"},
		{"force of reboot not a boolean", "hosting.vm.reboot", []any{vmID, map[string]any{"force": int64(1)}}, CauseBadParam, "force"},
		{"unknown option beside force", "hosting.vm.stop", []any{vmID, map[string]any{"force": true, "hard": true}}, CauseBadParam, "hard"},
		{"options not a struct", "hosting.vm.stop", []any{vmID, "force"}, CauseBadParam, "call_options"},
		{"too many args", "hosting.vm.stop", []any{vmID, map[string]any{"force": true}, int64(1)}, CauseBadParam, "too many"},
		{"force stop of a missing vm", "hosting.vm.stop", []any{int64(999), map[string]any{"force": true}}, CauseNotFound, "vm 999"},
		{"pause of a missing vm", "hosting.vm.pause", []any{int64(999)}, CauseNotFound, "vm 999"},
		{"resume of a running vm", "hosting.vm.resume", []any{vmID}, CauseConflict, "only a paused vm can be resumed"},
		{"pause options", "hosting.vm.pause", []any{vmID, map[string]any{"force": true}}, CauseBadParam, "force"},
		{"another's vm", "hosting.vm.pause", []any{vmID}, CauseNotFound, "vm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := a.alice
			if tt.name == "another's vm" {
				c = a.bob
			}
			before := a.snapshot()
			_, f := a.call(c, tt.method, tt.params...)
			if f == nil {
				t.Fatal("accepted")
			}
			if f.Cause != tt.cause || !strings.Contains(f.Error(), tt.field) {
				t.Fatalf("fault %d %q, want cause %d naming %q", f.Code(), f.Error(), tt.cause, tt.field)
			}
			if after := a.snapshot(); after != before {
				t.Fatalf("records changed: %v -> %v", before, after)
			}
		})
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	before := a.snapshot()
	if _, f := a.call(a.alice, "hosting.vm.pause", vmID); f == nil || f.Cause != CauseConflict || !strings.Contains(f.Error(), "vm_id") || !strings.Contains(f.Error(), "only a running vm can be paused") {
		t.Fatalf("pause of a halted vm: %v", f)
	}
	if after := a.snapshot(); after != before {
		t.Fatalf("records changed: %v -> %v", before, after)
	}
}

// Through the face on libvirt's test driver: a force stop and a force
// reboot say force in their params; pause shows paused in vm.info and
// vm.list, resume running; a paused VM stops (gracefully: resumed
// first) and is deleted. A retry with the same idempotency key is the
// same operation; the same key without force is another call.
func TestPowerVerbs(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "pw2")
	state := func() any { return a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"] }

	op := a.mustCall(a.alice, "hosting.vm.stop", vmID, map[string]any{"force": true, "idempotency_key": "fs-1"}).(map[string]any)
	if again := a.mustCall(a.alice, "hosting.vm.stop", vmID, map[string]any{"force": true, "idempotency_key": "fs-1"}).(map[string]any); again["id"] != op["id"] {
		t.Fatalf("retry got operation %v, first %v", again["id"], op["id"])
	}
	if _, f := a.call(a.alice, "hosting.vm.stop", vmID, map[string]any{"idempotency_key": "fs-1"}); f == nil || f.Cause != CauseDuplicate {
		t.Fatalf("same key without force: %v", f)
	}
	done := a.mustDone(a.alice, op)[0]
	if p := done["params"].(map[string]any); fmt.Sprint(p["force"]) != "1" || done["type"] != "vm_stop" {
		t.Fatalf("force stop as operation.info shows it: %v", done)
	}
	if s := state(); s != "halted" {
		t.Fatalf("after a force stop: %v", s)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reboot", vmID, map[string]any{"force": true}))
	if s := state(); s != "running" {
		t.Fatalf("after a force reboot of a halted vm: %v", s)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reboot", vmID, map[string]any{"force": true}))

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.pause", vmID))
	if s := state(); s != "paused" {
		t.Fatalf("after pause: %v", s)
	}
	if l := a.mustCall(a.alice, "hosting.vm.list", map[string]any{"state": "paused"}).([]any); len(l) != 1 {
		t.Fatalf("vm.list state paused: %v", l)
	}
	if _, f := a.call(a.alice, "hosting.vm.pause", vmID); f == nil || f.Cause != CauseConflict {
		t.Fatalf("pause of a paused vm: %v", f)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.resume", vmID))
	if s := state(); s != "running" {
		t.Fatalf("after resume: %v", s)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.pause", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	if s := state(); s != "halted" {
		t.Fatalf("after the stop of a paused vm: %v", s)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.start", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.pause", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.delete", vmID))
	if st, _ := a.hv.State(t.Context(), workflow.DomainName(vmID)); st.Exists {
		t.Fatalf("domain of a paused vm left after delete: %+v", st)
	}
}

// A VM under the operator's lock refuses force stop and reboot, pause
// and resume with the fault naming the lock, and nothing is recorded.
func TestPowerLocked(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "pw3")
	a.mustCall(a.op, "hosting.vm.lock", vmID, "legal hold 4711")
	for _, call := range []struct {
		method string
		params []any
	}{
		{"hosting.vm.stop", []any{vmID, map[string]any{"force": true}}},
		{"hosting.vm.reboot", []any{vmID, map[string]any{"force": true}}},
		{"hosting.vm.pause", []any{vmID}},
		{"hosting.vm.resume", []any{vmID}},
	} {
		before := a.snapshot()
		_, f := a.call(a.alice, call.method, call.params...)
		if f == nil || f.Cause != CauseConflict || !strings.Contains(f.Error(), "legal hold 4711") {
			t.Errorf("%s %v of a locked vm: %v", call.method, call.params, f)
		}
		if after := a.snapshot(); after != before {
			t.Errorf("%s: records changed: %v -> %v", call.method, before, after)
		}
	}
}

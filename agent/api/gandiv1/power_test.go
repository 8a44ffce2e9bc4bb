package gandiv1

import (
	"context"
	"fmt"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// vm_delete "deletes a stopped VM" (the document's words): a running or
// paused VM is refused with v1's state fault naming vm_id, and nothing
// is submitted; once stopped it is deleted. vm_start "will start (boot
// or unpause) a VM": a paused VM runs on.
func TestVMPowerRules(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	vmID := a.mustCall("vm_create", s, "power1", "my_password", a.image, int64(2), int64(1), map[string]any{}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))
	acctID := a.mustCall("hosting_account_info", s).(map[string]any)["id"].(int64)
	alice := &service.Caller{AccountID: acctID}

	refused := func(state string) {
		t.Helper()
		before := a.mustCall("operation_list", s, map[string]any{"state": "ALL"}).([]any)
		_, f := a.call("vm_delete", s, vmID)
		want := fmt.Sprintf("DataError: vm_id: VM %d is %s; vm_delete deletes a stopped VM (vm_stop it first) [vm_id: %d]", vmID, state, vmID)
		if f == nil || f.Code != 510060 || f.Message != want {
			t.Fatalf("vm_delete of a %s VM: %v, want fault 510060 %q", state, f, want)
		}
		if after := a.mustCall("operation_list", s, map[string]any{"state": "ALL"}).([]any); len(after) != len(before) {
			t.Errorf("a refused vm_delete made %d operations", len(after)-len(before))
		}
	}
	refused("running")

	op, err := a.svc.PauseVM(context.Background(), alice, vmID, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.mustDone(s, op.ID)
	if st := a.mustCall("vm_info", s, vmID).(map[string]any)["state"]; st != "paused" {
		t.Fatalf("state after vm_pause: %v", st)
	}
	refused("paused")

	a.mustDone(s, a.mustCall("vm_start", s, vmID).(int64))
	if st := a.mustCall("vm_info", s, vmID).(map[string]any)["state"]; st != "running" {
		t.Fatalf("vm_start of a paused VM: state %v, want running (unpaused)", st)
	}
	if v, err := a.svc.VM(alice, vmID); err != nil || v.RestartPending {
		t.Errorf("vm_start of a paused VM: restart pending %v (%v), want a plain resume", v.RestartPending, err)
	}

	a.mustDone(s, a.mustCall("vm_stop", s, vmID).(int64))
	a.mustDone(s, a.mustCall("vm_delete", s, vmID).(int64))
	if got := a.mustCall("vm_list", s).([]any); len(got) != 0 {
		t.Fatalf("vm_list after vm_delete of the stopped VM: %v", got)
	}
}

package gandi

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The password reset_password returns is given once: not in the
// operation as operation.info and operation.list show it, not in the
// events, not in the VM's records, not in the state file (which keeps its
// hash), not in the seed (which carries the hash), and not in a retry's
// answer.
func TestResetPasswordLeaksNowhere(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "leak")
	from := a.mustCall(a.alice, "hosting.event.from", map[string]any{}).(map[string]any)
	res := a.mustCall(a.alice, "hosting.vm.reset_password", vmID, map[string]any{"idempotency_key": "k1"}).(map[string]any)
	pw := res["password"].(string)
	a.mustDone(a.alice, res)
	again := a.mustCall(a.alice, "hosting.vm.reset_password", vmID, map[string]any{"idempotency_key": "k1"})
	seen := map[string]any{
		"operation.info":            a.mustCall(a.alice, "operation.info", res["id"]),
		"operation.list":            a.mustCall(a.alice, "operation.list", map[string]any{}),
		"operator's operation.list": a.mustCall(a.op, "operation.list", map[string]any{}),
		"vm.info":                   a.mustCall(a.alice, "hosting.vm.info", vmID),
		"events":                    a.mustCall(a.alice, "hosting.event.from", map[string]any{"cursor": from["cursor"], "timeout": int64(0)}),
		"retry":                     again,
		"record":                    a.vmRecord(vmID),
	}
	if evs := seen["events"].(map[string]any)["events"].([]any); len(evs) == 0 {
		t.Fatal("no events read after the reset")
	}
	for name, v := range seen {
		if strings.Contains(fmt.Sprintf("%#v", v), pw) {
			t.Errorf("%s shows the password: %v", name, v)
		}
	}
	_, ud, _ := a.credSeed(vmID)
	if strings.Contains(ud, pw) {
		t.Errorf("the seed holds the password")
	}
	a.close()
	raw, err := os.ReadFile(filepath.Join(a.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), pw) {
		t.Errorf("the state file holds the password")
	}
}

package gandi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// vm.update's ssh_key adds a key to those the guest authorizes, and the
// list is bounded as at creation (keys plus ssh_key): without a bound
// every call grows the VM's record (read at every list) and its seed by
// up to 8 KB. A key already there is no new one; a refused call changes
// nothing.
func TestSSHKeyUpdatesAreBounded(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "keys")
	key := func(n int) string { return fmt.Sprintf("%s n%d", testKey, n) }
	for n := range service.MaxVMKeys + 1 {
		a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"ssh_key": key(n)}))
	}
	if got := len(a.vmRecord(vmID).Provision.AuthorizedKeys); got != service.MaxVMKeys+1 {
		t.Fatalf("%d keys authorized", got)
	}
	before := a.snapshot()
	_, f := a.call(a.alice, "hosting.vm.update", vmID, map[string]any{"ssh_key": key(service.MaxVMKeys + 1)})
	if f == nil || f.Cause != CauseBadParam || !strings.Contains(f.Error(), "ssh_key") {
		t.Fatalf("key %d: %v, want a fault naming ssh_key", service.MaxVMKeys+2, f)
	}
	if after := a.snapshot(); after != before {
		t.Errorf("records changed: %v -> %v", before, after)
	}
	// A key it has is still accepted (a retry, or a seed to write again).
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"ssh_key": key(0)}))
}

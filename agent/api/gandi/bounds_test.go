package gandi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// Free text kept in the state is bounded: before, run (the first-boot
// script) and ssh keys took whatever fitted in the 1 MiB body, and each
// accepted call grew state.db by as much. The fault names the field and
// the limit, and nothing changes.
func TestFreeTextBounds(t *testing.T) {
	a := newAgent(t, true)
	vm := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("bounds"), map[string]any{"name": "sys"}, a.image))
	vmID := vm[len(vm)-1]["vm_id"].(int64)
	spec := func(k string, v any) map[string]any { m := vmSpec("x1"); m[k] = v; return m }
	longKey := testKey + " " + strings.Repeat("c", service.MaxSSHKeyBytes)
	manyKeys := make([]any, service.MaxVMKeys+1)
	for i := range manyKeys {
		manyKeys[i] = int64(i + 1)
	}
	tests := []struct {
		name   string
		method string
		params []any
		want   string
	}{
		{"run", "hosting.vm.create_from", []any{spec("run", strings.Repeat("x", service.MaxRunBytes+1)), map[string]any{}, a.image}, "run: must be at most 16384 bytes"},
		{"run with vm.create", "hosting.vm.create", []any{func() map[string]any {
			m := spec("run", strings.Repeat("x", 1<<20-4096))
			m["sys_disk_id"] = int64(1)
			return m
		}()}, "run: must be at most 16384 bytes"},
		{"ssh_key at create", "hosting.vm.create_from", []any{spec("ssh_key", longKey), map[string]any{}, a.image}, fmt.Sprintf("ssh_key: must be at most %d bytes", service.MaxSSHKeyBytes)},
		{"ssh_key at update", "hosting.vm.update", []any{vmID, map[string]any{"ssh_key": longKey}}, fmt.Sprintf("ssh_key: must be at most %d bytes", service.MaxSSHKeyBytes)},
		{"ssh.create value", "hosting.ssh.create", []any{map[string]any{"name": "big", "value": longKey}}, fmt.Sprintf("value: must be at most %d bytes", service.MaxSSHKeyBytes)},
		{"keys", "hosting.vm.create_from", []any{spec("keys", manyKeys), map[string]any{}, a.image}, fmt.Sprintf("keys: must list at most %d keys", service.MaxVMKeys)},
		// Already bounded by their own rules; kept here so that stays so.
		{"hostname", "hosting.vm.create_from", []any{spec("hostname", strings.Repeat("h", 64)), map[string]any{}, a.image}, "hostname"},
		{"login", "hosting.vm.create_from", []any{spec("login", strings.Repeat("l", 64)), map[string]any{}, a.image}, "login"},
		{"disk name", "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(64), "name": strings.Repeat("d", 65)}}, "name"},
		{"ssh key name", "hosting.ssh.create", []any{map[string]any{"name": strings.Repeat("k", 65), "value": testKey}}, "name"},
		{"password", "hosting.vm.create_from", []any{spec("password", strings.Repeat("p", 129)), map[string]any{}, a.image}, "password"},
		{"idempotency_key", "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(64)}, map[string]any{"idempotency_key": strings.Repeat("i", 129)}}, "idempotency_key: must be at most 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.snapshot()
			v, f := a.call(a.alice, tt.method, tt.params...)
			if f == nil {
				t.Fatalf("accepted: %v", v)
			}
			if f.Cause != CauseBadParam || !strings.Contains(f.Msg, tt.want) {
				t.Fatalf("fault %q, want CAUSE_BADPARAM with %q", f.Error(), tt.want)
			}
			if after := a.snapshot(); after != before {
				t.Fatalf("records changed: %v -> %v", before, after)
			}
		})
	}
	// At the bounds, accepted.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", spec("run", strings.Repeat("x", service.MaxRunBytes)), map[string]any{"name": "sys2"}, a.image))
}

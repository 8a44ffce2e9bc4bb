package gandiv1

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// TestFaultElements: every fault about one of the call's parameters
// names it as its element with its value, as the document's "DataError:
// ... [element: value]" does, not-found ones and the service's refusals
// included (the service's message names no v1 parameter: the face adds
// it).
func TestFaultElements(t *testing.T) {
	a := newAgent(t, func(c *service.Config) { c.Quotas.Default = service.Resources{Servers: 1} })
	s := a.login(aliceLogin, alicePassword)
	vmID := a.mustCall("vm_create", s, "elem1", "my_password", a.image, int64(2), int64(1), map[string]any{}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))
	diskID := a.mustCall("disk_create", s, map[string]any{"size": int64(64), "name": "elemdisk"}).(int64)
	a.mustDone(s, a.lastOp(s, "disk_create"))

	for _, tc := range []struct {
		name   string
		code   int
		want   string // the fault string, or its end when it starts with "..."
		method string
		params []any
	}{
		{"vm_info of no VM", 510040, "DataError: vm 999 does not exist [vm_id: 999]", "vm_info", []any{int64(999)}},
		{"vm_stop of no VM", 510040, "DataError: vm 999 does not exist [vm_id: 999]", "vm_stop", []any{int64(999)}},
		{"vm_delete of no VM", 510040, "DataError: vm 999 does not exist [vm_id: 999]", "vm_delete", []any{int64(999)}},
		{"vm_disk_list of no VM", 510040, "DataError: vm 999 does not exist [vm_id: 999]", "vm_disk_list", []any{int64(999)}},
		{"vm_update of no VM", 510040, "... [vm_id: 999]", "vm_update", []any{int64(999), map[string]any{"cpu": int64(2)}}},
		{"vm_update past the cores bound", 510030, "... [specs.cpu: 99]", "vm_update", []any{vmID, map[string]any{"cpu": int64(99)}}},
		{"disk_info of no disk", 511040, "DataError: disk 5000 does not exist [disk_id: 5000]", "disk_info", []any{int64(5000)}},
		{"disk_delete of no disk", 511040, "DataError: disk 5000 does not exist [disk_id: 5000]", "disk_delete", []any{int64(5000)}},
		{"disk_attach of no disk", 511040, "... [disk_id: 5000]", "disk_attach", []any{int64(5000), vmID}},
		{"disk_attach to no VM", 510040, "... [vm_id: 999]", "disk_attach", []any{diskID, int64(999)}},
		{"disk_detach of no disk", 511060, "... [disk_id: 5000]", "disk_detach", []any{int64(5000), vmID}},
		{"operation_details of no operation", 512040, "... [opid: 7000]", "operation_details", []any{int64(7000)}},
		{"operation_cancel of no operation", 512040, "... [opid: 7000]", "operation_cancel", []any{int64(7000)}},
		{"vm_create past the servers quota", 510070, "... [servers]", "vm_create", []any{"elem2", "my_password", a.image, int64(1), int64(1), map[string]any{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, f := a.call(tc.method, append([]any{s}, tc.params...)...)
			if f == nil {
				t.Fatalf("%s: no fault", tc.method)
			}
			end, isEnd := strings.CutPrefix(tc.want, "...")
			if f.Code != tc.code || isEnd && !strings.HasSuffix(f.Message, end) || !isEnd && f.Message != tc.want {
				t.Errorf("%s: %d %q, want %d %q", tc.method, f.Code, f.Message, tc.code, tc.want)
			}
		})
	}

	// A deleted VM is faulted as one that never was, naming its id.
	a.mustDone(s, a.mustCall("vm_stop", s, vmID).(int64))
	a.mustDone(s, a.mustCall("vm_delete", s, vmID).(int64))
	if _, f := a.call("vm_stop", s, vmID); f == nil || f.Code != 510040 || !strings.HasSuffix(f.Message, fmt.Sprintf("[vm_id: %d]", vmID)) {
		t.Errorf("vm_stop of a deleted VM: %v", f)
	}
}

// A misspelt key of a struct parameter is named with the value given.
func TestUnknownKeyElement(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	_, f := a.call("disk_create", s, map[string]any{"size": int64(64), "name": "d", "fs_type": "ext3"})
	if f == nil || f.Code != 511030 || !strings.HasSuffix(f.Message, `[specs.fs_type: "ext3"]`) {
		t.Fatalf("disk_create with a misspelt key: %v", f)
	}
}

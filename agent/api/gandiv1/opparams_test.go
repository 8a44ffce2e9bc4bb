package gandiv1

import (
	"testing"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/workflow"
)

// TestOperationParamTypes: operation_details of a disk_attach answers
// its position as an int, as vm_id and disk_id beside it, not the
// string the service keeps; text params stay strings.
func TestOperationParamTypes(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	vmID := a.mustCall("vm_create", s, "params1", "my_password", a.image, int64(2), int64(1), map[string]any{}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))
	diskID := a.mustCall("disk_create", s, map[string]any{"size": int64(64), "name": "2024"}).(int64)
	a.mustDone(s, a.lastOp(s, "disk_create"))
	op := a.mustCall("disk_attach", s, diskID, vmID).(int64)
	a.mustDone(s, op)
	p := a.mustCall("operation_details", s, op).(map[string]any)["param"].(map[string]any)
	if _, ok := p["position"].(int64); !ok {
		t.Errorf("disk_attach's param.position: %#v, want an int", p["position"])
	}
	if p["access"] != "read/write" || p["disk_id"] != diskID || p["vm_id"] != vmID {
		t.Errorf("disk_attach's param: %#v", p)
	}

	for _, tc := range []struct {
		key, value string
		want       any
	}{
		{"position", "-1", int64(-1)},
		{"size", "1024", int64(1024)},
		{"reboot", "1", int64(1)},
		{"bandwidth", "10000000", 1e7},
		{"bandwidth", "1500000.5", 1500000.5},
		{"name", "2024", "2024"},
		{"hostname", "123", "123"},
		{"cmdline", "root=/dev/xvda ro", "root=/dev/xvda ro"},
		{"size", "not a number", "not a number"},
	} {
		if got := renderOp(service.Operation{Type: "disk_update", DiskID: 1, Params: map[string]string{tc.key: tc.value}})["param"].(map[string]any)[tc.key]; got != tc.want {
			t.Errorf("param %s %q: %#v, want %#v", tc.key, tc.value, got, tc.want)
		}
	}
	// The tables name only params a client reads back: a misspelt key
	// would leave the real one a string.
	for _, m := range []map[string]bool{intParams, floatParams} {
		for k := range m {
			if !workflow.IsClientParam(k) {
				t.Errorf("%s is typed but no client param of workflow", k)
			}
		}
	}
}

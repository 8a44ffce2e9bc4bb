package gandi

import (
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// While a VM's delete runs, the day-two verbs on it or its iface are
// refused naming the field, and change nothing: none would outlive it.
func TestDayTwoVerbsOnADeletingVM(t *testing.T) {
	a := newAgent(t, true)
	isoID, _ := a.registerISO("rescue")
	vmID := a.createVM(a.alice, "gone")
	ifaceID := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["ifaces_id"].([]int64)[0]
	held, release := make(chan struct{}), make(chan struct{})
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == "vm_delete" && strings.HasPrefix(boundary, "begin:") {
			a.rig.OnBoundary(nil)
			close(held)
			<-release
		}
	})
	del := a.mustCall(a.alice, "hosting.vm.delete", vmID)
	<-held
	calls := []struct {
		method string
		params []any
		field  string
	}{
		{"hosting.vm.stop", []any{vmID, map[string]any{"force": true}}, "vm_id"},
		{"hosting.vm.reboot", []any{vmID, map[string]any{"force": true}}, "vm_id"},
		{"hosting.vm.pause", []any{vmID}, "vm_id"},
		{"hosting.vm.resume", []any{vmID}, "vm_id"},
		{"hosting.vm.reset_password", []any{vmID}, "vm_id"},
		{"hosting.vm.update", []any{vmID, map[string]any{"note": "x"}}, "vm_id"},
		{"hosting.vm.iso_attach", []any{vmID, isoID}, "vm_id"},
		{"hosting.vm.boot_type", []any{vmID, "default"}, "vm_id"},
		{"hosting.vm.rebuild", []any{vmID, map[string]any{"image_id": int64(1)}}, "vm_id"},
		{"hosting.iface.firewall_apply", []any{ifaceID, map[string]any{"policy": "drop"}}, "iface_id"},
		{"hosting.iface.update", []any{ifaceID, map[string]any{"bandwidth": "unlimited"}}, "iface_id"},
	}
	for _, c := range calls {
		before := a.snapshot()
		if _, f := a.call(a.alice, c.method, c.params...); f == nil || !strings.Contains(f.Error(), c.field) {
			t.Errorf("%s on a deleting vm: %v, want a fault naming %s", c.method, f, c.field)
		}
		if after := a.snapshot(); after != before {
			t.Errorf("%s: records changed: %v -> %v", c.method, before, after)
		}
	}
	close(release)
	a.mustDone(a.alice, del)
}

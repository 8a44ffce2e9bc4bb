package gandi

import (
	"reflect"
	"strconv"
	"testing"
)

// vm.info's disks carry kernel_cmdline as the recorded real responses do
// (the struct disk.info gives; nil for a disk without one), and every
// DiskReturn carries entity_id, the disk's id as a string.
func TestVMInfoDisksCmdlineAndEntityID(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "gaps")
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)}))[0]["disk_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, data))

	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	disks := info["disks"].([]any)
	if len(disks) != 2 {
		t.Fatalf("vm.info disks = %v", disks)
	}
	sys := disks[0].(map[string]any)
	want := map[string]any{"root": "/dev/xvda", "ro": true} // the image's "root=/dev/xvda ro"
	if !reflect.DeepEqual(sys["kernel_cmdline"], want) {
		t.Errorf("system disk kernel_cmdline = %#v, want %v", sys["kernel_cmdline"], want)
	}
	sysInfo := a.mustCall(a.alice, "hosting.disk.info", sys["id"]).(map[string]any)
	if !reflect.DeepEqual(sysInfo["kernel_cmdline"], sys["kernel_cmdline"]) {
		t.Errorf("disk.info kernel_cmdline %v, vm.info's %v", sysInfo["kernel_cmdline"], sys["kernel_cmdline"])
	}
	if d := disks[1].(map[string]any); d["kernel_cmdline"] != nil {
		t.Errorf("data disk kernel_cmdline = %#v, want nil (as the recorded disk.info)", d["kernel_cmdline"])
	}
	if d := a.mustCall(a.alice, "hosting.disk.info", data).(map[string]any); d["kernel_cmdline"] != nil {
		t.Errorf("data disk.info kernel_cmdline = %#v, want nil", d["kernel_cmdline"])
	}
	// disk.list keeps the seed's DiskReturn: no kernel_cmdline there.
	for _, d := range a.mustCall(a.alice, "hosting.disk.list").([]any) {
		if _, ok := d.(map[string]any)["kernel_cmdline"]; ok {
			t.Errorf("disk.list shows kernel_cmdline: %v", d)
		}
	}

	for _, c := range []struct {
		where string
		disk  map[string]any
	}{
		{"vm.info", sys}, {"vm.info", disks[1].(map[string]any)}, {"disk.info", sysInfo},
		{"disk.list", a.mustCall(a.alice, "hosting.disk.list", map[string]any{"id": data}).([]any)[0].(map[string]any)},
	} {
		if want := strconv.FormatInt(c.disk["id"].(int64), 10); c.disk["entity_id"] != want {
			t.Errorf("%s: entity_id = %#v, want %q", c.where, c.disk["entity_id"], want)
		}
	}
}

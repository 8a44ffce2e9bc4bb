package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// iso list, vm iso attach|detach and vm boot-type against an agent (one
// ISO registered, "rescue"), each followed with -wait and seen in vm
// info; call takes the boot type as a bare word.
func TestISOCommands(t *testing.T) {
	url, image := inProcessAgent(t)
	out := mustCtl(t, url, aliceKey, "iso", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[1], "rescue") {
		t.Fatalf("iso list:\n%s", out)
	}
	iso := strings.Fields(lines[1])[0]
	if out := mustCtl(t, url, aliceKey, "iso", "list", "--label", "nope"); strings.Contains(out, "rescue") {
		t.Errorf("iso list --label nope:\n%s", out)
	}
	if out := mustCtl(t, url, aliceKey, "iso", "list", "-o", "json"); !strings.Contains(out, `"label": "rescue"`) {
		t.Errorf("iso list -o json:\n%s", out)
	}

	mustCtl(t, url, aliceKey, "call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256}`, `{}`, strconv.FormatInt(image, 10), "-wait")
	state := func() (any, any) {
		info := vmInfo(t, url, "1")
		return info["iso_id"], info["boot_type"]
	}
	isoID, _ := strconv.ParseFloat(iso, 64)
	for _, step := range []struct {
		args     []string
		ends     string
		iso      any
		bootType string
	}{
		{[]string{"vm", "iso", "attach", "1", iso, "-wait"}, "vm_iso_attach DONE\n", isoID, "default"},
		{[]string{"vm", "boot-type", "1", "cdrom", "-wait"}, "vm_boot_type DONE\n", isoID, "cdrom"},
		{[]string{"call", "hosting.vm.boot_type", "1", "default", "-wait"}, "vm_boot_type DONE\n", isoID, "default"},
		{[]string{"vm", "boot-type", "-wait", "1", "cdrom"}, "vm_boot_type DONE\n", isoID, "cdrom"},
		{[]string{"vm", "iso", "detach", "1", "-wait"}, "vm_iso_detach DONE\n", nil, "default"},
	} {
		if out := mustCtl(t, url, aliceKey, step.args...); !strings.HasSuffix(out, step.ends) {
			t.Fatalf("%q printed:\n%s", step.args, out)
		}
		if gotISO, gotBoot := state(); gotISO != step.iso || gotBoot != step.bootType {
			t.Fatalf("after %q: iso_id %v, boot_type %v; want %v, %s", step.args, gotISO, gotBoot, step.iso, step.bootType)
		}
	}
	out = mustCtl(t, url, aliceKey, "vm", "iso", "attach", "1", iso, "-o", "json")
	var op map[string]any
	if err := json.Unmarshal([]byte(out), &op); err != nil || op["type"] != "vm_iso_attach" {
		t.Fatalf("vm iso attach -o json printed %s (%v)", out, err)
	}
	// Not left running when the agent stops with the test.
	mustCtl(t, url, aliceKey, "op", "wait", strconv.FormatFloat(op["id"].(float64), 'f', -1, 64))
}

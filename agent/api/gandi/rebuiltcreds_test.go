package gandi

import (
	"strings"
	"testing"
)

// New credentials for a VM rebuilt without a start (its new system not
// booted yet) stay in a first boot's seed: the rebuilt disk is a fresh
// copy of the image, whose first boot must still make its own SSH host
// keys (an image's baked keys are every VM's) and run the VM's command.
// Once the rebuilt system has booted, new credentials are a later seed.
func TestCredentialsBeforeTheRebuiltSystemBoots(t *testing.T) {
	a := newAgent(t, true)
	spec := vmSpec("rbc")
	spec["run"] = "touch /root/first"
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", spec, map[string]any{}, a.image))
	vmID := done[2]["params"].(map[string]any)["vm_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.rebuild", vmID, map[string]any{"image_id": int64(1), "start": false}))

	res := a.mustCall(a.alice, "hosting.vm.reset_password", vmID).(map[string]any)
	a.mustDone(a.alice, res)
	id, ud, _ := a.credSeed(vmID)
	if id != a.wf.UUID(vmID)+"-g2" {
		t.Errorf("instance-id = %s, want generation 2", id)
	}
	if !strings.Contains(ud, "touch /root/first") || strings.Contains(ud, `"ssh_deletekeys": false`) {
		t.Fatalf("seed for the rebuilt system's first boot is a later one (keeps the image's host keys, runs nothing):\n%s", ud)
	}

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.start", vmID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reset_password", vmID))
	if _, ud, _ := a.credSeed(vmID); strings.Contains(ud, "touch /root/first") || !strings.Contains(ud, `"ssh_deletekeys": false`) {
		t.Fatalf("seed after the rebuilt system booted is not a later one:\n%s", ud)
	}
}

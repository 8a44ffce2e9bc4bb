package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// copyState puts a copy of from's state.db in a new state dir.
func copyState(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(from, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "state.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A state.db copied beside the original (a cloned dom0 image, a backup
// restored next to it) has the original's instance id: started over the
// same disks dir, the copy refuses, naming the running agent; the first
// keeps working; once it stops, the copy may start.
func TestCopiedStateRefused(t *testing.T) {
	disks := filepath.Join(volumeEnv(t), "disks")
	root := t.TempDir()
	one := newVolAgent(t, filepath.Join(root, "one"), disks, "")
	one.startWith()
	kept := one.createDisk("one-data")
	one.stop()
	copyState(t, one.state, filepath.Join(root, "two"))
	two := newVolAgent(t, filepath.Join(root, "two"), disks, "")
	// The copy on "another host" (its own lock dir) over the shared disks
	// dir is caught by the lock in the disks dir.
	two.env = []string{"XENAGENT_LOCK_DIR=" + t.TempDir()}
	one.startWith()
	before := snapshotDir(t, disks)
	for _, args := range [][]string{nil, {"--allow-foreign-volumes"}} {
		out := two.refused(args...)
		for _, want := range []string{"is already run by another xenagent", "pid " + strconv.Itoa(one.agent.cmd.Process.Pid),
			"state_dir " + one.state, "xenagent new-instance --config " + two.conf} {
			if !strings.Contains(out, want) {
				t.Errorf("refusal (%v) lacks %q:\n%s", args, want, out)
			}
		}
	}
	// Same host, same lock dir: caught by the host-wide lock as well.
	two.env = nil
	if out := two.refused(); !strings.Contains(out, "is already run by another xenagent") {
		t.Errorf("refusal on the same host:\n%s", out)
	}
	// adopt on the copy is refused as well.
	if out, err := exec.Command(two.bin, "adopt", "--config", two.conf).CombinedOutput(); err == nil || !strings.Contains(string(out), "is already run by another xenagent") {
		t.Errorf("adopt on the copy: %v\n%s", err, out)
	}
	// new-instance on the copy: refused, since the shared storage holds
	// the volumes of its instance, and the state is unchanged.
	if out, err := exec.Command(two.bin, "new-instance", "--config", two.conf).CombinedOutput(); err == nil || !strings.Contains(string(out), "volumes marked with instance") {
		t.Errorf("new-instance over the shared disks dir: %v\n%s", err, out)
	}
	checkKept(t, disks, before)

	// A copy over its own storage gets a new identity and then runs
	// beside the original, touching none of its volumes.
	copyState(t, one.state, filepath.Join(root, "three"))
	three := newVolAgent(t, filepath.Join(root, "three"), filepath.Join(filepath.Dir(disks), "disks3"), "")
	if out := three.refused(); !strings.Contains(out, "is already run by another xenagent") {
		t.Errorf("refusal of a copy over its own storage:\n%s", out)
	}
	if out, err := exec.Command(three.bin, "new-instance", "--config", three.conf).CombinedOutput(); err != nil || !strings.Contains(string(out), "is now") {
		t.Fatalf("new-instance over its own storage: %v\n%s", err, out)
	}
	three.startWith()
	three.createDisk("three-data")
	three.stop()
	checkKept(t, disks, before)
	more := one.createDisk("one-more")
	if ids := one.diskIDs(); !ids[kept] || !ids[more] {
		t.Errorf("first agent's disks = %v", ids)
	}
	one.stop()
	two.startWith()
	if ids := two.diskIDs(); !ids[kept] {
		t.Errorf("the copy's disks = %v, want %d", ids, kept)
	}
	two.stop()
}

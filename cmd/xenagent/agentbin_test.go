package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The real-process tests on libvirt's test driver (full disk, floods,
// volumes, resumed steps) share one build of the agent; the QEMU crash
// tests build theirs with guest kernels (buildAgent).

var (
	plainOnce sync.Once
	plainBin  string
	plainErr  error
)

// buildPlain builds the agent alone (no guest kernels).
func buildPlain(t *testing.T) string {
	plainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xenagent-plain-")
		if err != nil {
			plainErr = err
			return
		}
		plainBin = filepath.Join(dir, "xenagent")
		if out, err := exec.Command("go", "build", "-o", plainBin, ".").CombinedOutput(); err != nil {
			plainErr = fmt.Errorf("building the agent: %v\n%s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainBin
}

// TestMain gives the agents these tests start a lock directory of their
// own (the instance leases, /run/lock/xenagent on a host), removed after.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xenagent-locks-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XENAGENT_LOCK_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

package main

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// seedOf returns the instance-id and password hash of vmID's seed.
func (l *lab) seedOf(vmID int64) (instanceID, hash string) {
	l.t.Helper()
	files, _, err := nocloud.ReadImage(filepath.Join(l.dir, "seeds", fmt.Sprintf("xa-seed-%d.iso", vmID)))
	if err != nil {
		l.t.Fatalf("seed of vm %d: %v", vmID, err)
	}
	if m := regexp.MustCompile(`"instance-id": "[^"]*-(g[0-9]+)"`).FindStringSubmatch(string(files["meta-data"])); m != nil {
		instanceID = m[1]
	}
	if m := regexp.MustCompile(`"(\$6\$[^"]*)"`).FindStringSubmatch(string(files["user-data"])); m != nil {
		hash = m[1]
	}
	return instanceID, hash
}

// A kill -9 at every step boundary of a vm.update that brings a new
// password (real QEMU): after a restart the operation is DONE, the seed
// is the next generation's with the new password's hash, and the VM is
// whole; a retry is the same operation, and the next update the next
// generation (the first was recorded once, not twice or never).
func TestCrashDuringCredentials(t *testing.T) {
	for _, fp := range []string{
		"vm_update:begin:seed", "vm_update:done:seed", "vm_update:begin:apply", "vm_update:done:apply",
	} {
		t.Run(fp, func(t *testing.T) {
			l := newLab(t, "")
			vmID := 920000 + rand.Int63n(70000)
			t.Cleanup(func() { undefine(vmID) })
			l.start(fp)
			l.createFrom(vmID)
			l.checkWhole(vmID, true)
			if gen, hash := l.seedOf(vmID); gen != "" || !passwd.Verify(hash, "first-boot-pass") {
				t.Fatalf("first seed: generation %q, hash verifies: %v", gen, passwd.Verify(hash, "first-boot-pass"))
			}
			update := func() (any, error) {
				return l.call("hosting.vm.update", vmID, map[string]any{"password": "second-pass-1"}, map[string]any{"idempotency_key": "pw"})
			}
			update()
			l.waitKilled()
			l.start("")
			first, err := update() // the client's retry: the same operation
			if err != nil {
				t.Fatal(err)
			}
			l.checkWhole(vmID, true)
			if gen, hash := l.seedOf(vmID); gen != "g1" || !passwd.Verify(hash, "second-pass-1") {
				t.Errorf("seed after recovery: generation %q, hash verifies: %v", gen, passwd.Verify(hash, "second-pass-1"))
			}
			again, _ := update()
			if again.(map[string]any)["id"] != first.(map[string]any)["id"] {
				t.Errorf("retry answered %v, then %v", first, again)
			}
			l.must("hosting.vm.update", vmID, map[string]any{"password": "third-pass-12"})
			l.checkWhole(vmID, true)
			if gen, hash := l.seedOf(vmID); gen != "g2" || !passwd.Verify(hash, "third-pass-12") {
				t.Errorf("seed after the next update: generation %q, hash verifies: %v", gen, passwd.Verify(hash, "third-pass-12"))
			}
			l.stop()
		})
	}
}

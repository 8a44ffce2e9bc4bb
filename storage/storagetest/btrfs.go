// Package storagetest holds what storage tests share: a loop-mounted
// btrfs for reflink clones. The conformance suite every backend runs is
// agent/host/hosttest.VolumesSuite, the port's, which the fakes run too.
package storagetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/testenv"
)

// Btrfs mounts a fresh btrfs of sizeGB (a sparse file on a loop device)
// and returns its mount point; it is unmounted when the test ends. It
// skips, saying why, without root or btrfs-progs; with
// XENAGENT_REQUIRE_ROOT=1 (make test) those are failures instead.
func Btrfs(t testing.TB, sizeGB int) string {
	t.Helper()
	testenv.Root(t, "to loop-mount a btrfs")
	testenv.Tool(t, "mkfs.btrfs", "btrfs-progs")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	os.MkdirAll(mnt, 0o755)
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(int64(sizeGB) << 30)
	f.Close()
	for _, c := range [][]string{{"mkfs.btrfs", "-q", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", strings.Join(c, " "), err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	return mnt
}

// Must panics on err, for benchmark setup.
func Must(err error) {
	if err != nil {
		panic(fmt.Sprint(err))
	}
}

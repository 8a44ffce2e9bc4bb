package nocloud

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hosttest"
)

// Dir passes the Seeds suite in a temp dir, made at its first write.
func TestConformance(t *testing.T) {
	hosttest.SeedsSuite(t, func(t *testing.T) hosttest.SeedsRig {
		dir := filepath.Join(t.TempDir(), "seeds")
		return hosttest.SeedsRig{
			Seeds: New(dir),
			Holds: func(path string, spec host.SeedSpec) (bool, error) {
				files, label, err := ReadImage(path)
				if err != nil {
					return false, err
				}
				want, err := Files(spec)
				return label == Label && maps.EqualFunc(files, want, func(a, b []byte) bool { return string(a) == string(b) }), err
			},
			Crash:     func(t *testing.T, vmID int64) { crash(t, dir, vmID) },
			Leftovers: func(t *testing.T) int { return leftovers(t, dir) },
		}
	})
}

// crash leaves what WriteImage leaves when the host dies before its
// rename: a work directory holding the tree and half an image.
func crash(t *testing.T, dir string, vmID int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp(dir, workPrefix)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(work, "seed.iso")
	if err := WriteImage(img, hosttest.SeedSpec(vmID, "crashed")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(img)
	if err == nil {
		err = os.Truncate(img, fi.Size()/2)
	}
	if err == nil {
		err = os.Mkdir(filepath.Join(work, "tree"), 0o700)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// leftovers counts the work directories in dir.
func leftovers(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), workPrefix) {
			n++
		}
	}
	return n
}

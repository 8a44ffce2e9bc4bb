package volwrite

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/testenv"
)

const size = 4 << 20

// backing makes a sparse file of size.
func backing(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vol.img")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// loop attaches a file as a block device, detached when the test ends.
func loop(t *testing.T) string {
	t.Helper()
	testenv.Root(t, "for a loop device")
	out, err := exec.Command("losetup", "-f", "--show", backing(t)).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

func TestWriter(t *testing.T) {
	for _, c := range []struct {
		name  string
		path  func(t *testing.T) string
		block bool
	}{{"file", backing, false}, {"block device", loop, true}} {
		t.Run(c.name, func(t *testing.T) {
			p := c.path(t)
			w, err := Open(p, c.block)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if w.Size() != size {
				t.Fatalf("size %d, want %d", w.Size(), size)
			}
			data := bytes.Repeat([]byte{0xa5}, 1<<20)
			if _, err := w.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			// Unaligned at both ends: the edges are written, the middle zeroed.
			if err := w.ZeroAt(1000, 300000); err != nil {
				t.Fatal(err)
			}
			if err := w.ZeroAt(500000, 100); err != nil { // within a sector
				t.Fatal(err)
			}
			for _, bad := range []struct{ off, n int64 }{{size - 10, 20}, {-1, 5}, {5, -1}} {
				if err := w.ZeroAt(bad.off, bad.n); !errors.Is(err, ErrPastEnd) {
					t.Errorf("zeroing %d at %d: %v", bad.n, bad.off, err)
				}
			}
			if _, err := w.WriteAt(data[:20], size-10); !errors.Is(err, ErrPastEnd) {
				t.Errorf("writing past the end: %v", err)
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != size && !c.block {
				t.Fatalf("the file grew to %d", len(got))
			}
			want := make([]byte, size)
			copy(want, data)
			clear(want[1000:301000])
			clear(want[500000:500100])
			if c.block {
				got = readDev(t, p)
			}
			if !bytes.Equal(got, want) {
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("first difference at %d: %x, want %x", i, got[i], want[i])
					}
				}
			}
		})
	}
}

func readDev(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

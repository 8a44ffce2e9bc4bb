package mkfs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/testenv"
)

type fakeRunner struct{ calls [][]string }

func (r *fakeRunner) Run(_ context.Context, args ...string) ([]byte, error) {
	r.calls = append(r.calls, args)
	return nil, nil
}

func TestFormatArgs(t *testing.T) {
	installed := map[string]bool{"mkfs.ext3": true, "mkfs.xfs": true}
	look := func(name string) (string, error) {
		if installed[name] {
			return "/usr/sbin/" + name, nil
		}
		return "", errors.New("not found")
	}
	r := &fakeRunner{}
	f := New(r, look, nil)
	if got := f.FSTypes(); !slices.Equal(got, []string{"ext3", "xfs"}) {
		t.Fatalf("FSTypes %v", got)
	}
	for _, tc := range []struct {
		fstype string
		want   []string
	}{
		{"ext3", []string{"mkfs.ext3", "-F", "-q", "/v/d1"}},
		{"xfs", []string{"mkfs.xfs", "-f", "-q", "/v/d1"}},
		{"jfs", nil}, // not installed
	} {
		r.calls = nil
		err := f.Format(context.Background(), "/v/d1", tc.fstype)
		if tc.want == nil {
			if err == nil || len(r.calls) != 0 {
				t.Errorf("%s: formatted without its tool: %v %v", tc.fstype, err, r.calls)
			}
			continue
		}
		if err != nil || len(r.calls) != 1 || !slices.Equal(r.calls[0], tc.want) {
			t.Errorf("%s: ran %v (%v), want %v", tc.fstype, r.calls, err, tc.want)
		}
	}
}

// TestFormatFiles makes each filesystem whose tool is installed in a
// sparse file (512 MB: xfs wants 300 at least) and asks blkid what it
// finds there.
func TestFormatFiles(t *testing.T) {
	testenv.Tool(t, "blkid", "util-linux")
	f := New(nil, nil, nil)
	for _, fstype := range []string{"ext3", "reiserfs", "xfs", "jfs"} {
		t.Run(fstype, func(t *testing.T) {
			if !slices.Contains(f.FSTypes(), fstype) {
				testenv.Tool(t, "mkfs."+fstype, map[string]string{"ext3": "e2fsprogs", "reiserfs": "reiserfsprogs", "xfs": "xfsprogs", "jfs": "jfsutils"}[fstype])
			}
			path := filepath.Join(t.TempDir(), "vol")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 512<<20); err != nil {
				t.Fatal(err)
			}
			if err := f.Format(context.Background(), path, fstype); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("blkid", "-p", "-o", "value", "-s", "TYPE", path).Output()
			if err != nil || strings.TrimSpace(string(out)) != fstype {
				t.Fatalf("blkid finds %q (%v), want %s", out, err, fstype)
			}
		})
	}
}

// TestFormatExt3File makes a real ext3 filesystem in a sparse file and
// checks its superblock's magic.
func TestFormatExt3File(t *testing.T) {
	testenv.Tool(t, "mkfs.ext3", "e2fsprogs")
	path := filepath.Join(t.TempDir(), "vol")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 32<<20); err != nil {
		t.Fatal(err)
	}
	f := New(nil, nil, nil)
	if err := f.Format(context.Background(), path, "ext3"); err != nil {
		t.Fatal(err)
	}
	if !IsExt(path) {
		t.Fatal("no ext superblock after mkfs.ext3")
	}
}

// TestMinSizes checks the table's minimums against the installed tools:
// each makes its filesystem on a volume of its minimum and refuses one a
// MB smaller, so a call refused for its size would have failed in mkfs,
// and one accepted will not.
func TestMinSizes(t *testing.T) {
	f := New(nil, nil, nil)
	mins := f.MinSizesMB()
	for _, fstype := range f.FSTypes() {
		t.Run(fstype, func(t *testing.T) {
			min, ok := mins[fstype]
			if !ok || min < 1 {
				t.Fatalf("no minimum for %s: %v", fstype, mins)
			}
			format := func(mb int64) error {
				path := filepath.Join(t.TempDir(), "vol")
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, mb<<20); err != nil {
					t.Fatal(err)
				}
				return f.Format(context.Background(), path, fstype)
			}
			if err := format(min); err != nil {
				t.Errorf("%s on %d MB: %v", fstype, min, err)
			}
			if min > 1 {
				if err := format(min - 1); err == nil {
					t.Errorf("%s made on %d MB: the minimum is lower than the table says", fstype, min-1)
				}
			}
		})
	}
}

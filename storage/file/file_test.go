package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/agent/testenv"
	"github.com/xenagent/xenagent/storage/storagetest"
	"golang.org/x/sys/unix"
)

var own = host.Mark{Owner: "0123456789abcdef", Op: 1}

func newBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateCloneResizeDelete(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	if err := b.Create(ctx, "img", 64, own); err != nil {
		t.Fatal(err)
	}
	// Data at an offset past a hole must survive the copy.
	f, _ := os.OpenFile(b.Path("img"), os.O_WRONLY, 0)
	payload := []byte("kernel+rootfs")
	f.WriteAt(payload, 40<<20)
	f.Close()

	if err := b.Clone(ctx, "img", "disk1", 128, own); err != nil {
		t.Fatal(err)
	}
	if size, _ := b.SizeMB(ctx, "disk1"); size != 128 {
		t.Errorf("clone size = %d, want 128", size)
	}
	got := make([]byte, len(payload))
	f, _ = os.Open(b.Path("disk1"))
	f.ReadAt(got, 40<<20)
	f.Close()
	if !bytes.Equal(got, payload) {
		t.Errorf("clone data = %q", got)
	}
	if err := b.Clone(ctx, "img", "disk1", 128, own); err != nil {
		t.Errorf("repeating a clone: %v", err)
	}
	if err := b.Resize(ctx, "disk1", 64); !errors.Is(err, ErrShrink) {
		t.Errorf("shrink err = %v", err)
	}
	if err := b.Resize(ctx, "disk1", 256); err != nil {
		t.Fatal(err)
	}
	vols, _ := b.List(ctx)
	var names []string
	for _, v := range vols {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"disk1", "img"}) {
		t.Errorf("List = %v", names)
	}
	if err := b.Delete(ctx, "disk1", own); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "disk1", own); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if ok, _ := b.Exists(ctx, "disk1"); ok {
		t.Error("volume exists after delete")
	}
}

func TestRejectsBadNamesAndMissingSource(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	for _, n := range []string{"", "../x", "a/b", "x.tmp"} {
		if err := b.Create(ctx, n, 1, own); err == nil {
			t.Errorf("Create(%q) accepted", n)
		}
	}
	if err := b.Clone(ctx, "nope", "d", 1, own); !errors.Is(err, ErrNotFound) {
		t.Errorf("clone of missing source err = %v", err)
	}
}

func TestReflinkClonesOnBtrfs(t *testing.T) {
	ctx := context.Background()
	b, err := New(storagetest.Btrfs(t, 2), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "img", 256, own); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(b.Path("img"), os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte("x"), 64<<20), 0)
	f.Close()
	if err := b.Clone(ctx, "img", "snap", 256, own); err != nil {
		t.Fatal(err)
	}
	if n := b.FullCopies(); n != 0 {
		t.Fatalf("%d clones were full copies on btrfs", n)
	}
	// The clone is independent: writing it leaves the source as it was.
	f, _ = os.OpenFile(b.Path("snap"), os.O_WRONLY, 0)
	f.WriteAt([]byte("changed"), 0)
	f.Close()
	got := make([]byte, 7)
	f, _ = os.Open(b.Path("img"))
	f.ReadAt(got, 0)
	f.Close()
	if string(got) != "xxxxxxx" {
		t.Fatalf("source changed to %q", got)
	}
}

func TestFullCopyWhereReflinksAreRefused(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t) // t.TempDir is tmpfs or ext4 here: no reflinks
	b.Create(ctx, "img", 8, own)
	if err := b.Clone(ctx, "img", "c", 8, own); err != nil {
		t.Fatal(err)
	}
	if statfsIsReflinkCapable(b.dir) {
		t.Skip("the temp dir supports reflinks; nothing to fall back from")
	}
	if b.FullCopies() != 1 {
		t.Fatalf("full copies = %d, want 1", b.FullCopies())
	}
}

func statfsIsReflinkCapable(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	return st.Type == unix.BTRFS_SUPER_MAGIC || st.Type == unix.XFS_SUPER_MAGIC
}

// The port's suite on a reflink-capable filesystem, each subtest in a
// directory of its own on one btrfs.
func TestConformanceOnBtrfs(t *testing.T) {
	mnt := storagetest.Btrfs(t, 1)
	n := 0
	hosttest.VolumesSuite(t, func(t *testing.T) hosttest.VolumesRig {
		n++
		b, err := New(filepath.Join(mnt, fmt.Sprint(n)), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if !statfsIsReflinkCapable(b.dir) {
			t.Fatalf("%s is not on btrfs", b.dir)
		}
		return hosttest.VolumesRig{Volumes: b, Prefix: "xa-conf-"}
	})
}

func TestConformanceWithoutReflinks(t *testing.T) {
	hosttest.VolumesSuite(t, func(t *testing.T) hosttest.VolumesRig {
		return hosttest.VolumesRig{Volumes: newBackend(t), Prefix: "xa-conf-"}
	})
}

// A filesystem that refuses user xattrs cannot keep marks: New says so
// and why, instead of making volumes nothing could tell apart.
func TestRefusesAFilesystemWithoutXattrs(t *testing.T) {
	testenv.Root(t, "to mount a ramfs")
	dir := t.TempDir()
	// ramfs keeps no xattrs at all (tmpfs keeps user ones since 6.6).
	if out, err := exec.Command("mount", "-t", "ramfs", "ramfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	_, err := New(filepath.Join(dir, "disks"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, host.ErrNoMarks) || !strings.Contains(err.Error(), "user xattrs") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v", err)
	}
}

// A half-made volume carries its maker's mark: another maker neither
// overwrites it nor deletes it, and its own undo removes only it.
func TestPartialVolumesAreMarked(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	other := host.Mark{Owner: "fedcba9876543210", Op: 7}
	f, err := b.newTmp("xa-disk-3", other)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := b.Create(ctx, "xa-disk-3", 8, own); !errors.Is(err, host.ErrExists) {
		t.Fatalf("create over another's partial volume: %v", err)
	}
	vols, _ := b.List(ctx)
	if len(vols) != 1 || vols[0].Name != "xa-disk-3.tmp" || !vols[0].Partial || vols[0].Mark != other {
		t.Fatalf("List = %+v", vols)
	}
	if err := b.Delete(ctx, "xa-disk-3.tmp", host.Mark{Owner: own.Owner}); !errors.Is(err, host.ErrNotOurs) {
		t.Fatalf("deleting another's partial volume: %v", err)
	}
	if err := b.Create(ctx, "xa-disk-3", 8, other); err != nil {
		t.Fatalf("its maker's redo: %v", err)
	}
	if err := b.Create(ctx, "xa-disk-4", 8, own); err != nil {
		t.Fatal(err)
	}
	f, _ = b.newTmp("xa-disk-4", own)
	f.Close()
	if err := b.Delete(ctx, "xa-disk-4.tmp", own); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(ctx, "xa-disk-4"); !ok {
		t.Fatal("deleting the partial volume removed the whole one")
	}
}

// A crash between creating a temporary and marking it (the way without
// O_TMPFILE, or an older agent) leaves an empty unmarked "x.img.tmp": the
// redo of that name reclaims it. An unmarked temporary holding data, or
// an unmarked full volume, is still no one's to take.
func TestEmptyUnmarkedPartialReclaimed(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	put := func(p string, data []byte) {
		t.Helper()
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	put(b.Path("xa-disk-5")+".tmp", nil)
	if err := b.Create(ctx, "xa-disk-5", 8, own); err != nil {
		t.Fatalf("create over an empty unmarked partial: %v", err)
	}
	if m, err := b.MarkOf(ctx, "xa-disk-5"); err != nil || m != own {
		t.Fatalf("mark = %v, %v; want %v", m, err, own)
	}
	if _, err := os.Stat(b.Path("xa-disk-5") + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial is still there: %v", err)
	}
	put(b.Path("xa-disk-6")+".tmp", nil)
	if err := b.Clone(ctx, "xa-disk-5", "xa-disk-6", 8, own); err != nil {
		t.Fatalf("clone over an empty unmarked partial: %v", err)
	}
	put(b.Path("xa-disk-7")+".tmp", []byte("someone's data"))
	put(b.Path("xa-disk-8"), nil)
	for _, n := range []string{"xa-disk-7", "xa-disk-8"} {
		if err := b.Create(ctx, n, 8, own); !errors.Is(err, host.ErrExists) {
			t.Errorf("create %s over an unmarked one: %v", n, err)
		}
		if err := b.Clone(ctx, "xa-disk-5", n, 8, own); !errors.Is(err, host.ErrExists) {
			t.Errorf("clone to %s over an unmarked one: %v", n, err)
		}
	}
	if raw, _ := os.ReadFile(b.Path("xa-disk-7") + ".tmp"); string(raw) != "someone's data" {
		t.Errorf("the unmarked partial holds %q", raw)
	}
	if fi, err := os.Stat(b.Path("xa-disk-8")); err != nil || fi.Size() != 0 {
		t.Errorf("the unmarked volume: %v, %v", fi, err)
	}
}

// Both ways of making a temporary leave it marked when it appears.
func TestTemporaryIsMarkedAtBirth(t *testing.T) {
	b := newBackend(t)
	for name, mk := range map[string]func(string, host.Mark) (*os.File, error){"tmpfile": b.newTmp, "named": b.newTmpNamed} {
		f, err := mk("xa-disk-"+name, own)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.Close()
		if m, err := readMark(b.Path("xa-disk-"+name) + ".tmp"); err != nil || m != own {
			t.Errorf("%s: mark %v, %v", name, m, err)
		}
	}
}

// The extents suite where clones are reflinks: FIEMAP tells what a
// snapshot still shares.
func TestExtentsOnBtrfs(t *testing.T) {
	mnt := storagetest.Btrfs(t, 1)
	n := 0
	hosttest.ExtentsSuite(t, func(t *testing.T) hosttest.ExtentsRig {
		n++
		b, err := New(filepath.Join(mnt, fmt.Sprint(n)), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return hosttest.ExtentsRig{VolumesRig: hosttest.VolumesRig{Volumes: b, Prefix: "xa-conf-"}, Extents: b, Punches: true}
	})
}

// The extents suite where clones are full copies: the data is compared.
func TestExtentsWithoutReflinks(t *testing.T) {
	hosttest.ExtentsSuite(t, func(t *testing.T) hosttest.ExtentsRig {
		b := newBackend(t)
		return hosttest.ExtentsRig{VolumesRig: hosttest.VolumesRig{Volumes: b, Prefix: "xa-conf-"}, Extents: b, Punches: true}
	})
}

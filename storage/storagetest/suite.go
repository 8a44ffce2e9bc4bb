package storagetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

// Volumes is what every disk backend offers the agent.
type Volumes interface {
	Path(name string) string
	IsBlock() bool
	Exists(ctx context.Context, name string) (bool, error)
	SizeMB(ctx context.Context, name string) (int64, error)
	Create(ctx context.Context, name string, sizeMB int64, m host.Mark) error
	Clone(ctx context.Context, src, dst string, sizeMB int64, m host.Mark) error
	Resize(ctx context.Context, name string, sizeMB int64) error
	Delete(ctx context.Context, name string, m host.Mark) error
	List(ctx context.Context) ([]host.Volume, error)
	SetReadOnly(ctx context.Context, name string) error
	Rename(ctx context.Context, from, to string) error
	SetMark(ctx context.Context, name string, m host.Mark) error
}

// Marks used by the suite: this agent's operations 1 and 2, and another
// agent sharing the storage.
var (
	Own1   = host.Mark{Owner: "c0ffee00c0ffee00", Op: 1}
	Own2   = host.Mark{Owner: "c0ffee00c0ffee00", Op: 2}
	OwnAny = host.Mark{Owner: "c0ffee00c0ffee00"}
	Other  = host.Mark{Owner: "0ther0ther0ther0", Op: 1}
)

// find returns the listed volume of that name.
func find(t *testing.T, v Volumes, name string) (host.Volume, bool) {
	t.Helper()
	vols, err := v.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range vols {
		if x.Name == name {
			return x, true
		}
	}
	return host.Volume{}, false
}

// Conformance is the one suite every backend passes: the file backend
// here, the LVM thin backend in the Xen lab (its dom0 has device-mapper).
// Names are prefixed so a shared volume group is left as it was found.
func Conformance(t *testing.T, v Volumes, prefix string) {
	ctx := context.Background()
	name := func(s string) string { return prefix + s }
	var quarantined []string
	t.Cleanup(func() {
		for _, n := range []string{"src", "clone", "gone", "image", "fromimage", "theirs", "mine"} {
			v.Delete(ctx, name(n), OwnAny)
			v.Delete(ctx, name(n), host.Mark{Owner: Other.Owner})
		}
		for _, x := range quarantined {
			v.Delete(ctx, x, OwnAny)
		}
	})
	write := func(vol string, off int64, b []byte) {
		t.Helper()
		f, err := os.OpenFile(v.Path(vol), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	read := func(vol string, off int64, n int) []byte {
		t.Helper()
		f, err := os.Open(v.Path(vol))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		return b
	}
	size := func(vol string) int64 {
		t.Helper()
		s, err := v.SizeMB(ctx, vol)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("create", func(t *testing.T) {
		if err := v.Create(ctx, name("src"), 64, Own1); err != nil {
			t.Fatal(err)
		}
		if err := v.Create(ctx, name("src"), 64, Own1); err != nil {
			t.Fatalf("creating again: %v", err)
		}
		if ok, err := v.Exists(ctx, name("src")); !ok || err != nil {
			t.Fatalf("exists = %v, %v", ok, err)
		}
		if s := size(name("src")); s != 64 {
			t.Fatalf("size = %d", s)
		}
		if got, ok := find(t, v, name("src")); !ok || got.Mark != Own1 || got.SizeMB != 64 || got.Partial {
			t.Fatalf("listed %+v, %v; want 64 MB marked %v", got, ok, Own1)
		}
	})
	payload := []byte("xenagent-conformance")
	t.Run("clone keeps data, grows, is independent", func(t *testing.T) {
		write(name("src"), 40<<20, payload)
		if err := v.Clone(ctx, name("src"), name("clone"), 128, Own2); err != nil {
			t.Fatal(err)
		}
		if err := v.Clone(ctx, name("src"), name("clone"), 128, Own2); err != nil {
			t.Fatalf("cloning again: %v", err)
		}
		if s := size(name("clone")); s != 128 {
			t.Fatalf("clone size = %d", s)
		}
		// The clone carries its own maker's mark, not its source's.
		if got, _ := find(t, v, name("clone")); got.Mark != Own2 {
			t.Fatalf("clone marked %v, want %v", got.Mark, Own2)
		}
		if got := read(name("clone"), 40<<20, len(payload)); !bytes.Equal(got, payload) {
			t.Fatalf("clone data = %q", got)
		}
		write(name("clone"), 40<<20, []byte("CHANGED"))
		if got := read(name("src"), 40<<20, len(payload)); !bytes.Equal(got, payload) {
			t.Fatalf("writing the clone changed the source: %q", got)
		}
	})
	t.Run("resize grows only", func(t *testing.T) {
		if err := v.Resize(ctx, name("clone"), 192); err != nil {
			t.Fatal(err)
		}
		if s := size(name("clone")); s != 192 {
			t.Fatalf("size after grow = %d", s)
		}
		if err := v.Resize(ctx, name("clone"), 64); err == nil {
			t.Fatal("shrink accepted")
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := v.Delete(ctx, name("clone"), OwnAny); err != nil {
			t.Fatal(err)
		}
		if err := v.Delete(ctx, name("clone"), OwnAny); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
		if ok, _ := v.Exists(ctx, name("clone")); ok {
			t.Fatal("exists after delete")
		}
		if _, ok := find(t, v, name("clone")); ok {
			t.Fatal("listed after delete")
		}
	})
	t.Run("a read-only image refuses writes and still clones", func(t *testing.T) {
		if err := v.Create(ctx, name("image"), 16, Own1); err != nil {
			t.Fatal(err)
		}
		write(name("image"), 4096, []byte("golden"))
		if err := v.SetReadOnly(ctx, name("image")); err != nil {
			t.Fatal(err)
		}
		// A read-only LV refuses writers, root included; a file's mode
		// stops all but root.
		if st, err := os.Stat(v.Path(name("image"))); err != nil {
			t.Fatal(err)
		} else if !v.IsBlock() && st.Mode().Perm()&0o222 != 0 {
			t.Fatalf("image mode %v is writable", st.Mode())
		}
		if v.IsBlock() {
			// The kernel may let the device open; the write is refused.
			f, err := os.OpenFile(v.Path(name("image")), os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteAt([]byte("spoilt"), 4096)
				if err == nil {
					err = f.Sync()
				}
				f.Close()
			}
			if err == nil {
				t.Fatal("a read-only image took a write")
			}
		}
		if err := v.Clone(ctx, name("image"), name("fromimage"), 16, Own2); err != nil {
			t.Fatal(err)
		}
		write(name("fromimage"), 4096, []byte("copied"))
		if got := read(name("image"), 4096, 6); !bytes.Equal(got, []byte("golden")) {
			t.Fatalf("image holds %q", got)
		}
		for _, n := range []string{"fromimage", "image"} {
			if err := v.Delete(ctx, name(n), OwnAny); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("clone of a missing source fails", func(t *testing.T) {
		if err := v.Clone(ctx, name("nothing"), name("gone"), 8, Own2); err == nil {
			t.Fatal("accepted")
		}
		if ok, _ := v.Exists(ctx, name("gone")); ok {
			t.Fatal("a failed clone left a volume")
		}
	})
	t.Run("marks guard volumes of others", func(t *testing.T) {
		if err := v.Create(ctx, name("theirs"), 8, Other); err != nil {
			t.Fatal(err)
		}
		write(name("theirs"), 4096, payload)
		// Creating, cloning onto or deleting another maker's volume is
		// refused and leaves it whole.
		if err := v.Create(ctx, name("theirs"), 8, Own1); !errors.Is(err, host.ErrExists) {
			t.Fatalf("create over another's volume: %v", err)
		}
		if err := v.Create(ctx, name("theirs"), 16, Own1); !errors.Is(err, host.ErrExists) {
			t.Fatalf("create over another's volume, other size: %v", err)
		}
		if err := v.Clone(ctx, name("src"), name("theirs"), 8, Own1); !errors.Is(err, host.ErrExists) {
			t.Fatalf("clone onto another's volume: %v", err)
		}
		if err := v.Delete(ctx, name("theirs"), OwnAny); !errors.Is(err, host.ErrNotOurs) {
			t.Fatalf("deleting another's volume: %v", err)
		}
		// An operation's undo deletes only what that operation made.
		if err := v.Delete(ctx, name("src"), Own2); !errors.Is(err, host.ErrNotOurs) {
			t.Fatalf("deleting another operation's volume: %v", err)
		}
		if got := read(name("theirs"), 4096, len(payload)); !bytes.Equal(got, payload) || size(name("theirs")) != 8 {
			t.Fatalf("another's volume changed: %q, %d MB", got, size(name("theirs")))
		}
		if got, _ := find(t, v, name("theirs")); got.Mark != Other {
			t.Fatalf("listed %v, want %v", got.Mark, Other)
		}
	})
	t.Run("rename keeps data and mark, never replaces", func(t *testing.T) {
		q := host.Quarantined(name("mine"), time.Now())
		quarantined = append(quarantined, q)
		if err := v.Create(ctx, name("mine"), 8, Own1); err != nil {
			t.Fatal(err)
		}
		write(name("mine"), 0, payload)
		if err := v.Rename(ctx, name("mine"), name("theirs")); !errors.Is(err, host.ErrExists) {
			t.Fatalf("rename onto an existing volume: %v", err)
		}
		if err := v.Rename(ctx, name("mine"), q); err != nil {
			t.Fatal(err)
		}
		if ok, _ := v.Exists(ctx, name("mine")); ok {
			t.Fatal("the old name survived the rename")
		}
		got, ok := find(t, v, q)
		if !ok || got.Mark != Own1 || got.SizeMB != 8 {
			t.Fatalf("renamed volume listed %+v, %v", got, ok)
		}
		if b := read(q, 0, len(payload)); !bytes.Equal(b, payload) {
			t.Fatalf("renamed volume holds %q", b)
		}
		// Re-marking (adoption) makes another's volume this agent's.
		if err := v.SetMark(ctx, name("theirs"), host.Mark{Owner: Own1.Owner}); err != nil {
			t.Fatal(err)
		}
		if got, _ := find(t, v, name("theirs")); got.Mark != (host.Mark{Owner: Own1.Owner}) {
			t.Fatalf("re-marked volume listed %v", got.Mark)
		}
		for _, n := range []string{q, name("theirs")} {
			if err := v.Delete(ctx, n, OwnAny); err != nil {
				t.Fatal(err)
			}
		}
	})
}

package storagetest

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"
)

// Volumes is what every disk backend offers the agent.
type Volumes interface {
	Path(name string) string
	IsBlock() bool
	Exists(ctx context.Context, name string) (bool, error)
	SizeMB(ctx context.Context, name string) (int64, error)
	Create(ctx context.Context, name string, sizeMB int64) error
	Clone(ctx context.Context, src, dst string, sizeMB int64) error
	Resize(ctx context.Context, name string, sizeMB int64) error
	Delete(ctx context.Context, name string) error
	List(ctx context.Context) ([]string, error)
	SetReadOnly(ctx context.Context, name string) error
}

// Conformance is the one suite every backend passes: the file backend
// here, the LVM thin backend in the Xen lab (its dom0 has device-mapper).
// Names are prefixed so a shared volume group is left as it was found.
func Conformance(t *testing.T, v Volumes, prefix string) {
	ctx := context.Background()
	name := func(s string) string { return prefix + s }
	t.Cleanup(func() {
		for _, n := range []string{"src", "clone", "gone", "image", "fromimage"} {
			v.Delete(ctx, name(n))
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
		if err := v.Create(ctx, name("src"), 64); err != nil {
			t.Fatal(err)
		}
		if err := v.Create(ctx, name("src"), 64); err != nil {
			t.Fatalf("creating again: %v", err)
		}
		if ok, err := v.Exists(ctx, name("src")); !ok || err != nil {
			t.Fatalf("exists = %v, %v", ok, err)
		}
		if s := size(name("src")); s != 64 {
			t.Fatalf("size = %d", s)
		}
		names, _ := v.List(ctx)
		if !slices.Contains(names, name("src")) {
			t.Fatalf("List = %v", names)
		}
	})
	payload := []byte("xenagent-conformance")
	t.Run("clone keeps data, grows, is independent", func(t *testing.T) {
		write(name("src"), 40<<20, payload)
		if err := v.Clone(ctx, name("src"), name("clone"), 128); err != nil {
			t.Fatal(err)
		}
		if err := v.Clone(ctx, name("src"), name("clone"), 128); err != nil {
			t.Fatalf("cloning again: %v", err)
		}
		if s := size(name("clone")); s != 128 {
			t.Fatalf("clone size = %d", s)
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
		if err := v.Delete(ctx, name("clone")); err != nil {
			t.Fatal(err)
		}
		if err := v.Delete(ctx, name("clone")); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
		if ok, _ := v.Exists(ctx, name("clone")); ok {
			t.Fatal("exists after delete")
		}
		if names, _ := v.List(ctx); slices.Contains(names, name("clone")) {
			t.Fatalf("listed after delete: %v", names)
		}
	})
	t.Run("a read-only image refuses writes and still clones", func(t *testing.T) {
		if err := v.Create(ctx, name("image"), 16); err != nil {
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
		if err := v.Clone(ctx, name("image"), name("fromimage"), 16); err != nil {
			t.Fatal(err)
		}
		write(name("fromimage"), 4096, []byte("copied"))
		if got := read(name("image"), 4096, 6); !bytes.Equal(got, []byte("golden")) {
			t.Fatalf("image holds %q", got)
		}
		for _, n := range []string{"fromimage", "image"} {
			if err := v.Delete(ctx, name(n)); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("clone of a missing source fails", func(t *testing.T) {
		if err := v.Clone(ctx, name("nothing"), name("gone"), 8); err == nil {
			t.Fatal("accepted")
		}
		if ok, _ := v.Exists(ctx, name("gone")); ok {
			t.Fatal("a failed clone left a volume")
		}
	})
}

package hosttest

import (
	"context"
	"os"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

// VolumesRig is a Volumes under test and the suite's view beyond the port.
type VolumesRig struct {
	Volumes host.Volumes
	// Prefix starts the name of every volume the suite makes, so that a
	// shared volume group is left as it was found.
	Prefix string
	// Data reaches the volumes' contents; nil is PathData(Volumes).
	Data VolumeData
}

// VolumeData reads and writes volumes as a guest would.
type VolumeData interface {
	WriteAt(name string, off int64, b []byte) error
	ReadAt(name string, off int64, n int) ([]byte, error)
	// RefusesWrites reports whether the volume keeps writers out as its
	// backend promises for images.
	RefusesWrites(name string) (bool, error)
}

// Marks the suite uses: this agent's operations 1 and 2, the agent
// itself (no operation), and another agent sharing the storage.
var (
	Own1   = host.Mark{Owner: "c0ffee00c0ffee00", Op: 1}
	Own2   = host.Mark{Owner: "c0ffee00c0ffee00", Op: 2}
	OwnAny = host.Mark{Owner: "c0ffee00c0ffee00"}
	Other  = host.Mark{Owner: "0ther0ther0ther0", Op: 1}
)

// VolumesSuite checks a Volumes against the port's contract.
func VolumesSuite(t *testing.T, newRig func(t *testing.T) VolumesRig) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, r *volRig)
	}{
		{"create marks the volume, again is done", volCreate},
		{"clone keeps data, grows, carries its maker's mark, is independent", volClone},
		{"resize grows only", volResize},
		{"delete, twice is done", volDelete},
		{"a read-only image refuses writes and still clones", volReadOnly},
		{"clone of a missing source fails and leaves nothing", volCloneMissing},
		{"marks guard the volumes of others", volMarks},
		{"invalid marks are refused", volInvalidMarks},
		{"rename keeps data and mark, never replaces", volRename},
		{"calls on a missing volume", volMissing},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newVolRig(t, newRig(t))) })
	}
}

// volRig is a rig and the suite's helpers over it; every name it hands
// out is deleted when the test ends.
type volRig struct {
	t    *testing.T
	v    host.Volumes
	data VolumeData
	pre  string
	ctx  context.Context
}

func newVolRig(t *testing.T, r VolumesRig) *volRig {
	if r.Data == nil {
		r.Data = PathData(r.Volumes)
	}
	return &volRig{t: t, v: r.Volumes, data: r.Data, pre: r.Prefix, ctx: context.Background()}
}

// name is the suite's volume s, cleaned up at the end whoever made it.
func (r *volRig) name(s string) string {
	n := r.pre + s
	r.cleanup(n)
	return n
}

func (r *volRig) cleanup(n string) {
	r.t.Cleanup(func() {
		for _, m := range []host.Mark{OwnAny, {Owner: Other.Owner}} {
			r.v.Delete(context.Background(), n, m)
		}
	})
}

func (r *volRig) create(name string, sizeMB int64, m host.Mark) {
	r.t.Helper()
	if err := r.v.Create(r.ctx, name, sizeMB, m); err != nil {
		r.t.Fatalf("creating %s: %v", name, err)
	}
}

func (r *volRig) write(name string, off int64, b []byte) {
	r.t.Helper()
	if err := r.data.WriteAt(name, off, b); err != nil {
		r.t.Fatalf("writing %s: %v", name, err)
	}
}

func (r *volRig) read(name string, off int64, n int) []byte {
	r.t.Helper()
	b, err := r.data.ReadAt(name, off, n)
	if err != nil {
		r.t.Fatalf("reading %s: %v", name, err)
	}
	return b
}

// find returns the listed volume of that name.
func (r *volRig) find(name string) (host.Volume, bool) {
	r.t.Helper()
	vols, err := r.v.List(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, x := range vols {
		if x.Name == name {
			return x, true
		}
	}
	return host.Volume{}, false
}

// listed fails unless name is listed whole with that size and mark.
func (r *volRig) listed(name string, sizeMB int64, m host.Mark) {
	r.t.Helper()
	got, ok := r.find(name)
	if !ok || got.SizeMB != sizeMB || got.Mark != m || got.Partial {
		r.t.Fatalf("%s listed %+v, %v; want %d MB marked %v", name, got, ok, sizeMB, m)
	}
}

func (r *volRig) exists(name string) bool {
	r.t.Helper()
	ok, err := r.v.Exists(r.ctx, name)
	if err != nil {
		r.t.Fatal(err)
	}
	return ok
}

// PathData reaches volumes through their paths: files, or block devices
// as root. A file image refuses writers by its mode (root is not stopped
// by it; the agent never opens an image for writing), a block image by
// the device refusing the write.
func PathData(v host.Volumes) VolumeData { return pathData{v} }

type pathData struct{ v host.Volumes }

func (p pathData) WriteAt(name string, off int64, b []byte) error {
	f, err := os.OpenFile(p.v.Path(name), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return f.Sync()
}

func (p pathData) ReadAt(name string, off int64, n int) ([]byte, error) {
	f, err := os.Open(p.v.Path(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	_, err = f.ReadAt(b, off)
	return b, err
}

func (p pathData) RefusesWrites(name string) (bool, error) {
	if !p.v.IsBlock() {
		st, err := os.Stat(p.v.Path(name))
		return err == nil && st.Mode().Perm()&0o222 == 0, err
	}
	// The kernel may let the device open; the write is refused.
	return p.WriteAt(name, 4096, []byte("spoilt")) != nil, nil
}

package hosttest

import (
	"bytes"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

// ExtentsRig is an Extents under test, the Volumes it maps, and the
// suite's view beyond the ports.
type ExtentsRig struct {
	VolumesRig
	Extents host.Extents
	// Grain is how far past what was written an answer may reach (a
	// filesystem block, a thin pool chunk, the unit data is compared in);
	// 0 is 64 KiB.
	Grain int64
	// Punches: zeroing whole grains frees them (a file's holes), rather
	// than writing zeros.
	Punches bool
}

// ExtentsSuite checks an Extents against the port's contract: answers
// in normal form that cover every byte written and little more, and a
// base brought up to date with name's data on the changed ranges equals
// name.
func ExtentsSuite(t *testing.T, newRig func(t *testing.T) ExtentsRig) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, r *extRig)
	}{
		{"a new volume holds nothing", extEmpty},
		{"what is written through the path is allocated, little else", extWritten},
		{"a snapshot not written since has no changes", extUnchanged},
		{"writes since a snapshot are the changes", extChanged},
		{"a volume grown and written past its snapshot's end", extGrown},
		{"changes between two unrelated volumes", extUnrelated},
		{"a writer writes within the volume and zeros ranges", extWriter},
		{"calls on a missing volume fail", extMissing},
	} {
		t.Run(c.name, func(t *testing.T) {
			rig := newRig(t)
			r := &extRig{volRig: newVolRig(t, rig.VolumesRig), x: rig.Extents, grain: rig.Grain, punches: rig.Punches}
			if r.grain == 0 {
				r.grain = 64 << 10
			}
			c.fn(t, r)
		})
	}
}

type extRig struct {
	*volRig
	x       host.Extents
	grain   int64
	punches bool
}

const extMB = 32

// fill writes a recognisable pattern of n bytes at off, different for
// each seed, and returns the extent written.
func (r *extRig) fill(name string, off int64, n int, seed byte) host.Extent {
	r.t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>8) ^ seed<<1 | 1 // never zero: a written byte shows
	}
	r.write(name, off, b)
	return host.Extent{Off: off, Len: int64(n)}
}

func (r *extRig) allocated(name string) []host.Extent {
	r.t.Helper()
	got, err := r.x.Allocated(r.ctx, name)
	if err != nil {
		r.t.Fatalf("Allocated %s: %v", name, err)
	}
	r.normal(got, name)
	return got
}

func (r *extRig) changed(base, name string) []host.Extent {
	r.t.Helper()
	got, err := r.x.Changed(r.ctx, base, name)
	if err != nil {
		r.t.Fatalf("Changed %s since %s: %v", name, base, err)
	}
	r.normal(got, name)
	return got
}

// normal fails unless xs is in the form the port promises within name.
func (r *extRig) normal(xs []host.Extent, name string) {
	r.t.Helper()
	v, ok := r.find(name)
	if !ok {
		r.t.Fatalf("%s not listed", name)
	}
	if err := host.CheckExtents(xs, v.SizeMB<<20); err != nil {
		r.t.Fatalf("%s: %v (%v)", name, err, xs)
	}
}

// bounded fails unless got covers every byte of want and reaches no
// further than want rounded out to the grain.
func (r *extRig) bounded(got, want []host.Extent) { r.t.Helper(); r.between(got, want, want) }

// between fails unless got covers every byte of must and reaches no
// further than may rounded out to the grain.
func (r *extRig) between(got, must, may []host.Extent) {
	r.t.Helper()
	for _, w := range must {
		if !covered(got, w) {
			r.t.Fatalf("%v written, not in the answer %v", w, got)
		}
	}
	want := host.NormalizeExtents(append([]host.Extent(nil), may...))
	var loose []host.Extent
	for _, w := range want {
		off := w.Off / r.grain * r.grain
		loose = append(loose, host.Extent{Off: off, Len: (w.End()+r.grain-1)/r.grain*r.grain - off})
	}
	loose = host.NormalizeExtents(loose)
	for _, g := range got {
		if !covered(loose, g) {
			r.t.Fatalf("the answer %v says %v, beyond what was written %v (grain %d)", got, g, want, r.grain)
		}
	}
}

// covered reports whether e lies within the normalized xs.
func covered(xs []host.Extent, e host.Extent) bool {
	for _, x := range xs {
		if x.Off <= e.Off && e.End() <= x.End() {
			return true
		}
	}
	return false
}

// sameOutside fails unless name reads as base (zeros past base's end)
// everywhere outside the changed ranges: the port's promise that base
// brought up to date on them is name.
func (r *extRig) sameOutside(base, name string, changed []host.Extent) {
	r.t.Helper()
	vb, _ := r.find(base)
	vn, _ := r.find(name)
	const step = 1 << 20
	for off := int64(0); off < vn.SizeMB<<20; off += step {
		n := r.read(name, off, step)
		b := make([]byte, step)
		if off < vb.SizeMB<<20 {
			b = r.read(base, off, step)
		}
		for i := 0; i < step; {
			if bytes.Equal(n[i:], b[i:]) {
				break
			}
			for n[i] == b[i] {
				i++
			}
			at := off + int64(i)
			c, ok := covering(changed, at)
			if !ok {
				r.t.Fatalf("%s differs from %s at %d, outside the changes %v", name, base, at, changed)
			}
			i = int(min(c.End()-off, step))
		}
	}
}

// covering returns the extent of the normalized xs holding byte at.
func covering(xs []host.Extent, at int64) (host.Extent, bool) {
	for _, x := range xs {
		if x.Off <= at && at < x.End() {
			return x, true
		}
	}
	return host.Extent{}, false
}

func extEmpty(t *testing.T, r *extRig) {
	vol := r.name("empty")
	r.create(vol, extMB, Own1)
	if got := r.allocated(vol); len(got) != 0 {
		t.Fatalf("a new volume holds %v", got)
	}
}

// A receiver writes only what it is sent into a volume it made: the rest
// stays unallocated.
func extWritten(t *testing.T, r *extRig) {
	vol := r.name("written")
	r.create(vol, extMB, Own1)
	written := []host.Extent{
		r.fill(vol, 0, 4096, 1),
		r.fill(vol, 5<<20+100, 20, 2),
		r.fill(vol, 17<<20, 1<<20, 3),
		r.fill(vol, extMB<<20-10, 10, 4),
	}
	r.bounded(r.allocated(vol), written)
	if b := r.read(vol, 17<<20, 4); bytes.Equal(b, make([]byte, 4)) {
		t.Fatal("the data written is not there")
	}
}

func extUnchanged(t *testing.T, r *extRig) {
	vol, snap := r.name("disk"), r.name("snap")
	r.create(vol, extMB, Own1)
	r.fill(vol, 1<<20, 3<<20, 1)
	r.fill(vol, 20<<20, 4096, 2)
	if err := r.v.Clone(r.ctx, vol, snap, extMB, Own2); err != nil {
		t.Fatal(err)
	}
	if got := r.changed(snap, vol); len(got) != 0 {
		t.Fatalf("nothing was written since the snapshot; changes %v", got)
	}
	r.bounded(r.allocated(snap), []host.Extent{{Off: 1 << 20, Len: 3 << 20}, {Off: 20 << 20, Len: 4096}})
}

func extChanged(t *testing.T, r *extRig) {
	vol, snap := r.name("disk"), r.name("snap")
	r.create(vol, extMB, Own1)
	r.fill(vol, 1<<20, 3<<20, 1)
	r.fill(vol, 20<<20, 4096, 2)
	if err := r.v.Clone(r.ctx, vol, snap, extMB, Own2); err != nil {
		t.Fatal(err)
	}
	since := []host.Extent{
		r.fill(vol, 2<<20+4096, 8192, 5), // inside data the snapshot holds
		r.fill(vol, 9<<20, 100, 6),       // where it holds nothing
		r.fill(vol, 20<<20, 4096, 7),     // all of a block it holds
	}
	got := r.changed(snap, vol)
	r.bounded(got, since)
	r.sameOutside(snap, vol, got)
	// The snapshot is a base: the other way round, the same ranges.
	r.bounded(r.changed(vol, snap), since)
}

func extGrown(t *testing.T, r *extRig) {
	vol, snap := r.name("disk"), r.name("snap")
	r.create(vol, extMB, Own1)
	r.fill(vol, 0, 4096, 1)
	if err := r.v.Clone(r.ctx, vol, snap, extMB, Own2); err != nil {
		t.Fatal(err)
	}
	if err := r.v.Resize(r.ctx, vol, 2*extMB); err != nil {
		t.Fatal(err)
	}
	since := []host.Extent{r.fill(vol, extMB<<20+(3<<20), 4096, 2), r.fill(vol, 2*extMB<<20-4096, 4096, 3)}
	got := r.changed(snap, vol)
	r.bounded(got, since)
	r.sameOutside(snap, vol, got)
}

// Changed holds for any two volumes, if not as cheaply: data written
// alike in both is allowed either way; the rest is found.
func extUnrelated(t *testing.T, r *extRig) {
	a, b := r.name("a"), r.name("b")
	r.create(a, extMB, Own1)
	r.create(b, extMB, Own1)
	r.fill(a, 1<<20, 4096, 1)
	r.fill(b, 1<<20, 4096, 1)
	differ := []host.Extent{r.fill(a, 6<<20, 4096, 2), r.fill(b, 6<<20, 4096, 3), r.fill(b, 12<<20, 50, 4)}
	got := r.changed(a, b)
	for _, d := range differ {
		if !covered(got, d) {
			t.Fatalf("%v differs, not in %v", d, got)
		}
	}
	r.sameOutside(a, b, got)
}

func extMissing(t *testing.T, r *extRig) {
	vol, gone := r.name("there"), r.name("nothing")
	r.create(vol, 8, Own1)
	for _, c := range []struct {
		what string
		call func() error
	}{
		{"allocated", func() error { _, err := r.x.Allocated(r.ctx, gone); return err }},
		{"changed since a missing base", func() error { _, err := r.x.Changed(r.ctx, gone, vol); return err }},
		{"changed of a missing volume", func() error { _, err := r.x.Changed(r.ctx, vol, gone); return err }},
		{"writer", func() error { _, err := r.x.Writer(r.ctx, gone); return err }},
	} {
		if err := c.call(); err == nil {
			t.Errorf("%s: accepted", c.what)
		}
	}
	if r.exists(gone) {
		t.Fatalf("%s appeared", gone)
	}
}

// A receiver writes what it is sent and zeros what must read as zeros,
// never past the volume's end.
func extWriter(t *testing.T, r *extRig) {
	vol := r.name("received")
	r.create(vol, extMB, Own1)
	w, err := r.x.Writer(r.ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7+i>>8) ^ seed<<1 | 1
		}
		return b
	}
	writes := []struct {
		off  int64
		data []byte
	}{{0, pattern(1<<20, 1)}, {8 << 20, pattern(4096, 2)}, {20<<20 + 100, pattern(50, 3)}}
	var written []host.Extent
	for _, x := range writes {
		if n, err := w.WriteAt(x.data, x.off); err != nil || n != len(x.data) {
			t.Fatalf("writing %d bytes at %d: %d, %v", len(x.data), x.off, n, err)
		}
		written = append(written, host.Extent{Off: x.off, Len: int64(len(x.data))})
	}
	zeroed := []host.Extent{{Off: 256 << 10, Len: 512 << 10}, {Off: 20<<20 + 110, Len: 10}}
	for _, z := range zeroed {
		if err := w.ZeroAt(z.Off, z.Len); err != nil {
			t.Fatalf("zeroing %v: %v", z, err)
		}
	}
	end := int64(extMB << 20)
	if _, err := w.WriteAt(make([]byte, 20), end-10); err == nil {
		t.Error("a write past the end was accepted")
	}
	if err := w.ZeroAt(end-10, 20); err == nil {
		t.Error("zeroing past the end was accepted")
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off  int64
		want []byte
	}{
		{0, writes[0].data[:256<<10]},
		{256 << 10, make([]byte, 512<<10)},
		{768 << 10, writes[0].data[768<<10:]},
		{8 << 20, writes[1].data},
		{20<<20 + 100, writes[2].data[:10]},
		{20<<20 + 110, make([]byte, 10)},
		{20<<20 + 120, writes[2].data[20:]},
		{end - 4096, make([]byte, 4096)},
	} {
		if got := r.read(vol, c.off, len(c.want)); !bytes.Equal(got, c.want) {
			t.Fatalf("at %d: not what was written and zeroed", c.off)
		}
	}
	if v, _ := r.find(vol); v.SizeMB != extMB {
		t.Fatalf("the volume is %d MB after writing, want %d", v.SizeMB, extMB)
	}
	got := r.allocated(vol)
	data := []host.Extent{{Off: 0, Len: 256 << 10}, {Off: 768 << 10, Len: 256 << 10}, {Off: 8 << 20, Len: 4096},
		{Off: 20<<20 + 100, Len: 10}, {Off: 20<<20 + 120, Len: 30}}
	r.between(got, data, written)
	if r.punches {
		for off := zeroed[0].Off; off < zeroed[0].End(); off += r.grain {
			if covered(got, host.Extent{Off: off, Len: r.grain}) {
				t.Fatalf("zeroed %v still allocated: %v", zeroed[0], got)
			}
		}
	}
}

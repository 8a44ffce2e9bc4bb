package file

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/storage/storagetest"
)

func ext(off, n int64) host.Extent { return host.Extent{Off: off, Len: n} }

func TestDiffMaps(t *testing.T) {
	at := func(off, end, delta int64) mapped { return mapped{off: off, end: end, delta: delta, placed: true} }
	vague := func(off, end int64) mapped { return mapped{off: off, end: end} }
	for _, c := range []struct {
		name                   string
		a, b                   []mapped
		changed, moved, unsure []host.Extent
		shared                 bool
	}{
		{name: "both empty"},
		{name: "data on one side only", a: []mapped{at(0, 10, 5)}, b: []mapped{at(20, 30, 5)},
			changed: []host.Extent{ext(0, 10), ext(20, 10)}},
		{name: "shared", a: []mapped{at(0, 10, 5)}, b: []mapped{at(0, 10, 5)}, shared: true},
		{name: "rewritten inside a shared extent", a: []mapped{at(0, 30, 5)}, b: []mapped{at(0, 10, 5), at(10, 20, 99), at(20, 30, 5)},
			moved: []host.Extent{ext(10, 10)}, shared: true},
		{name: "not placed", a: []mapped{vague(0, 10)}, b: []mapped{at(0, 10, 5)}, unsure: []host.Extent{ext(0, 10)}},
		{name: "overlapping differently", a: []mapped{at(0, 10, 1), at(15, 25, 1)}, b: []mapped{at(5, 20, 1)},
			changed: []host.Extent{ext(0, 5), ext(10, 5), ext(20, 5)}, shared: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := diffMaps(c.a, c.b)
			norm := func(xs []host.Extent) []host.Extent { return host.NormalizeExtents(xs) }
			if !slices.Equal(norm(d.changed), norm(c.changed)) || !slices.Equal(norm(d.moved), norm(c.moved)) ||
				!slices.Equal(norm(d.unsure), norm(c.unsure)) || d.shared != c.shared {
				t.Fatalf("got %+v, want changed %v moved %v unsure %v shared %v", d, c.changed, c.moved, c.unsure, c.shared)
			}
		})
	}
}

// On a reflink filesystem a snapshot's unchanged data is known to be the
// same from the extent maps alone: nothing is left to read and compare.
// Without reflinks the same question is answered by reading.
func TestChangedFromTheMaps(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		dir    func(t *testing.T) string
		shared bool
	}{
		{"btrfs", func(t *testing.T) string { return filepath.Join(storagetest.Btrfs(t, 1), "v") }, true},
		{"no reflinks", func(t *testing.T) string { return t.TempDir() }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := New(c.dir(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Create(ctx, "disk", 16, own); err != nil {
				t.Fatal(err)
			}
			writeAt(t, b.Path("disk"), 0, 4<<20, 1)
			if err := b.Clone(ctx, "disk", "snap", 16, own); err != nil {
				t.Fatal(err)
			}
			writeAt(t, b.Path("disk"), 1<<20, 4096, 2)
			d := mapsOf(t, b, "snap", "disk")
			if d.shared != c.shared {
				t.Fatalf("shared = %v, want %v (%+v)", d.shared, c.shared, d)
			}
			if len(d.unsure) != 0 || len(d.changed) != 0 {
				t.Fatalf("%+v: the maps should place all the data", d)
			}
			if c.shared && host.ExtentBytes(d.moved) > 64<<10 {
				t.Fatalf("moved %v: more than the block written", d.moved)
			}
			got, err := b.Changed(ctx, "snap", "disk")
			if err != nil {
				t.Fatal(err)
			}
			if want := (host.Extent{Off: 1 << 20, Len: 64 << 10}); len(got) != 1 || got[0].Off > want.Off || got[0].End() < 1<<20+4096 || got[0].Len > want.Len {
				t.Fatalf("Changed = %v, want within %v", got, want)
			}
		})
	}
}

func writeAt(t *testing.T, path string, off int64, n int, seed byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ seed | 0x80
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func mapsOf(t *testing.T, b *Backend, names ...string) diff {
	t.Helper()
	var ms [][]mapped
	for _, n := range names {
		f, size, err := b.open(n)
		if err != nil {
			t.Fatal(err)
		}
		m, err := fiemap(f, size)
		f.Close()
		if err != nil {
			t.Fatal(fmt.Errorf("%s: %w", n, err))
		}
		ms = append(ms, m)
	}
	return diffMaps(ms[0], ms[1])
}

// A file of more extents than one FIEMAP call returns is mapped whole,
// and as SEEK_DATA maps it.
func TestFiemapPages(t *testing.T) {
	b := newBackend(t)
	if err := b.Create(context.Background(), "many", 8, own); err != nil {
		t.Fatal(err)
	}
	const n = 3*fiemapBatch + 7
	w, err := os.OpenFile(b.Path("many"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	block := bytes.Repeat([]byte{0xa5}, 4096)
	for i := range n {
		if _, err := w.WriteAt(block, int64(i)*2*4096); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, size, err := b.open("many")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fm, err := fiemap(f, size)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := seekData(f, size)
	if err != nil {
		t.Fatal(err)
	}
	flat := func(ms []mapped) []host.Extent {
		var out []host.Extent
		for _, m := range ms {
			out = append(out, ext(m.off, m.end-m.off))
		}
		return host.NormalizeExtents(out)
	}
	if got, want := flat(fm), flat(sd); len(got) != n || !slices.Equal(got, want) {
		t.Fatalf("FIEMAP maps %d extents, SEEK_DATA %d, want %d", len(got), len(want), n)
	}
}

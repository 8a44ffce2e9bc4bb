package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/storage/volwrite"
)

var _ host.Extents = (*Backend)(nil)

// compareGrain is the unit in which Changed compares data where the
// extent maps cannot tell: small enough that a few changed blocks do not
// make a large range, large enough that reads stay sequential.
const compareGrain = 64 << 10

// open opens a volume for reading with its size.
func (b *Backend) open(name string) (*os.File, int64, error) {
	if err := validName(name); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(b.Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// Allocated returns the ranges of a volume holding data, by SEEK_DATA
// and SEEK_HOLE: the filesystem's own map, at its block size.
func (b *Backend) Allocated(ctx context.Context, name string) ([]host.Extent, error) {
	f, size, err := b.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ms, err := seekData(f, size)
	if err != nil {
		return nil, fmt.Errorf("mapping volume %s: %w", name, err)
	}
	out := make([]host.Extent, 0, len(ms))
	for _, m := range ms {
		out = append(out, host.Extent{Off: m.off, Len: m.end - m.off})
	}
	return host.NormalizeExtents(out), nil
}

// Changed returns the ranges where name may differ from base. Where both
// map a range to the same physical bytes (base a reflink clone of name,
// that range not written since) they are the same without reading; where
// only one holds data they differ; where both hold data elsewhere on the
// device they differ if the two share anything at all (reflinks work:
// what was not rewritten is still shared); otherwise (a clone that was a
// full copy, extents FIEMAP cannot place, a filesystem without FIEMAP)
// the data is read and compared, compareGrain at a time.
func (b *Backend) Changed(ctx context.Context, base, name string) ([]host.Extent, error) {
	fb, sb, err := b.open(base)
	if err != nil {
		return nil, err
	}
	defer fb.Close()
	fn, sn, err := b.open(name)
	if err != nil {
		return nil, err
	}
	defer fn.Close()
	mb, err := maps(fb, sb)
	if err != nil {
		return nil, fmt.Errorf("mapping volume %s: %w", base, err)
	}
	mn, err := maps(fn, sn)
	if err != nil {
		return nil, fmt.Errorf("mapping volume %s: %w", name, err)
	}
	d := diffMaps(mb, mn)
	changed := d.changed
	if d.shared {
		changed = append(changed, d.moved...)
	} else {
		d.unsure = append(d.unsure, d.moved...)
	}
	// Only name's bytes matter: nothing past its end is compared.
	differ, err := compare(ctx, fb, fn, host.NormalizeExtents(d.unsure), sn)
	if err != nil {
		return nil, fmt.Errorf("comparing volume %s with %s: %w", name, base, err)
	}
	return host.ClipExtents(host.NormalizeExtents(append(changed, differ...)), sn), nil
}

// maps is FIEMAP's answer, or SEEK_DATA's (nothing placed) where the
// filesystem has no FIEMAP.
func maps(f *os.File, size int64) ([]mapped, error) {
	ms, err := fiemap(f, size)
	if errors.Is(err, errNoFiemap) {
		return seekData(f, size)
	}
	return ms, err
}

// diff is the ranges of two maps by what they say: changed (data on one
// side only), moved (data on both, placed apart), unsure (data on both,
// not placed); shared says some data is placed at the same bytes.
type diff struct {
	changed, moved, unsure []host.Extent
	shared                 bool
}

// diffMaps walks two sorted maps together, range by range between the
// boundaries of either.
func diffMaps(a, b []mapped) diff {
	var d diff
	var pos int64
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Skip what lies behind pos.
		for i < len(a) && a[i].end <= pos {
			i++
		}
		for j < len(b) && b[j].end <= pos {
			j++
		}
		var x, y *mapped
		next := int64(1<<63 - 1)
		if i < len(a) {
			if a[i].off <= pos {
				x, next = &a[i], min(next, a[i].end)
			} else {
				next = min(next, a[i].off)
			}
		}
		if j < len(b) {
			if b[j].off <= pos {
				y, next = &b[j], min(next, b[j].end)
			} else {
				next = min(next, b[j].off)
			}
		}
		if next == 1<<63-1 {
			break
		}
		e := host.Extent{Off: pos, Len: next - pos}
		switch {
		case x == nil && y == nil:
		case x == nil || y == nil:
			d.changed = append(d.changed, e)
		case !x.placed || !y.placed:
			d.unsure = append(d.unsure, e)
		case x.delta == y.delta:
			d.shared = true
		default:
			d.moved = append(d.moved, e)
		}
		pos = next
	}
	return d
}

// compare reads a and b over the ranges (a file shorter than the range
// reads as zeros past its end) and returns the compareGrain-aligned
// pieces where they differ.
func compare(ctx context.Context, a, b *os.File, ranges []host.Extent, size int64) ([]host.Extent, error) {
	var out []host.Extent
	ba, bb := make([]byte, compareGrain), make([]byte, compareGrain)
	for _, r := range ranges {
		for off := r.Off / compareGrain * compareGrain; off < r.End() && off < size; off += compareGrain {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			n := int(min(compareGrain, size-off))
			if err := readFull(a, ba[:n], off); err != nil {
				return nil, err
			}
			if err := readFull(b, bb[:n], off); err != nil {
				return nil, err
			}
			if !bytes.Equal(ba[:n], bb[:n]) {
				out = append(out, host.Extent{Off: off, Len: int64(n)})
			}
		}
	}
	return out, nil
}

// readFull reads len(p) bytes at off, zeros past the end of the file.
func readFull(f *os.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if errors.Is(err, io.EOF) {
		clear(p[n:])
		return nil
	}
	return err
}

// Writer opens a volume to receive its data: writes stay within it,
// zeroed ranges become holes.
func (b *Backend) Writer(ctx context.Context, name string) (host.VolumeWriter, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	w, err := volwrite.Open(b.Path(name), false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening volume %s: %w", name, err)
	}
	return w, nil
}

package hostfake

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/xenagent/xenagent/agent/host"
)

var _ host.Extents = (*Volumes)(nil)

// Allocated returns the pages written, as a file backend on a 4 KiB
// block filesystem would.
func (v *Volumes) Allocated(ctx context.Context, name string) ([]host.Extent, error) {
	var out []host.Extent
	err := v.lock(ctx, "Allocated", name, func() error {
		x, ok := v.vols[name]
		if !ok {
			return fmt.Errorf("mapping %s: %w", name, ErrNoVolume)
		}
		out = pagesOf(x, func(int64) bool { return true })
		return nil
	})
	return out, err
}

// Changed returns the pages where name's data differs from base's, as a
// backend that compares data would: a page written with what it held is
// not a change.
func (v *Volumes) Changed(ctx context.Context, base, name string) ([]host.Extent, error) {
	var out []host.Extent
	err := v.lock(ctx, "Changed", name, func() error {
		b, ok := v.vols[base]
		if !ok {
			return fmt.Errorf("mapping %s: %w", base, ErrNoVolume)
		}
		x, ok := v.vols[name]
		if !ok {
			return fmt.Errorf("mapping %s: %w", name, ErrNoVolume)
		}
		zero := make([]byte, page)
		pageOr := func(y *volume, n int64) []byte {
			if p := y.pages[n]; p != nil && n < y.sizeMB<<20/page {
				return p
			}
			return zero
		}
		// Pages base holds that name does not are changes too (name reads
		// zeros there): walk the union.
		union := &volume{sizeMB: x.sizeMB, pages: map[int64][]byte{}}
		for _, y := range []*volume{b, x} {
			for n := range y.pages {
				union.pages[n] = zero
			}
		}
		out = pagesOf(union, func(n int64) bool { return !bytes.Equal(pageOr(b, n), pageOr(x, n)) })
		return nil
	})
	return out, err
}

// pagesOf returns the extents of x's pages that keep says, within its size.
func pagesOf(x *volume, keep func(n int64) bool) []host.Extent {
	var ns []int64
	for n := range x.pages {
		if n*page < x.sizeMB<<20 && keep(n) {
			ns = append(ns, n)
		}
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	out := make([]host.Extent, 0, len(ns))
	for _, n := range ns {
		out = append(out, host.Extent{Off: n * page, Len: page})
	}
	return host.NormalizeExtents(out)
}

// Writer opens a volume to receive data, as the fake's WriteAt writes
// it; ZeroAt drops whole pages, as a punched hole frees blocks.
func (v *Volumes) Writer(ctx context.Context, name string) (host.VolumeWriter, error) {
	err := v.lock(ctx, "Writer", name, func() error {
		if _, ok := v.vols[name]; !ok {
			return fmt.Errorf("opening %s: %w", name, ErrNoVolume)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &writer{v: v, name: name}, nil
}

type writer struct {
	v    *Volumes
	name string
}

func (w *writer) WriteAt(b []byte, off int64) (int, error) {
	if err := w.v.WriteAt(w.name, off, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (w *writer) ZeroAt(off, n int64) error {
	w.v.mu.Lock()
	x, ok := w.v.vols[w.name]
	w.v.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("zeroing %s: %w", w.name, ErrNoVolume)
	case off < 0 || n < 0 || off+n > x.sizeMB<<20:
		return fmt.Errorf("zeroing %d bytes at %d in %s: past its end", n, off, w.name)
	}
	for n > 0 {
		k := min(n, page-off%page)
		if k == page {
			w.v.mu.Lock()
			delete(x.pages, off/page)
			w.v.mu.Unlock()
		} else if err := w.v.WriteAt(w.name, off, make([]byte, k)); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

func (w *writer) Sync() error  { return nil }
func (w *writer) Close() error { return nil }

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

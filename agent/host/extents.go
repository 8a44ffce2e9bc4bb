package host

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
)

// Extents is what moving a volume to another host needs from a disk
// backend beyond Volumes: which ranges hold data, so that only those
// travel, and which ranges changed since a snapshot, so that the copy
// made while the VM ran is brought up to date with only those. It is a
// port of its own rather than more methods on Volumes because only the
// migration workflows need it, and a fake of Volumes alone stays small.
// host/hosttest.ExtentsSuite checks every implementation against these
// rules.
//
// Both answers are ranges in bytes, sorted, not overlapping, not
// touching (adjacent ranges are merged), within the volume's size, at
// the backend's granularity (a filesystem block, a thin pool chunk):
// they may say more than the exact bytes, never less. The volumes must
// be still while asked (a snapshot, or the volume of a stopped or paused
// VM): ranges written meanwhile may be missed.
//
// A move uses it so: the source clones the disk into a snapshot while
// the VM runs and sends the snapshot's Allocated ranges (pre-copy); with
// the VM stopped it sends the disk's data on Changed(snapshot, disk)
// (the delta). The target Creates the volume and writes what it is sent
// through a Writer: in the pre-copy it skips chunks of zeros (a new
// volume reads zeros), in the delta it ZeroAt's them.
type Extents interface {
	// Allocated returns the ranges of a volume that may hold data:
	// outside them it reads as zeros. A volume written at offsets (a
	// Writer, or its Path) after Create holds only the ranges written (a
	// file stays sparse, a thin LV leaves the rest unallocated), so a
	// receiver that writes only what it is sent keeps the volume thin.
	Allocated(ctx context.Context, name string) ([]Extent, error)
	// Changed returns the ranges where name may differ from base: outside
	// them, name reads as base does, where base is shorter as zeros. It
	// is meant for base a snapshot (Clone) of name made earlier, where it
	// is about what was written since, but holds for any two volumes.
	// So a copy of base, grown to name's size and written with name's
	// data on these ranges (zeros included), equals name.
	Changed(ctx context.Context, base, name string) ([]Extent, error)
	// Writer opens a volume to receive its data: written at offsets,
	// never past its end. Ranges never written stay unallocated, so a
	// receiver skips what reads as zeros on a volume it just made, and
	// zeros with ZeroAt what must read as zeros on one holding data (a
	// delta).
	Writer(ctx context.Context, name string) (VolumeWriter, error)
}

// VolumeWriter receives a volume's data.
type VolumeWriter interface {
	// WriteAt refuses to write past the volume's end.
	io.WriterAt
	// ZeroAt makes [off, off+n) read as zeros, freeing the space where
	// the backend can (a hole punched in a file); elsewhere it writes
	// zeros (a thin LV then holds those chunks).
	ZeroAt(off, n int64) error
	// Sync makes what was written durable.
	Sync() error
	Close() error
}

// Extent is a range of a volume in bytes.
type Extent struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// End is the first byte after the extent.
func (e Extent) End() int64 { return e.Off + e.Len }

func (e Extent) String() string { return fmt.Sprintf("[%d,%d)", e.Off, e.End()) }

// NormalizeExtents sorts extents and merges those that overlap or touch,
// dropping empty ones, into the form Extents answers in. It reuses xs.
func NormalizeExtents(xs []Extent) []Extent {
	xs = slices.DeleteFunc(xs, func(e Extent) bool { return e.Len <= 0 })
	slices.SortFunc(xs, func(a, b Extent) int { return cmp.Compare(a.Off, b.Off) })
	out := xs[:0]
	for _, e := range xs {
		if n := len(out); n > 0 && e.Off <= out[n-1].End() {
			out[n-1].Len = max(out[n-1].End(), e.End()) - out[n-1].Off
			continue
		}
		out = append(out, e)
	}
	return out
}

// ClipExtents cuts normalized extents to [0, size).
func ClipExtents(xs []Extent, size int64) []Extent {
	out := xs[:0]
	for _, e := range xs {
		if e.Off >= size {
			break
		}
		e.Len = min(e.End(), size) - e.Off
		out = append(out, e)
	}
	return out
}

// ExtentBytes is how many bytes the extents cover.
func ExtentBytes(xs []Extent) int64 {
	var n int64
	for _, e := range xs {
		n += e.Len
	}
	return n
}

// CheckExtents checks extents are in the form Extents answers in within
// a volume of size bytes: sorted, apart, not empty, inside it. Receivers
// check what a peer sends them with it.
func CheckExtents(xs []Extent, size int64) error {
	var end int64 = -1
	for i, e := range xs {
		switch {
		case e.Off < 0 || e.Len <= 0:
			return fmt.Errorf("extent %d %v: offset must not be negative and length must be positive", i, e)
		case e.Off <= end:
			return fmt.Errorf("extent %d %v: must start after the end of the one before (%d), apart from it", i, e, end)
		case e.End() > size || e.End() < e.Off:
			return fmt.Errorf("extent %d %v: must end within the volume's %d bytes", i, e, size)
		}
		end = e.End()
	}
	return nil
}

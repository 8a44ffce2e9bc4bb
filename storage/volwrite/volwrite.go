// Package volwrite opens a volume's file or block device to receive its
// data from another host (host.VolumeWriter) for the disk backends.
//
// A write never reaches past the volume's end: a file would grow, a
// block device refuse it half-way. ZeroAt makes a range read zeros: in a
// file it punches a hole (the space is freed, the file stays sparse); on
// a block device it asks the kernel to zero it, unmapping where the
// device can do so and still promise zeros (BLKDEV_ZERO_NOFALLBACK),
// else writing zeros (a thin LV then holds those chunks: dm-thin frees
// chunks on discard, but a discard of a pool with discards=ignore or of
// part of a chunk leaves the data, so discard alone never zeroes).
package volwrite

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ErrPastEnd is wrapped by a write or zeroing reaching past the volume's end.
var ErrPastEnd = errors.New("past the end of the volume")

// Writer writes into one volume.
type Writer struct {
	f     *os.File
	size  int64
	block bool
}

// Open opens the volume at path (a block device when block) for writing.
func Open(path string, block bool) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	// A block device's Stat size is 0; its end is where a seek lands.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{f: f, size: size, block: block}, nil
}

// Size is the volume's size in bytes.
func (w *Writer) Size() int64 { return w.size }

func (w *Writer) check(op string, off, n int64) error {
	if off < 0 || n < 0 || off+n > w.size || off+n < off {
		return fmt.Errorf("%s %d bytes at %d into %s: %w (%d bytes)", op, n, off, w.f.Name(), ErrPastEnd, w.size)
	}
	return nil
}

// WriteAt writes b at off, within the volume.
func (w *Writer) WriteAt(b []byte, off int64) (int, error) {
	if err := w.check("writing", off, int64(len(b))); err != nil {
		return 0, err
	}
	return w.f.WriteAt(b, off)
}

// sector is the alignment a block device's fallocate needs.
const sector = 512

// ZeroAt makes [off, off+n) read as zeros.
func (w *Writer) ZeroAt(off, n int64) error {
	if err := w.check("zeroing", off, n); err != nil || n == 0 {
		return err
	}
	fd := int(w.f.Fd())
	if !w.block {
		if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err == nil {
			return nil
		} else if !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("punching %d bytes at %d in %s: %w", n, off, w.f.Name(), err)
		}
		return w.writeZeros(off, n)
	}
	// The kernel zeroes whole sectors; the edges are written.
	first, end := (off+sector-1)/sector*sector, (off+n)/sector*sector
	if first >= end {
		return w.writeZeros(off, n)
	}
	if err := w.writeZeros(off, first-off); err != nil {
		return err
	}
	if err := w.writeZeros(end, off+n-end); err != nil {
		return err
	}
	err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, first, end-first)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		err = unix.Fallocate(fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, first, end-first)
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		return w.writeZeros(first, end-first)
	}
	if err != nil {
		return fmt.Errorf("zeroing %d bytes at %d in %s: %w", end-first, first, w.f.Name(), err)
	}
	return nil
}

var zeros = make([]byte, 1<<20)

func (w *Writer) writeZeros(off, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.f.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// Sync makes what was written durable.
func (w *Writer) Sync() error { return w.f.Sync() }

// Close closes the volume.
func (w *Writer) Close() error { return w.f.Close() }

package file

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FIEMAP (linux/fiemap.h), which golang.org/x/sys does not carry: the
// physical extents behind a file's logical ranges. Two files whose same
// logical range maps to the same physical bytes share them (a reflink),
// so they hold the same data there without reading it.

const (
	fsIocFiemap    = 0xC020660B // _IOWR('f', 11, struct fiemap)
	fiemapFlagSync = 0x1        // write dirty pages out first
	fiemapBatch    = 256

	fiemapLast      = 0x1
	fiemapUnknown   = 0x2
	fiemapDelalloc  = 0x4
	fiemapEncoded   = 0x8
	fiemapEncrypted = 0x80
	fiemapUnaligned = 0x100
	fiemapInline    = 0x200
	fiemapTail      = 0x400
	fiemapUnwritten = 0x800

	// Extents with these flags say nothing reliable about where their
	// bytes are (not placed yet, compressed, packed with others' bytes):
	// their data is compared instead.
	fiemapVague = fiemapUnknown | fiemapDelalloc | fiemapEncoded | fiemapEncrypted | fiemapUnaligned | fiemapInline | fiemapTail
)

type fiemapHeader struct {
	Start, Length                               uint64
	Flags, MappedExtents, ExtentCount, Reserved uint32
}

type fiemapExtent struct {
	Logical, Physical, Length uint64
	_                         [2]uint64
	Flags                     uint32
	_                         [3]uint32
}

type fiemapRequest struct {
	fiemapHeader
	Extents [fiemapBatch]fiemapExtent
}

// mapped is a logical range of a file holding data: at delta from its
// logical offset on the device when placed is true, else where FIEMAP
// cannot say (or is not asked).
type mapped struct {
	off, end int64
	delta    int64
	placed   bool
}

// errNoFiemap: the filesystem does not answer FIEMAP (tmpfs, overlayfs).
var errNoFiemap = errors.New("the filesystem does not map extents (FIEMAP)")

// fiemap returns the data-holding ranges of f below size, in order,
// unwritten (preallocated) extents left out since they read as zeros.
func fiemap(f *os.File, size int64) ([]mapped, error) {
	var out []mapped
	req := new(fiemapRequest)
	var start uint64
	for start < uint64(size) {
		*req = fiemapRequest{fiemapHeader: fiemapHeader{Start: start, Length: uint64(size) - start, Flags: fiemapFlagSync, ExtentCount: fiemapBatch}}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(req)))
		switch errno {
		case 0:
		case unix.EOPNOTSUPP, unix.ENOTTY, unix.EINVAL:
			return nil, errNoFiemap
		default:
			return nil, &os.PathError{Op: "fiemap", Path: f.Name(), Err: errno}
		}
		n := int(req.MappedExtents)
		if n == 0 {
			break
		}
		for _, e := range req.Extents[:n] {
			m := mapped{off: int64(e.Logical), end: min(int64(e.Logical+e.Length), size)}
			m.placed = e.Flags&fiemapVague == 0
			m.delta = int64(e.Physical) - int64(e.Logical)
			if n := len(out); n > 0 {
				m.off = max(m.off, out[n-1].end) // never overlapping
			}
			if e.Flags&fiemapUnwritten == 0 && m.end > m.off {
				out = append(out, m)
			}
		}
		last := req.Extents[n-1]
		if last.Flags&fiemapLast != 0 || last.Logical+last.Length <= start {
			break
		}
		start = last.Logical + last.Length
	}
	return out, nil
}

// seekData returns the data-holding ranges of f below size found with
// SEEK_DATA and SEEK_HOLE, not placed.
func seekData(f *os.File, size int64) ([]mapped, error) {
	var out []mapped
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			return nil, &os.PathError{Op: "seek data", Path: f.Name(), Err: err}
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return nil, &os.PathError{Op: "seek hole", Path: f.Name(), Err: err}
		}
		hole = min(hole, size)
		out = append(out, mapped{off: data, end: hole})
		off = hole
	}
	return out, nil
}

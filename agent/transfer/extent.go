package transfer

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
)

// Extent is a byte range of a disk: Off from its start, Len bytes.
type Extent struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// End is the offset just past the extent.
func (e Extent) End() int64 { return e.Off + e.Len }

// Normalize returns the extents sorted, overlapping and touching ones
// merged, empty ones dropped, checked against a disk of size bytes: a
// negative offset or length, or a range past the end, is an error naming
// the extent. Storage lists extents per file block, so the merge keeps
// the stream's header and the chunk count small.
func Normalize(extents []Extent, size int64) ([]Extent, error) {
	out := make([]Extent, 0, len(extents))
	for i, e := range extents {
		if e.Off < 0 || e.Len < 0 {
			return nil, fmt.Errorf("extent %d (%d+%d): offset and length must not be negative", i, e.Off, e.Len)
		}
		if e.Len > size || e.Off > size-e.Len {
			return nil, fmt.Errorf("extent %d (%d+%d): must end within the disk's %d bytes", i, e.Off, e.Len, size)
		}
		if e.Len > 0 {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Extent) int { return cmp.Compare(a.Off, b.Off) })
	merged := out[:0]
	for _, e := range out {
		if n := len(merged); n > 0 && e.Off <= merged[n-1].End() {
			merged[n-1].Len = max(merged[n-1].End(), e.End()) - merged[n-1].Off
			continue
		}
		merged = append(merged, e)
	}
	return merged, nil
}

// Coarsen rounds each extent out to multiples of g (clipped to size) and
// merges what then touches: fewer, larger extents covering the same data
// and some holes, which read as zeros. Extents in Normalize's form come
// back in it.
func Coarsen(extents []Extent, g, size int64) []Extent {
	out := make([]Extent, 0, len(extents))
	for _, e := range extents {
		off := e.Off / g * g
		end := min(size, (e.End()+g-1)/g*g)
		if n := len(out); n > 0 && off <= out[n-1].End() {
			out[n-1].Len = max(out[n-1].End(), end) - out[n-1].Off
			continue
		}
		out = append(out, Extent{Off: off, Len: end - off})
	}
	return out
}

// checkNormal reports whether extents are what Normalize returns for a
// disk of size bytes: the receiver takes the sender's list only in that
// form, so both sides count the same chunks.
func checkNormal(extents []Extent, size int64) error {
	for i, e := range extents {
		if e.Off < 0 || e.Len <= 0 || e.Len > size || e.Off > size-e.Len {
			return fmt.Errorf("extent %d (%d+%d): must be a non-empty range within the disk's %d bytes", i, e.Off, e.Len, size)
		}
		if i > 0 && e.Off <= extents[i-1].End() {
			return fmt.Errorf("extent %d (%d+%d): must start past the end of the one before (%d), sorted and merged", i, e.Off, e.Len, extents[i-1].End())
		}
	}
	return nil
}

// Bytes is the data the extents cover.
func Bytes(extents []Extent) int64 {
	var n int64
	for _, e := range extents {
		n += e.Len
	}
	return n
}

// chunks walks the chunks of a pass: each extent cut at the multiples of
// size, so a chunk never straddles an aligned window and a resume point
// is a chunk boundary both sides find alike.
type chunks struct {
	extents []Extent
	size    int64
	i       int   // extent index
	off     int64 // next chunk's offset
}

func newChunks(extents []Extent, chunkSize int64) *chunks {
	c := &chunks{extents: extents, size: chunkSize}
	if len(extents) > 0 {
		c.off = extents[0].Off
	}
	return c
}

// next returns the next chunk; ok is false after the last.
func (c *chunks) next() (Extent, bool) {
	if c.i >= len(c.extents) {
		return Extent{}, false
	}
	e := c.extents[c.i]
	end := min(e.End(), (c.off/c.size+1)*c.size)
	ch := Extent{Off: c.off, Len: end - c.off}
	if end == e.End() {
		c.i++
		if c.i < len(c.extents) {
			c.off = c.extents[c.i].Off
		}
	} else {
		c.off = end
	}
	return ch, true
}

// skipTo moves past the first done bytes of the pass, handing each chunk
// passed to fn (the sender rebuilds its digest from them); done must fall
// on a chunk boundary, as a receiver's resume point does.
func (c *chunks) skipTo(done int64, fn func(Extent) error) error {
	var n int64
	for n < done {
		ch, ok := c.next()
		if !ok {
			return fmt.Errorf("resume point %d: past the pass's %d bytes", done, n)
		}
		if err := fn(ch); err != nil {
			return err
		}
		n += ch.Len
	}
	if n != done {
		return fmt.Errorf("resume point %d: not a chunk boundary of the pass", done)
	}
	return nil
}

// digestVersion starts every end-to-end digest, so a change of what it
// covers cannot compare equal with an older agent's.
const digestVersion = "xenagent-transfer-v1\n"

// newDigest starts a pass's end-to-end digest over what both sides know
// before any data: the pass, the disk size, the chunk size and the extents.
func newDigest(pass string, size, chunkSize int64, extents []Extent) hash.Hash {
	h := sha256.New()
	h.Write([]byte(digestVersion))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(len(pass)))
	h.Write(b[:8])
	h.Write([]byte(pass))
	binary.BigEndian.PutUint64(b[:8], uint64(size))
	binary.BigEndian.PutUint64(b[8:], uint64(chunkSize))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:8], uint64(len(extents)))
	h.Write(b[:8])
	for _, e := range extents {
		binary.BigEndian.PutUint64(b[:8], uint64(e.Off))
		binary.BigEndian.PutUint64(b[8:], uint64(e.Len))
		h.Write(b[:])
	}
	return h
}

// addChunk folds one verified chunk into a digest.
func addChunk(h hash.Hash, ch Extent, sum [32]byte) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ch.Off))
	binary.BigEndian.PutUint64(b[8:], uint64(ch.Len))
	h.Write(b[:])
	h.Write(sum[:])
}

// extentsDigest names an extent list in the receiver's state, so a
// resumed stream proves it carries the same list without resending it.
func extentsDigest(extents []Extent) string {
	h := newDigest("", 0, 0, extents)
	return fmt.Sprintf("%x", h.Sum(nil))
}

package transfer

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The stream (the body of PUT /migration/v1/disk/{id}):
//
//	"XAT1" uvarint(n) header (n bytes of JSON)
//	then one frame per chunk from the resume point, in order:
//	  'D' uvarint(off) uvarint(len) sha256[32] uvarint(n) zstd frame (n bytes)
//	  'R' uvarint(off) uvarint(len) sha256[32] data (len bytes)
//	  'Z' uvarint(off) uvarint(len)                  (all zeros)
//	then 'E' digest[32] (the end-to-end digest of the pass)
//
// Offsets and lengths repeat what both sides derive from the extent list,
// so a frame that is not the chunk expected next is caught by its
// numbers before its data is looked at.
const magic = "XAT1"

const (
	frameZstd = 'D'
	frameRaw  = 'R'
	frameZero = 'Z'
	frameEnd  = 'E'
)

// ContentType is the stream's media type.
const ContentType = "application/x-xenagent-transfer"

// header opens a stream.
type header struct {
	Pass string `json:"pass"`
	// Base is the pass the receiver must have completed before this one
	// ("" for a fresh volume).
	Base      string   `json:"base"`
	Size      int64    `json:"size"`
	ChunkSize int64    `json:"chunk_size"`
	Extents   []Extent `json:"extents"`
	// Start is the bytes of the pass already held (the receiver's Done).
	Start int64 `json:"start"`
}

// DefaultMaxExtents bounds a pass's extent list on both sides: the 4 MiB
// chunks of a 4 TiB disk (a sender coarsens a longer list to fit), about
// 40 MB of header.
const DefaultMaxExtents = 1 << 20

// Chunk sizes the receiver takes: large enough that per-chunk overhead
// (a hash, a frame, a write) vanishes, small enough that a chunk sent
// again after a cut costs little and a decoder's buffer stays bounded.
const (
	MinChunkSize = 64 << 10
	MaxChunkSize = 16 << 20
)

func (h *header) check(maxExtents int) error {
	if h.Pass == "" || len(h.Pass) > 64 {
		return fmt.Errorf("pass %q: must be 1 to 64 bytes", h.Pass)
	}
	if len(h.Base) > 64 {
		return fmt.Errorf("base %q: must be at most 64 bytes", h.Base)
	}
	if h.Size < 0 {
		return fmt.Errorf("size %d: must not be negative", h.Size)
	}
	if h.ChunkSize < MinChunkSize || h.ChunkSize > MaxChunkSize || h.ChunkSize&(h.ChunkSize-1) != 0 {
		return fmt.Errorf("chunk_size %d: must be a power of two from %d to %d", h.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if len(h.Extents) > maxExtents {
		return fmt.Errorf("extents: %d, at most %d in one pass", len(h.Extents), maxExtents)
	}
	if err := checkNormal(h.Extents, h.Size); err != nil {
		return fmt.Errorf("extents: %w", err)
	}
	if h.Start < 0 || h.Start > Bytes(h.Extents) {
		return fmt.Errorf("start %d: must be within the pass's %d bytes", h.Start, Bytes(h.Extents))
	}
	return nil
}

func writeHeader(w io.Writer, h *header) (int64, error) {
	js, err := json.Marshal(h)
	if err != nil {
		return 0, err
	}
	b := binary.AppendUvarint([]byte(magic), uint64(len(js)))
	b = append(b, js...)
	n, err := w.Write(b)
	return int64(n), err
}

func readHeader(r *bufio.Reader, maxBytes int64) (*header, error) {
	m := make([]byte, len(magic))
	if _, err := io.ReadFull(r, m); err != nil {
		return nil, fmt.Errorf("reading the stream's magic: %w", err)
	}
	if string(m) != magic {
		return nil, fmt.Errorf("stream: starts with %q, not %q", m, magic)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("reading the header's length: %w", err)
	}
	if n > uint64(maxBytes) {
		return nil, fmt.Errorf("header: %d bytes, at most %d", n, maxBytes)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	h := new(header)
	if err := json.Unmarshal(js, h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

// frame is one decoded frame; Data aliases the reader's buffer.
type frame struct {
	kind  byte
	chunk Extent
	sum   [32]byte
	data  []byte // compressed ('D') or raw ('R') bytes
}

// appendFrame encodes a chunk's frame head; data follows for 'D' and 'R'.
func appendFrame(b []byte, kind byte, ch Extent, sum *[32]byte, dataLen int) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(ch.Off))
	b = binary.AppendUvarint(b, uint64(ch.Len))
	if kind == frameZero {
		return b
	}
	b = append(b, sum[:]...)
	if kind == frameZstd {
		b = binary.AppendUvarint(b, uint64(dataLen))
	}
	return b
}

// errTruncated: the stream ended inside a frame or before its end frame
// (a cut connection, as the receiver sees it).
var errTruncated = errors.New("the stream ended before its end frame")

// readFrame reads the next frame into buf (grown up to maxData); the end
// frame comes back with kind frameEnd and the digest in sum.
func readFrame(r *bufio.Reader, buf []byte, maxData int64) (frame, []byte, error) {
	var f frame
	kind, err := r.ReadByte()
	if err != nil {
		return f, buf, truncated(err)
	}
	f.kind = kind
	switch kind {
	case frameEnd:
		if _, err := io.ReadFull(r, f.sum[:]); err != nil {
			return f, buf, truncated(err)
		}
		return f, buf, nil
	case frameZstd, frameRaw, frameZero:
	default:
		return f, buf, fmt.Errorf("frame type %q: unknown", kind)
	}
	off, err := binary.ReadUvarint(r)
	if err != nil {
		return f, buf, truncated(err)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return f, buf, truncated(err)
	}
	if off > 1<<62 || n > uint64(maxData) {
		return f, buf, fmt.Errorf("frame at %d: length %d, at most %d", off, n, maxData)
	}
	f.chunk = Extent{Off: int64(off), Len: int64(n)}
	if kind == frameZero {
		return f, buf, nil
	}
	if _, err := io.ReadFull(r, f.sum[:]); err != nil {
		return f, buf, truncated(err)
	}
	dataLen := n
	if kind == frameZstd {
		if dataLen, err = binary.ReadUvarint(r); err != nil {
			return f, buf, truncated(err)
		}
		// zstd's worst case on incompressible data is a few bytes per
		// block over the input; a sender sends those raw instead.
		if dataLen > n+n/64+1024 {
			return f, buf, fmt.Errorf("frame at %d: %d compressed bytes for %d", off, dataLen, n)
		}
	}
	if uint64(cap(buf)) < dataLen {
		buf = make([]byte, dataLen)
	}
	f.data = buf[:dataLen]
	if _, err := io.ReadFull(r, f.data); err != nil {
		return f, buf, truncated(err)
	}
	return f, buf, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// parsed is a captured stream taken apart, to be altered and sent again.
type parsed struct {
	head   []byte // magic and header
	frames [][]byte
	end    []byte
}

func parseStream(t *testing.T, body []byte) parsed {
	t.Helper()
	rd := bytes.NewReader(body)
	br := bufio.NewReader(rd)
	at := func() int { return len(body) - rd.Len() - br.Buffered() }
	if _, err := readHeader(br, 1<<20); err != nil {
		t.Fatal(err)
	}
	var p parsed
	p.head = body[:at()]
	pos := len(p.head)
	for {
		f, _, err := readFrame(br, nil, MaxChunkSize)
		if err != nil {
			t.Fatal(err)
		}
		next := at()
		if f.kind == frameEnd {
			p.end = body[pos:next]
			return p
		}
		p.frames = append(p.frames, body[pos:next])
		pos = next
	}
}

func (p parsed) join(frames [][]byte, end []byte) []byte {
	b := append([]byte(nil), p.head...)
	for _, f := range frames {
		b = append(b, f...)
	}
	return append(b, end...)
}

// TestReceiverRefusesBadStreams: a stream altered on its way (a frame
// lost, doubled, swapped, its data or digest changed, a decompression
// bomb, cut short) is refused, and the receiver keeps exactly the chunks
// before the first bad frame, nothing after.
func TestReceiverRefusesBadStreams(t *testing.T) {
	ext := []Extent{{0, 4 * testChunk}}
	src := newSource(t, testSize, ext, text, 11)
	body := captureStream(t, src, ext, testOptions("precopy", ""))
	p := parseStream(t, body)
	if len(p.frames) != 4 || p.frames[0][0] != frameZstd {
		t.Fatalf("captured %d frames, the first %q; want 4 zstd frames", len(p.frames), p.frames[0][0])
	}
	f := p.frames
	badEnd := append([]byte(nil), p.end...)
	badEnd[5] ^= 1
	// A frame claiming the first chunk whose zstd data inflates past it.
	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, 4*testChunk), nil)
	var sum [32]byte
	bombFrame := append(appendFrame(nil, frameZstd, Extent{0, testChunk}, &sum, len(bomb)), bomb...)
	flipped := append([]byte(nil), f[1]...)
	flipped[len(flipped)-3] ^= 1
	tests := []struct {
		name string
		body []byte
		want error
		keep int64 // chunks kept
	}{
		{"intact", p.join(f, p.end), nil, 4},
		{"a frame lost", p.join([][]byte{f[0], f[2], f[3]}, p.end), ErrBadStream, 1},
		{"a frame doubled", p.join([][]byte{f[0], f[1], f[1], f[2], f[3]}, p.end), ErrBadStream, 2},
		{"frames swapped", p.join([][]byte{f[0], f[2], f[1], f[3]}, p.end), ErrBadStream, 1},
		{"data changed", p.join([][]byte{f[0], flipped, f[2], f[3]}, p.end), ErrBadStream, 1},
		{"digest changed", p.join(f, badEnd), ErrDigest, 4},
		{"the end missing", p.join(f, nil), errTruncated, 4},
		{"cut inside a frame", p.join(f, nil)[:len(p.head)+len(f[0])+10], errTruncated, 1},
		{"a decompression bomb", p.join([][]byte{bombFrame}, nil), ErrBadStream, 0},
		{"a frame past the end", p.join(append(f[:4:4], f[3]), p.end), ErrBadStream, 4},
		{"an unknown frame", p.join([][]byte{f[0], {'X', 1, 2}}, p.end), ErrBadStream, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, ReceiverConfig{})
			d := r.disk("1", testSize)
			_, err := r.target("1", nil).Put(context.Background(), bytes.NewReader(tt.body))
			if tt.want == errTruncated {
				// A stream cut short comes back as the receiver's 400.
				var re *RemoteError
				if !errors.As(err, &re) || re.Status != 400 {
					t.Fatalf("Put = %v; want a 400 for a truncated stream", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("Put = %v; want %v", err, tt.want)
			}
			h, _ := r.recv.Have(context.Background(), "1")
			if h.Done != tt.keep*testChunk || h.Complete != (tt.want == nil) {
				t.Fatalf("the receiver holds %+v; want %d chunks, complete %v", h, tt.keep, tt.want == nil)
			}
			got, _ := os.ReadFile(d.path)
			want, _ := os.ReadFile(src.path)
			n := tt.keep * testChunk
			if !bytes.Equal(got[:n], want[:n]) || !bytes.Equal(got[n:], make([]byte, len(got)-int(n))) {
				t.Fatal("the volume holds other than the kept chunks")
			}
		})
	}
}

func newBufReader(r *bytes.Reader) *bufio.Reader { return bufio.NewReader(r) }

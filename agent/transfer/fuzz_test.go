package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// memVolume is a volume in memory.
type memVolume struct{ b []byte }

func (m *memVolume) WriteAt(p []byte, off int64) (int, error) { return copy(m.b[off:], p), nil }
func (m *memVolume) Sync() error                              { return nil }
func (m *memVolume) Close() error                             { return nil }

type memResolver struct {
	vol *memVolume
	j   MemJournal
}

func (m *memResolver) Disk(context.Context, string) (Disk, error) {
	return Disk{Size: int64(len(m.vol.b)), Journal: &m.j, Open: func(context.Context) (Volume, error) { return m.vol, nil }}, nil
}

// FuzzReceiver feeds arbitrary streams to a receiver: it never panics,
// never writes outside the disk, and completes a pass only when the
// volume then holds, over the pass's chunks, data whose digest is the one
// the stream ended with.
func FuzzReceiver(f *testing.F) {
	const size = 256 << 10
	ext := []Extent{{0, 100 << 10}, {200 << 10, 56 << 10}}
	for _, how := range []fill{random, text, zeros} {
		src := newSource(f, size, ext, how, 1)
		o := testOptions("precopy", "")
		o.Size = size
		f.Add(captureStream(f, src, ext, o))
	}
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, body []byte) {
		res := &memResolver{vol: &memVolume{b: make([]byte, size)}}
		rx, err := NewReceiver(res, ReceiverConfig{MaxHeaderBytes: 1 << 16, MaxExtents: 64}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPut, DiskPath, bytes.NewReader(body))
		req.SetPathValue("id", "1")
		rec := httptest.NewRecorder()
		rx.ServeHTTP(rec, req)
		st, _ := res.j.Load(context.Background())
		if rec.Code == http.StatusOK != st.Complete {
			t.Fatalf("answered %d with the state %+v", rec.Code, st.Have)
		}
		if !st.Complete {
			return
		}
		// Recompute the pass's digest from the volume.
		br := newBufReader(bytes.NewReader(body))
		h, err := readHeader(br, 1<<16)
		if err != nil {
			t.Fatalf("a completed pass with an unreadable header: %v", err)
		}
		var end frame
		for end.kind != frameEnd {
			if end, _, err = readFrame(br, nil, h.ChunkSize); err != nil {
				t.Fatalf("a completed pass with an unreadable frame: %v", err)
			}
		}
		d := newDigest(h.Pass, h.Size, h.ChunkSize, h.Extents)
		it := newChunks(h.Extents, h.ChunkSize)
		for ch, ok := it.next(); ok; ch, ok = it.next() {
			addChunk(d, ch, sha256.Sum256(res.vol.b[ch.Off:ch.End()]))
		}
		if !bytes.Equal(end.sum[:], d.Sum(nil)) {
			t.Fatal("the pass completed, but the volume's digest is not the stream's")
		}
	})
}

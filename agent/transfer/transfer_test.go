package transfer

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	testChunk = 64 << 10
	testSize  = 4 << 20
)

func testOptions(pass, base string) Options {
	return Options{Pass: pass, Base: base, Size: testSize, ChunkSize: testChunk, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
}

// TestSend moves sparse sources of every kind of data to a fresh volume
// over loopback: the target ends with the same bytes, and only the data
// crossed the wire (compressed where it compresses, a marker for zeros).
func TestSend(t *testing.T) {
	extents := []Extent{{0, 100 << 10}, {300 << 10, 64 << 10}, {(1 << 20) + 5, 200<<10 + 3}, {testSize - 4096, 4096}}
	data := Bytes(extents)
	tests := []struct {
		name       string
		extents    []Extent
		fill       fill
		noCompress bool
		maxWire    int64 // at most this on the wire
		minWire    int64
	}{
		{"random data: raw, only the extents", extents, random, false, data + 4096, data},
		{"text: compressed", extents, text, false, data / 10, 0},
		{"text, compression off", extents, text, true, data + 4096, data},
		{"allocated zeros: markers", extents, zeros, false, 2048, 0},
		{"nothing allocated", nil, random, false, 512, 0},
		{"the whole disk", []Extent{{0, testSize}}, random, false, testSize + 8192, testSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, ReceiverConfig{})
			d := r.disk("7", testSize)
			src := newSource(t, testSize, tt.extents, tt.fill, 1)
			o := testOptions("precopy", "")
			o.NoCompress = tt.noCompress
			var sent []Progress
			o.Progress = func(p Progress) { sent = append(sent, p) }
			res, err := Send(context.Background(), src.open(t), tt.extents, r.target("7", nil), o)
			if err != nil {
				t.Fatal(err)
			}
			sameContent(t, src.path, d.path)
			if !res.Have.Complete || res.Have.Done != Bytes(tt.extents) || res.Streams != 1 || res.Resumed != 0 {
				t.Fatalf("result %+v; want one stream, complete with %d bytes", res, Bytes(tt.extents))
			}
			if res.Wire > tt.maxWire || res.Wire < tt.minWire {
				t.Fatalf("%d bytes on the wire for %d of data; want %d to %d", res.Wire, Bytes(tt.extents), tt.minWire, tt.maxWire)
			}
			checkProgress(t, "sender", sent, Bytes(tt.extents))
			checkProgress(t, "receiver", d.progress, Bytes(tt.extents))
			// Sent again: the receiver holds it, nothing moves.
			again, err := Send(context.Background(), src.open(t), tt.extents, r.target("7", nil), o)
			if err != nil || again.Streams != 0 || again.Wire != 0 {
				t.Fatalf("sending a completed pass again = %+v, %v; want nothing sent", again, err)
			}
		})
	}
}

func checkProgress(t *testing.T, side string, ps []Progress, total int64) {
	t.Helper()
	var last int64
	for _, p := range ps {
		if p.Done < last || p.Total != total || p.Pass != "precopy" {
			t.Fatalf("%s progress %+v after %d: want Done rising to %d", side, p, last, total)
		}
		last = p.Done
	}
	if total > 0 && last != total {
		t.Fatalf("%s progress ended at %d of %d", side, last, total)
	}
}

// TestSparseTarget: what was not sent stays a hole on a file target;
// zero chunks are not written on a fresh volume, and punch holes in a
// delta where the volume can.
func TestSparseTarget(t *testing.T) {
	r := newRig(t, ReceiverConfig{})
	d := r.disk("1", testSize) // without ZeroAt: zeros would be written
	ext := []Extent{{0, 256 << 10}, {1 << 20, 256 << 10}}
	src := newSource(t, testSize, ext, random, 2)
	// Allocated zeros in the source: sent as markers, not written.
	src.change(t, []Extent{{2 << 20, 1 << 20}}, zeros, 0)
	ext = append(ext, Extent{2 << 20, 1 << 20})
	if _, err := Send(context.Background(), src.open(t), ext, r.target("1", nil), testOptions("precopy", "")); err != nil {
		t.Fatal(err)
	}
	sameContent(t, src.path, d.path)
	if got := allocated(t, d.path); got > 600<<10 {
		t.Fatalf("the target holds %d bytes for 512 KiB of data", got)
	}
	// The guest zeroes the first range; the delta punches it out.
	d.zeroAt = true
	src.change(t, ext[:1], zeros, 0)
	if _, err := Send(context.Background(), src.open(t), ext[:1], r.target("1", nil), testOptions("delta", "precopy")); err != nil {
		t.Fatal(err)
	}
	sameContent(t, src.path, d.path)
	if got := allocated(t, d.path); got > 300<<10 {
		t.Fatalf("after zeroing 256 KiB the target holds %d bytes; want the zeroed range punched out", got)
	}
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestDelta: a pre-copy of a snapshot, the source changed after it (new
// data, overwritten data, a range zeroed), then only the changed extents:
// the target ends equal to the source.
func TestDelta(t *testing.T) {
	r := newRig(t, ReceiverConfig{})
	d := r.disk("3", testSize)
	base := []Extent{{0, 1 << 20}, {2 << 20, 512 << 10}}
	src := newSource(t, testSize, base, random, 3)
	if _, err := Send(context.Background(), src.open(t), base, r.target("3", nil), testOptions("precopy", "")); err != nil {
		t.Fatal(err)
	}
	changed := []Extent{{100 << 10, 50 << 10}, {3 << 20, 64 << 10}}
	src.change(t, changed, random, 4)
	src.change(t, []Extent{{2 << 20, 128 << 10}}, zeros, 0)
	changed = append(changed, Extent{2 << 20, 128 << 10})
	res, err := Send(context.Background(), src.open(t), changed, r.target("3", nil), testOptions("delta", "precopy"))
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, src.path, d.path)
	if res.Sent != Bytes(changed) {
		t.Fatalf("the delta sent %d bytes; want the %d changed", res.Sent, Bytes(changed))
	}
}

// TestRefusals: streams the receiver cannot build on are refused before
// anything is written, naming why, and the sender does not retry them.
func TestRefusals(t *testing.T) {
	ext := []Extent{{0, 256 << 10}}
	tests := []struct {
		name  string
		setup func(t *testing.T, r *rig, src *source) // what the receiver holds first
		disk  string
		o     Options
		ext   []Extent
		want  error
	}{
		{"a delta on a fresh volume", nil, "1", testOptions("delta", "precopy"), ext, ErrConflict},
		{"an unknown disk", nil, "2", testOptions("precopy", ""), ext, ErrUnknownDisk},
		{"another size", nil, "1", func() Options { o := testOptions("precopy", ""); o.Size = 2 * testSize; return o }(), ext, ErrConflict},
		{"a delta on another base", sendPass("precopy", "", ext), "1", testOptions("delta", "snap2"), ext, ErrConflict},
		{"a new pre-copy over a completed one", sendPass("precopy", "", ext), "1", testOptions("precopy2", ""), ext, ErrConflict},
		{"the same pass with other extents", halfPass("precopy", ext), "1", testOptions("precopy", ""), []Extent{{0, 128 << 10}}, ErrConflict},
		{"another pass over a half-received one", halfPass("precopy", ext), "1", testOptions("precopy2", ""), ext, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, ReceiverConfig{})
			d := r.disk("1", testSize)
			src := newSource(t, testSize, ext, random, 5)
			if tt.setup != nil {
				tt.setup(t, r, src)
			}
			before, _ := d.journal.Load(context.Background())
			res, err := Send(context.Background(), src.open(t), tt.ext, r.target(tt.disk, nil), tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Send = %v; want %v", err, tt.want)
			}
			if res.Streams > 1 {
				t.Fatalf("sent %d streams; a refusal is not retried", res.Streams)
			}
			after, _ := d.journal.Load(context.Background())
			if after.Pass != before.Pass || after.Done != before.Done {
				t.Fatalf("the receiver moved from %+v to %+v on a refused stream", before.Have, after.Have)
			}
		})
	}
}

func sendPass(pass, base string, ext []Extent) func(*testing.T, *rig, *source) {
	return func(t *testing.T, r *rig, src *source) {
		if _, err := Send(context.Background(), src.open(t), ext, r.target("1", nil), testOptions(pass, base)); err != nil {
			t.Fatal(err)
		}
	}
}

// halfPass leaves a pass half-received: its connection cut, and the
// network down after.
func halfPass(pass string, ext []Extent) func(*testing.T, *rig, *source) {
	return func(t *testing.T, r *rig, src *source) {
		o := testOptions(pass, "")
		o.Retries = 1
		client, _ := cutClient(150 << 10)
		_, err := Send(context.Background(), src.open(t), ext, &limitPuts{Target: r.target("1", client), left: 1}, o)
		if !errors.Is(err, errDown) {
			t.Fatalf("a cut stream with the network down after = %v; want %v", err, errDown)
		}
		h, _ := r.recv.Have(context.Background(), "1")
		if h.Pass != pass || h.Done == 0 || h.Complete {
			t.Fatalf("after the cut the receiver holds %+v; want %s half-received", h, pass)
		}
	}
}

// limitPuts lets left streams through; later ones fail as if the
// network stayed down.
type limitPuts struct {
	Target
	left int
}

var errDown = errors.New("network down")

func (l *limitPuts) Put(ctx context.Context, body io.Reader) (Have, error) {
	if l.left == 0 {
		return Have{}, errDown
	}
	l.left--
	return l.Target.Put(ctx, body)
}

// TestManyExtentsCoarsened: more extents than a header carries are sent
// coarser; the target still ends equal, the holes between sent as zeros.
func TestManyExtentsCoarsened(t *testing.T) {
	r := newRig(t, ReceiverConfig{MaxExtents: 8})
	d := r.disk("1", testSize)
	var ext []Extent
	for i := range int64(40) {
		ext = append(ext, Extent{i * 100 << 10, 4096})
	}
	src := newSource(t, testSize, ext, random, 12)
	o := testOptions("precopy", "")
	o.ChunkSize, o.MaxExtents = 1<<20, 8 // coarsened up to 1 MiB: 4 extents
	res, err := Send(context.Background(), src.open(t), ext, r.target("1", nil), o)
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, src.path, d.path)
	if res.Sent <= Bytes(ext) {
		t.Fatalf("sent %d bytes; want the coarsened extents, more than the %d listed", res.Sent, Bytes(ext))
	}
	o.ChunkSize = MinChunkSize
	o.MaxExtents = 2
	if _, err := Send(context.Background(), src.open(t), ext, r.target("1", nil), o); err == nil || !strings.Contains(err.Error(), "use a larger chunk size") {
		t.Fatalf("Send with too many extents even in whole chunks = %v; want a refusal naming the chunk size", err)
	}
}

// failingSource fails reads past an offset (a source disk's I/O error).
type failingSource struct {
	io.ReaderAt
	from int64
}

var errIO = errors.New("input/output error")

func (f failingSource) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.from {
		return 0, errIO
	}
	return f.ReaderAt.ReadAt(p, off)
}

// TestSourceErrorNotRetried: a source that cannot be read ends the pass
// at once with the read's error; the receiver keeps what came before.
func TestSourceErrorNotRetried(t *testing.T) {
	r := newRig(t, ReceiverConfig{})
	r.disk("1", testSize)
	ext := []Extent{{0, 1 << 20}}
	src := newSource(t, testSize, ext, random, 13)
	res, err := Send(context.Background(), failingSource{src.open(t), 512 << 10}, ext, r.target("1", nil), testOptions("precopy", ""))
	if !errors.Is(err, ErrSource) || !errors.Is(err, errIO) || res.Streams != 1 {
		t.Fatalf("Send = %+v, %v; want one stream ended by %v", res, err, errIO)
	}
	h, _ := r.recv.Have(context.Background(), "1")
	if h.Done > 512<<10 || h.Complete {
		t.Fatalf("the receiver holds %+v; want at most the 512 KiB read", h)
	}
}

// A file whose size only the sender knows (a saved memory file): a
// stream of any size up to the bound is taken, written whole into a file
// that grows to it; a larger one is refused before anything is written.
func TestUpTo(t *testing.T) {
	r := newRig(t, ReceiverConfig{})
	d := r.disk("memory", testSize)
	d.upTo = true
	if err := os.Truncate(d.path, 0); err != nil {
		t.Fatal(err)
	}
	size := int64(testSize/2 + 12345) // not a chunk's multiple
	whole := []Extent{{0, size}}
	src := newSource(t, size, whole, random, 3)
	o := testOptions("memory", "")
	o.Size = size
	res, err := Send(context.Background(), src.open(t), whole, r.target("memory", nil), o)
	if err != nil || !res.Have.Complete {
		t.Fatalf("sending %d bytes under a bound of %d = %+v, %v", size, int64(testSize), res, err)
	}
	sameContent(t, src.path, d.path)

	big := newSource(t, testSize+4096, []Extent{{0, testSize + 4096}}, random, 4)
	o.Size, o.Pass = testSize+4096, "memory2"
	_, err = Send(context.Background(), big.open(t), []Extent{{0, testSize + 4096}}, r.target("memory", nil), o)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("sending %d bytes over a bound of %d: %v; want ErrConflict", testSize+4096, int64(testSize), err)
	}
}

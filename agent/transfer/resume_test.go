package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestCutConnectionResumes: the connection cut mid-stream twice; each
// time the sender asks what the receiver verified and resumes there, so
// the whole pass costs little more than one copy.
func TestCutConnectionResumes(t *testing.T) {
	r := newRig(t, ReceiverConfig{})
	d := r.disk("9", testSize)
	ext := []Extent{{0, 1 << 20}, {2 << 20, 1 << 20}}
	src := newSource(t, testSize, ext, random, 9)
	client, cut := cutClient(300<<10, 900<<10)
	res, err := Send(context.Background(), src.open(t), ext, r.target("9", client), testOptions("precopy", ""))
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, src.path, d.path)
	if cut.Load() != 2 || res.Streams != 3 || res.Resumed != 2 {
		t.Fatalf("%d cut connections, result %+v; want 3 streams, the last 2 resumed", cut.Load(), res)
	}
	// What a cut loses is what was in flight past the last verified chunk.
	if extra := res.Sent - Bytes(ext); extra < 0 || extra > 2*4*testChunk {
		t.Fatalf("sent %d bytes for %d: %d resent; want at most a few chunks per cut", res.Sent, Bytes(ext), extra)
	}
}

// recordJournal keeps every state saved, so a test can restart the
// receiver from any checkpoint, as a crash would leave it.
type recordJournal struct {
	MemJournal
	mu    sync.Mutex
	saved []State
}

func (j *recordJournal) Save(ctx context.Context, s State) error {
	j.mu.Lock()
	j.saved = append(j.saved, s)
	j.mu.Unlock()
	return j.MemJournal.Save(ctx, s)
}

// TestReceiverCrashResumes: the receiver dies mid-stream; restarted with
// the state of its last periodic checkpoint (later data may or may not be
// on the volume), it takes the pass from there and ends equal.
func TestReceiverCrashResumes(t *testing.T) {
	cfg := ReceiverConfig{CheckpointBytes: 4 * testChunk}
	r := newRig(t, cfg)
	d := r.disk("4", testSize)
	j := &recordJournal{}
	d.journal = j
	ext := []Extent{{0, 3 << 20}}
	src := newSource(t, testSize, ext, random, 4)
	o := testOptions("precopy", "")
	o.Retries = 1
	client, _ := cutClient(1500 << 10)
	if _, err := Send(context.Background(), src.open(t), ext, &limitPuts{Target: r.target("4", client), left: 1}, o); !errors.Is(err, errDown) {
		t.Fatalf("the first stream = %v; want it cut and the network down", err)
	}
	// The saves: the pass begun, periodic checkpoints, the one on the cut.
	if len(j.saved) < 3 {
		t.Fatalf("%d states saved; want the start, checkpoints and the cut's", len(j.saved))
	}
	// A crash loses the saves after the first checkpoint past 0.
	i := slices.IndexFunc(j.saved, func(s State) bool { return s.Done > 0 })
	last := j.saved[len(j.saved)-1]
	if i < 0 || j.saved[i].Done >= last.Done {
		t.Fatalf("saved %d states, the last %+v: want a checkpoint before it", len(j.saved), last.Have)
	}
	crash := j.saved[i]
	j.MemJournal.Save(context.Background(), crash)
	r.restart(cfg)
	res, err := Send(context.Background(), src.open(t), ext, r.target("4", nil), testOptions("precopy", ""))
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, src.path, d.path)
	if res.Resumed != 1 || res.Sent != Bytes(ext)-crash.Done {
		t.Fatalf("result %+v; want one stream resumed at %d sending the %d bytes after", res, crash.Done, Bytes(ext)-crash.Done)
	}
}

// corrupt flips one byte of the first stream at a position.
type corrupt struct {
	Target
	at   int64
	done bool
}

func (c *corrupt) Put(ctx context.Context, body io.Reader) (Have, error) {
	if c.done {
		return c.Target.Put(ctx, body)
	}
	c.done = true
	return c.Target.Put(ctx, &flipReader{r: body, at: c.at})
}

type flipReader struct {
	r   io.Reader
	at  int64
	pos int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		p[f.at-f.pos] ^= 0x40
	}
	f.pos += int64(n)
	return n, err
}

// TestCorruptChunkNeverWritten: a chunk damaged in transit is refused
// before it is written; the receiver keeps the chunks before it, and the
// pass resumes from there.
func TestCorruptChunkNeverWritten(t *testing.T) {
	r := newRig(t, ReceiverConfig{})
	d := r.disk("5", testSize)
	ext := []Extent{{0, 1 << 20}}
	src := newSource(t, testSize, ext, random, 5)
	o := testOptions("precopy", "")
	o.Retries = 1
	// 200 KiB into the stream: inside the data of the fourth 64 KiB frame.
	tg := &limitPuts{Target: &corrupt{Target: r.target("5", nil), at: 200 << 10}, left: 1}
	_, err := Send(context.Background(), src.open(t), ext, tg, o)
	if !errors.Is(err, errDown) {
		t.Fatalf("Send = %v; want the corrupt stream refused, then the network down", err)
	}
	h, _ := r.recv.Have(context.Background(), "5")
	if h.Done != 3*testChunk {
		t.Fatalf("the receiver holds %d bytes; want the 3 chunks before the damaged one", h.Done)
	}
	got, _ := os.ReadFile(d.path)
	if !bytes.Equal(got[3*testChunk:4*testChunk], make([]byte, testChunk)) {
		t.Fatal("the damaged chunk was written")
	}
	if _, err := Send(context.Background(), src.open(t), ext, r.target("5", nil), testOptions("precopy", "")); err != nil {
		t.Fatal(err)
	}
	sameContent(t, src.path, d.path)
}

// TestNewStreamTakesOver: a stream the receiver still reads (its sender
// gone without a close) is stopped by the next one for the disk, which
// resumes after what the stale one verified.
func TestNewStreamTakesOver(t *testing.T) {
	r := newRig(t, ReceiverConfig{Grace: 50 * time.Millisecond})
	d := r.disk("6", testSize)
	ext := []Extent{{0, 1 << 20}}
	src := newSource(t, testSize, ext, random, 6)
	body := captureStream(t, src, ext, testOptions("precopy", ""))
	// The stale stream: its header and first frames, then silence.
	pr, pw := io.Pipe()
	stale := make(chan error, 1)
	go func() {
		_, err := r.target("6", nil).Put(context.Background(), pr)
		stale <- err
	}()
	pw.Write(body[:150<<10])
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.mu.Lock()
		n := len(d.progress)
		d.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale stream's first chunks never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	o := testOptions("precopy", "")
	o.Log = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	res, err := Send(context.Background(), src.open(t), ext, r.target("6", nil), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-stale; !errors.Is(err, ErrBusy) {
		t.Fatalf("the stale stream ended with %v; want %v", err, ErrBusy)
	}
	pw.Close()
	sameContent(t, src.path, d.path)
	if res.Streams != 1 || res.Resumed != 1 || res.Sent != Bytes(ext)-2*testChunk {
		t.Fatalf("result %+v; want one stream, resumed after the stale stream's 2 chunks", res)
	}
}

// captureStream returns the body a sender makes for a fresh receiver.
func captureStream(t testing.TB, src *source, ext []Extent, o Options) []byte {
	t.Helper()
	c := &capture{}
	o.Retries = 1
	Send(context.Background(), src.open(t), ext, c, o)
	if len(c.body) == 0 {
		t.Fatal("no stream captured")
	}
	return c.body
}

type capture struct{ body []byte }

func (c *capture) Have(context.Context) (Have, error) { return Have{}, nil }

func (c *capture) Put(_ context.Context, body io.Reader) (Have, error) {
	b, err := io.ReadAll(body)
	c.body = b
	if err != nil {
		return Have{}, err
	}
	return Have{}, ErrUnknownDisk // captured: stop the sender
}

// TestRate: a pass throttled to 2 MiB/s takes the time its bytes past the
// burst need at that rate.
func TestRate(t *testing.T) {
	r := newRig(t, ReceiverConfig{})
	r.disk("8", testSize)
	ext := []Extent{{0, 1 << 20}}
	src := newSource(t, testSize, ext, random, 8)
	o := testOptions("precopy", "")
	o.Rate = 2 << 20
	var last Progress
	o.Progress = func(p Progress) { last = p }
	start := time.Now()
	if _, err := Send(context.Background(), src.open(t), ext, r.target("8", nil), o); err != nil {
		t.Fatal(err)
	}
	// A burst of a quarter second's bytes (512 KiB), then 512 KiB at 2 MiB/s.
	if el := time.Since(start); el < 240*time.Millisecond {
		t.Fatalf("1 MiB at 2 MiB/s took %v; want at least 250 ms after the burst", el)
	}
	if last.Rate > 2*float64(o.Rate) || last.Rate <= 0 || last.ETA != 0 {
		t.Fatalf("last progress %+v; want a rate near %d B/s and no time left", last, o.Rate)
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestOutlastsServerTimeouts: a stream longer than the listener's read
// and write timeouts (the agent's are sized for API calls) completes.
func TestOutlastsServerTimeouts(t *testing.T) {
	r := newRigWith(t, ReceiverConfig{}, func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	})
	d := r.disk("2", testSize)
	ext := []Extent{{0, 1 << 20}}
	src := newSource(t, testSize, ext, random, 2)
	o := testOptions("precopy", "")
	o.Rate = 2 << 20 // 1 MiB: about 250 ms past the burst
	o.Retries = 1
	res, err := Send(context.Background(), src.open(t), ext, r.target("2", nil), o)
	if err != nil || res.Streams != 1 {
		t.Fatalf("Send = %+v, %v; want one stream", res, err)
	}
	sameContent(t, src.path, d.path)
}

// TestOverHTTP2: over TLS with HTTP/2, as the agents' listener may serve
// it, a pass completes, and a stale stream is taken over (deadlines are
// per stream there, not per connection).
func TestOverHTTP2(t *testing.T) {
	r := newRigWith(t, ReceiverConfig{Grace: 50 * time.Millisecond}, func(*http.Server) {})
	r.srv.Close()
	r.srv = httptest.NewUnstartedServer(r.srv.Config.Handler)
	r.srv.EnableHTTP2 = true
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	d := r.disk("3", testSize)
	if resp, err := r.srv.Client().Get(r.srv.URL + "/migration/v1/disk/3"); err != nil || resp.ProtoMajor != 2 {
		t.Fatalf("GET = %v, %v; want an HTTP/2 answer", resp, err)
	} else {
		resp.Body.Close()
	}
	ext := []Extent{{0, 1 << 20}}
	src := newSource(t, testSize, ext, random, 3)
	body := captureStream(t, src, ext, testOptions("precopy", ""))
	pr, pw := io.Pipe()
	stale := make(chan error, 1)
	go func() {
		_, err := r.target("3", nil).Put(context.Background(), pr)
		stale <- err
	}()
	pw.Write(body[:150<<10])
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		d.mu.Lock()
		n := len(d.progress)
		d.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale stream's first chunks never arrived")
		}
	}
	res, err := Send(context.Background(), src.open(t), ext, r.target("3", nil), testOptions("precopy", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-stale; !errors.Is(err, ErrBusy) {
		t.Fatalf("the stale stream ended with %v; want %v", err, ErrBusy)
	}
	pw.Close()
	sameContent(t, src.path, d.path)
	if res.Streams != 1 || res.Resumed != 1 {
		t.Fatalf("result %+v; want one stream resumed after the stale one's chunks", res)
	}
}

package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Target is the receiving end of one disk's transfer: HTTPTarget on the
// wire, a Receiver directly in tests.
type Target interface {
	// Have returns what the receiver holds of the disk.
	Have(ctx context.Context) (Have, error)
	// Put sends one stream and returns what the receiver holds after it.
	Put(ctx context.Context, body io.Reader) (Have, error)
}

// Options of one pass.
type Options struct {
	// Pass names the pass (e.g. "precopy", "delta"); a resumed stream
	// must carry the same pass and extents.
	Pass string
	// Base is the pass the receiver must have completed first ("" for a
	// fresh volume).
	Base string
	// Size is the disk's size in bytes.
	Size int64
	// ChunkSize is a power of two from MinChunkSize to MaxChunkSize
	// (default DefaultChunkSize).
	ChunkSize int64
	// Limiter, shared by every pass the agent sends, caps the bytes they
	// put on the wire together; without it, Rate caps this pass's alone
	// (0: no cap).
	Limiter *Limiter
	Rate    int64
	// NoCompress sends every non-zero chunk raw (data known not to
	// compress, or a link faster than the compressor).
	NoCompress bool
	// MaxExtents is the most extents a pass's header carries (default
	// DefaultMaxExtents, what a Receiver takes by default); more are
	// coarsened to fit.
	MaxExtents int
	// Progress is called after each chunk handed to the connection.
	Progress func(Progress)
	// Retries is how many failed streams in a row, without the receiver
	// advancing in between, end the pass (default 8). A cut connection
	// that moved the receiver on does not count.
	Retries int
	// Backoff is the first wait before sending again (default 200 ms),
	// doubled per failure in a row up to MaxBackoff (default 15 s).
	Backoff, MaxBackoff time.Duration
	// Log gets a warning per failed stream (default: discarded).
	Log *slog.Logger
}

// DefaultChunkSize is 4 MiB: a thin pool's or btrfs's allocation unit
// divides it, so the chunks of allocated extents stay whole.
const DefaultChunkSize = 4 << 20

// Result is what a pass took.
type Result struct {
	// Have is the receiver's final state (Complete).
	Have Have
	// Digest is the pass's end-to-end digest, as both sides computed it.
	Digest [32]byte
	// Wire is the bytes put on the wire over every stream of the pass
	// (what a throttle and a link see); Sent is the data bytes those
	// streams carried, resent ones included.
	Wire, Sent int64
	// Streams is the streams sent; Resumed those that began past 0.
	Streams, Resumed int
}

// Send sends a pass: the data of src over extents (normalised first) to
// dst, resuming where the receiver stopped until it holds the whole pass
// with matching digests, the retries run out, a refusal that resending
// cannot change arrives, or ctx ends.
func Send(ctx context.Context, src io.ReaderAt, extents []Extent, dst Target, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	ext, err := Normalize(extents, o.Size)
	if err != nil {
		return Result{}, err
	}
	// A fragmented volume (data in scattered file-system blocks) can
	// list more extents than a receiver takes in one header: send them
	// coarser, holes between close ones read as zeros.
	for g := int64(MinChunkSize); len(ext) > o.MaxExtents && g <= o.ChunkSize; g *= 2 {
		ext = Coarsen(ext, g, o.Size)
	}
	if len(ext) > o.MaxExtents {
		return Result{}, fmt.Errorf("extents: %d in whole chunks, at most %d in a pass: use a larger chunk size", len(ext), o.MaxExtents)
	}
	s := &sender{src: src, ext: ext, o: o, total: Bytes(ext), xd: extentsDigest(ext), zero: make([]byte, o.ChunkSize)}
	s.zeroSum = sha256.Sum256(s.zero)
	s.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return Result{}, err
	}
	defer s.enc.Close()
	s.limiter = o.Limiter
	if s.limiter == nil && o.Rate > 0 {
		s.limiter = NewLimiter(o.Rate)
	}
	return s.run(ctx, dst)
}

func (o *Options) defaults() error {
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	h := header{Pass: o.Pass, Base: o.Base, Size: o.Size, ChunkSize: o.ChunkSize}
	if err := h.check(0); err != nil {
		return err
	}
	if o.Rate < 0 {
		return fmt.Errorf("rate %d: must not be negative (0 is no cap)", o.Rate)
	}
	if o.MaxExtents <= 0 {
		o.MaxExtents = DefaultMaxExtents
	}
	if o.Retries <= 0 {
		o.Retries = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

type sender struct {
	src     io.ReaderAt
	ext     []Extent
	o       Options
	total   int64
	xd      string
	zero    []byte
	zeroSum [32]byte
	enc     *zstd.Encoder
	limiter *Limiter
	buf     []byte
	cbuf    []byte
	res     Result
	// skip is the chunks still to send raw untried; misses the length
	// of the last skip (see encode).
	skip, misses int
}

func (s *sender) run(ctx context.Context, dst Target) (Result, error) {
	fails, lastDone := 0, int64(-1)
	for {
		have, err := dst.Have(ctx)
		if err == nil {
			if have.Pass == s.o.Pass && have.Done > lastDone {
				fails, lastDone = 0, have.Done
			}
			var start int64
			if have.Pass == s.o.Pass && have.Extents == s.xd {
				if have.Complete {
					s.res.Have = have
					return s.res, nil
				}
				start = have.Done
			}
			have, err = s.stream(ctx, dst, start)
			if err == nil {
				s.res.Have = have
				return s.res, nil
			}
		}
		if ctx.Err() != nil {
			return s.res, fmt.Errorf("pass %q: %w", s.o.Pass, context.Cause(ctx))
		}
		if !retryable(err) {
			return s.res, fmt.Errorf("pass %q: %w", s.o.Pass, err)
		}
		if fails++; fails > s.o.Retries {
			return s.res, fmt.Errorf("pass %q: %d streams in a row failed without progress, the last: %w", s.o.Pass, fails, err)
		}
		wait := s.o.Backoff << min(fails-1, 20)
		if errors.Is(err, ErrStartMismatch) {
			wait = 0 // the receiver moved on: ask again now
		}
		wait = min(wait, s.o.MaxBackoff)
		s.o.Log.Warn("transfer stream failed, sending again", "pass", s.o.Pass, "attempt", fails, "wait", wait, "err", err)
		if err := sleepCtx(ctx, wait); err != nil {
			return s.res, fmt.Errorf("pass %q: %w", s.o.Pass, context.Cause(ctx))
		}
	}
}

// stream sends the pass from start in one Put; the frames are made on
// their own goroutine, so reading and compressing overlap the writes.
func (s *sender) stream(ctx context.Context, dst Target, start int64) (Have, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.res.Streams++
	if start > 0 {
		s.res.Resumed++
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := s.produce(ctx, pw, start)
		pw.CloseWithError(err)
		done <- err
	}()
	have, err := dst.Put(ctx, pr)
	pr.CloseWithError(errors.New("the stream ended"))
	cancel()
	perr := <-done
	if errors.Is(perr, ErrSource) {
		return have, perr
	}
	if err != nil {
		return have, err
	}
	if !have.Complete {
		return have, fmt.Errorf("the receiver answered without completing the pass (done %d of %d): %w", have.Done, have.Total, ErrBadStream)
	}
	return have, nil
}

// produce writes one stream from start to w.
func (s *sender) produce(ctx context.Context, w io.Writer, start int64) error {
	d := newDigest(s.o.Pass, s.o.Size, s.o.ChunkSize, s.ext)
	it := newChunks(s.ext, s.o.ChunkSize)
	if err := it.skipTo(start, func(ch Extent) error {
		data, err := s.read(ch)
		if err != nil {
			return err
		}
		addChunk(d, ch, s.sum(data, bytes.Equal(data, s.zero[:len(data)])))
		return nil
	}); err != nil {
		return err
	}
	cw := &countWriter{w: w, n: &s.res.Wire}
	if _, err := writeHeader(cw, &header{Pass: s.o.Pass, Base: s.o.Base, Size: s.o.Size, ChunkSize: s.o.ChunkSize, Extents: s.ext, Start: start}); err != nil {
		return err
	}
	m := newMeter(s.o.Pass, s.total, start, s.o.Progress)
	wire0 := s.res.Wire
	done := start
	var head []byte
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks, free := s.readAhead(ctx, it)
	for c := range chunks {
		if c.err != nil {
			return c.err
		}
		ch, data := c.ch, c.data
		zero := bytes.Equal(data, s.zero[:len(data)])
		sum := s.sum(data, zero)
		addChunk(d, ch, sum)
		kind, payload := s.encode(data, zero)
		head = appendFrame(head[:0], kind, ch, &sum, len(payload))
		if err := s.limiter.Wait(ctx, int64(len(head)+len(payload))); err != nil {
			return err
		}
		if _, err := cw.Write(head); err != nil {
			return err
		}
		if _, err := cw.Write(payload); err != nil {
			return err
		}
		free <- data
		done += ch.Len
		s.res.Sent += ch.Len
		m.report(done, s.res.Wire-wire0)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	copy(s.res.Digest[:], d.Sum(nil))
	_, err := cw.Write(append([]byte{frameEnd}, s.res.Digest[:]...))
	return err
}

// readDepth is how many chunks a stream reads ahead of the one it
// hashes and sends: the source's latency (a disk, not the page cache)
// overlaps the work on the chunks before.
const readDepth = 2

type readChunk struct {
	ch   Extent
	data []byte
	err  error
}

// readAhead reads the chunks left in it on its own goroutine into
// readDepth+1 buffers; the consumer hands each buffer back on free when
// done with it. The channel closes after the last chunk, a read error
// (sent as the last item), or ctx's end.
func (s *sender) readAhead(ctx context.Context, it *chunks) (<-chan readChunk, chan<- []byte) {
	out := make(chan readChunk, readDepth)
	free := make(chan []byte, readDepth+1)
	for range readDepth + 1 {
		free <- make([]byte, s.o.ChunkSize)
	}
	go func() {
		defer close(out)
		for ch, ok := it.next(); ok; ch, ok = it.next() {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			c := readChunk{ch: ch, data: buf[:ch.Len]}
			if n, err := s.src.ReadAt(c.data, ch.Off); n < len(c.data) {
				c.err = fmt.Errorf("reading %d bytes at %d: %w: %w", ch.Len, ch.Off, ErrSource, err)
			}
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
			if c.err != nil {
				return
			}
		}
	}()
	return out, free
}

func (s *sender) read(ch Extent) ([]byte, error) {
	if int64(cap(s.buf)) < ch.Len {
		s.buf = make([]byte, s.o.ChunkSize)
	}
	b := s.buf[:ch.Len]
	if n, err := s.src.ReadAt(b, ch.Off); n < len(b) {
		return nil, fmt.Errorf("reading %d bytes at %d: %w: %w", ch.Len, ch.Off, ErrSource, err)
	}
	return b, nil
}

// sum is a chunk's SHA-256; a whole chunk of zeros has it precomputed.
func (s *sender) sum(data []byte, zero bool) [32]byte {
	if zero && len(data) == len(s.zero) {
		return s.zeroSum
	}
	return sha256.Sum256(data)
}

// encode picks a chunk's frame: a zero marker, zstd when it saves more
// than 1/32 of the chunk, else the raw bytes (decompressing costs the
// receiver more than those few bytes cost the wire). Data that did not
// compress (encrypted, already compressed) is not tried again for a while,
// doubling per failure up to maxSkip chunks: trying costs as much CPU as
// hashing, for nothing.
func (s *sender) encode(data []byte, zero bool) (byte, []byte) {
	if zero {
		return frameZero, nil
	}
	if s.o.NoCompress {
		return frameRaw, data
	}
	if s.skip > 0 {
		s.skip--
		return frameRaw, data
	}
	s.cbuf = s.enc.EncodeAll(data, s.cbuf[:0])
	if len(s.cbuf) < len(data)-len(data)/32 {
		s.misses = 0
		return frameZstd, s.cbuf
	}
	s.misses = min(s.misses*2+1, maxSkip)
	s.skip = s.misses
	return frameRaw, data
}

// maxSkip is the most chunks sent raw without trying zstd after data
// that did not compress (256 MiB of 4 MiB chunks).
const maxSkip = 64

// countWriter counts what passes into n.
type countWriter struct {
	w io.Writer
	n *int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

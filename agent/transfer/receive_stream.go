package transfer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"time"
)

// receive takes one stream for disk id.
func (rc *Receiver) receive(w http.ResponseWriter, r *http.Request, id string) (Have, error) {
	ctx := r.Context()
	disk, err := rc.res.Disk(ctx, id)
	if err != nil {
		return Have{}, err
	}
	dl := &deadline{rc: http.NewResponseController(w), idle: rc.cfg.IdleTimeout}
	// Before waiting for the disk: a deadline already passed (the
	// listener's read timeout) cannot be extended.
	dl.rc.SetReadDeadline(time.Now().Add(rc.cfg.Grace + rc.cfg.StopWait + rc.cfg.IdleTimeout))
	release, err := rc.claim(ctx, id, dl.stop)
	if err != nil {
		return Have{}, err
	}
	defer release()
	if err := dl.refresh(); err != nil {
		return Have{}, err
	}
	body := &countReader{r: r.Body}
	br := bufio.NewReaderSize(body, 1<<20)
	h, err := readHeader(br, rc.cfg.MaxHeaderBytes)
	if err != nil {
		return Have{}, fmt.Errorf("%w: %w", ErrBadStream, err)
	}
	if err := h.check(rc.cfg.MaxExtents); err != nil {
		return Have{}, fmt.Errorf("%w: %w", ErrBadStream, err)
	}
	switch {
	case disk.UpTo > 0 && h.Size > disk.UpTo:
		return Have{}, fmt.Errorf("size %d: the file may hold at most %d bytes: %w", h.Size, disk.UpTo, ErrConflict)
	case disk.UpTo <= 0 && h.Size != disk.Size:
		return Have{}, fmt.Errorf("size %d: the disk is %d bytes: %w", h.Size, disk.Size, ErrConflict)
	}
	st, d, err := rc.begin(ctx, disk.Journal, h)
	if err != nil || st.Complete {
		return st.Have, err
	}
	vol, err := disk.Open(ctx)
	if err != nil {
		return st.Have, fmt.Errorf("opening the volume of disk %s: %w", id, err)
	}
	defer vol.Close()
	s := &stream{rc: rc, h: h, vol: vol, journal: disk.Journal, st: st, d: d, br: br, body: body, dl: dl,
		meter: newMeter(h.Pass, st.Total, st.Done, disk.Progress), lastCk: time.Now()}
	err = s.run(ctx)
	if err != nil {
		// Keep what verified: the sender resumes after it. The request's
		// context may be gone with its connection; the save must not be.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if cerr := s.checkpoint(cctx); cerr != nil {
			err = fmt.Errorf("%w (and keeping what arrived: %v)", err, cerr)
		}
		cancel()
	}
	return s.st.Have, err
}

// stream is one stream being received.
type stream struct {
	rc      *Receiver
	h       *header
	vol     Volume
	journal Journal
	st      State
	d       hash.Hash
	br      *bufio.Reader
	body    *countReader
	dl      *deadline
	meter   *meter
	buf     []byte // frame data
	out     []byte // decompressed chunk
	sinceCk int64
	lastCk  time.Time
	zsum    *[32]byte // SHA-256 of a whole chunk of zeros, once needed
}

func (s *stream) zeroSum(n int64) [32]byte {
	if n != s.h.ChunkSize {
		return sha256.Sum256(s.rc.zero[:n])
	}
	if s.zsum == nil {
		sum := sha256.Sum256(s.rc.zero[:n])
		s.zsum = &sum
	}
	return *s.zsum
}

func (s *stream) run(ctx context.Context) error {
	it := newChunks(s.h.Extents, s.h.ChunkSize)
	if err := it.skipTo(s.st.Done, func(Extent) error { return nil }); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStream, err)
	}
	s.out = make([]byte, s.h.ChunkSize)
	for {
		if err := s.dl.refresh(); err != nil {
			return err
		}
		f, buf, err := readFrame(s.br, s.buf, s.h.ChunkSize)
		s.buf = buf
		if err != nil {
			if s.dl.stopped.Load() {
				return fmt.Errorf("after %d of %d bytes, a newer stream for the disk took over: %w", s.st.Done, s.st.Total, ErrBusy)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("after %d of %d bytes, no frame for %v: %w", s.st.Done, s.st.Total, s.rc.cfg.IdleTimeout, errTruncated)
			}
			if err == errTruncated {
				return fmt.Errorf("after %d of %d bytes: %w", s.st.Done, s.st.Total, err)
			}
			return fmt.Errorf("%w: %w", ErrBadStream, err)
		}
		want, more := it.next()
		if f.kind == frameEnd {
			if more {
				return fmt.Errorf("end frame after %d of %d bytes: %w", s.st.Done, s.st.Total, ErrBadStream)
			}
			return s.finish(ctx, f.sum)
		}
		if !more || f.chunk != want {
			return fmt.Errorf("frame %d+%d: expected %d+%d (more %v): %w", f.chunk.Off, f.chunk.Len, want.Off, want.Len, more, ErrBadStream)
		}
		if err := s.apply(f); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.sinceCk >= s.rc.cfg.CheckpointBytes || time.Since(s.lastCk) >= s.rc.cfg.CheckpointEvery {
			if err := s.checkpoint(ctx); err != nil {
				return err
			}
		}
	}
}

// apply verifies one chunk and writes it.
func (s *stream) apply(f frame) error {
	ch := f.chunk
	var data []byte
	switch f.kind {
	case frameZero:
		data = s.rc.zero[:ch.Len]
		f.sum = s.zeroSum(ch.Len)
	case frameRaw:
		data = f.data
	case frameZstd:
		out, err := s.rc.dec.DecodeAll(f.data, s.out[:0:ch.Len])
		if err != nil {
			return fmt.Errorf("chunk at %d: decompressing: %v: %w", ch.Off, err, ErrBadStream)
		}
		data = out
	}
	if int64(len(data)) != ch.Len {
		return fmt.Errorf("chunk at %d: %d bytes, expected %d: %w", ch.Off, len(data), ch.Len, ErrBadStream)
	}
	if f.kind != frameZero && sha256.Sum256(data) != f.sum {
		return fmt.Errorf("chunk at %d: its data does not match its SHA-256: %w", ch.Off, ErrBadStream)
	}
	var err error
	switch z, ok := s.vol.(ZeroWriterAt); {
	case f.kind == frameZero && s.h.Base == "":
		// A pass on a fresh volume: it reads zeros there already, and a
		// thin one stays unallocated. (A chunk of this pass written before
		// a crash held the same zeros: the source is a snapshot.)
	case f.kind == frameZero && ok:
		err = z.ZeroAt(ch.Off, ch.Len)
	default:
		_, err = s.vol.WriteAt(data, ch.Off)
	}
	if err != nil {
		return fmt.Errorf("writing chunk at %d: %w", ch.Off, err)
	}
	addChunk(s.d, ch, f.sum)
	s.st.Done += ch.Len
	s.sinceCk += ch.Len
	s.meter.report(s.st.Done, s.body.n)
	return nil
}

// checkpoint syncs the volume, then saves the state: the resume point
// never passes data a crash could lose.
func (s *stream) checkpoint(ctx context.Context) error {
	if err := s.vol.Sync(); err != nil {
		return fmt.Errorf("syncing the volume: %w", err)
	}
	if err := save(ctx, s.journal, &s.st, s.d); err != nil {
		return err
	}
	s.sinceCk, s.lastCk = 0, time.Now()
	return nil
}

// finish compares the digests and completes the pass.
func (s *stream) finish(ctx context.Context, theirs [32]byte) error {
	var ours [32]byte
	copy(ours[:], s.d.Sum(nil))
	if ours != theirs {
		return fmt.Errorf("pass %q: receiver %x, sender %x: %w", s.h.Pass, ours[:8], theirs[:8], ErrDigest)
	}
	if err := s.vol.Sync(); err != nil {
		return fmt.Errorf("syncing the volume: %w", err)
	}
	s.st.Complete = true
	if err := save(ctx, s.journal, &s.st, s.d); err != nil {
		s.st.Complete = false
		return err
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

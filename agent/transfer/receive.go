package transfer

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Volume is the receiving volume, opened for one stream: *os.File is one.
type Volume interface {
	io.WriterAt
	// Sync makes what was written durable: the receiver's resume point
	// never moves past data a crash could lose.
	Sync() error
	Close() error
}

// ZeroWriterAt is a Volume that can make a range read as zeros without
// allocating it (a punched hole, a discard). A volume without it gets
// zeros written.
type ZeroWriterAt interface {
	ZeroAt(off, n int64) error
}

// Disk is one disk a receiver expects, as its Resolver finds it.
type Disk struct {
	// Size is the volume's size in bytes; a stream for another size is
	// refused.
	Size int64
	// UpTo, when set instead of Size, takes a stream of any size up to
	// it: a file whose size only the sender knows, and late (a domain's
	// saved memory, written once the domain paused).
	UpTo int64
	// Journal keeps the receive state.
	Journal Journal
	// Open opens the volume for writing.
	Open func(ctx context.Context) (Volume, error)
	// Progress, if set, is called after each verified chunk written.
	Progress func(Progress)
}

// Resolver finds the disk a request names. The request has been
// authorised already (the migration handler checks its ticket before the
// Receiver sees it); ctx is the request's. ErrUnknownDisk for a disk the
// transfer does not cover.
type Resolver interface {
	Disk(ctx context.Context, id string) (Disk, error)
}

// ReceiverConfig bounds a Receiver; zero fields take the defaults.
type ReceiverConfig struct {
	// CheckpointBytes and CheckpointEvery: how much data, or how long,
	// between syncs of the volume and saves of the state (default 256 MiB,
	// 5 s): what a crash of the receiver makes the sender send again.
	CheckpointBytes int64
	CheckpointEvery time.Duration
	// IdleTimeout ends a stream that sends no frame for so long (default
	// 60 s): a sender gone without closing its connection does not hold
	// the disk.
	IdleTimeout time.Duration
	// Grace is how long a new stream (or a sender's GET) lets the one
	// before it run on before stopping it (default 1 s): a cut stream
	// then takes in what reached its socket. StopWait is how long it
	// then waits for that stream to stop and checkpoint (default 30 s),
	// then ErrBusy.
	Grace, StopWait time.Duration
	// MaxHeaderBytes and MaxExtents bound a stream's header (default
	// 64 MiB, DefaultMaxExtents).
	MaxHeaderBytes int64
	MaxExtents     int
}

func (c *ReceiverConfig) defaults() {
	if c.CheckpointBytes <= 0 {
		c.CheckpointBytes = 256 << 20
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 5 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = time.Minute
	}
	if c.Grace <= 0 {
		c.Grace = time.Second
	}
	if c.StopWait <= 0 {
		c.StopWait = 30 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 20
	}
	if c.MaxExtents <= 0 {
		c.MaxExtents = DefaultMaxExtents
	}
}

// Receiver is the target's end: mounted as
// "/migration/v1/disk/{id}" behind the ticket check, it answers GET with
// the disk's resume point (Resume) and takes a stream with PUT. One
// stream per disk at a time: a new one, or a GET, stops the one before (a
// sender resuming over a connection the receiver has not yet seen die).
type Receiver struct {
	res    Resolver
	cfg    ReceiverConfig
	log    *slog.Logger
	dec    *zstd.Decoder
	zero   []byte
	mu     sync.Mutex
	active map[string]*active
}

type active struct {
	stop func()
	done chan struct{}
}

// NewReceiver makes a Receiver over res.
func NewReceiver(res Resolver, cfg ReceiverConfig, log *slog.Logger) (*Receiver, error) {
	cfg.defaults()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(2*MaxChunkSize),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, err
	}
	return &Receiver{res: res, cfg: cfg, log: log, dec: dec, zero: make([]byte, MaxChunkSize), active: map[string]*active{}}, nil
}

// Have returns what the receiver holds of a disk as last saved (the
// migration's state endpoint), leaving a running stream alone.
func (rc *Receiver) Have(ctx context.Context, id string) (Have, error) {
	d, err := rc.res.Disk(ctx, id)
	if err != nil {
		return Have{}, err
	}
	st, err := d.Journal.Load(ctx)
	return st.Have, err
}

// Resume is Have for a sender about to resume (GET): a stream still
// being received for the disk is stopped first, and its last verified
// chunk saved, so the answer is where the next stream can start. A sender
// asks only when it holds its last stream for dead; the receiver may not
// have seen that connection die yet.
func (rc *Receiver) Resume(ctx context.Context, id string) (Have, error) {
	if _, err := rc.res.Disk(ctx, id); err != nil {
		return Have{}, err
	}
	release, err := rc.claim(ctx, id, func() {})
	if err != nil {
		return Have{}, err
	}
	release()
	return rc.Have(ctx, id)
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// A stream lasts as long as its data takes, past the listener's read
	// and write timeouts (sized for API calls): the receiver keeps its
	// own deadlines, the read one per frame (deadline) and this one for
	// the answer.
	ctl := http.NewResponseController(w)
	switch r.Method {
	case http.MethodGet:
		have, err := rc.Resume(r.Context(), id)
		ctl.SetWriteDeadline(time.Now().Add(rc.cfg.IdleTimeout))
		answer(w, have, err)
	case http.MethodPut:
		have, err := rc.receive(w, r, id)
		if err != nil {
			rc.log.Warn("transfer stream refused", "disk", id, "pass", have.Pass, "done", have.Done, "err", err)
		}
		ctl.SetWriteDeadline(time.Now().Add(rc.cfg.IdleTimeout))
		answer(w, have, err)
	default:
		w.Header().Set("Allow", "GET, PUT")
		answer(w, Have{}, fmt.Errorf("method %s: %w", r.Method, errMethod))
	}
}

var errMethod = errors.New("only GET and PUT are served")

func answer(w http.ResponseWriter, have Have, err error) {
	status, body := http.StatusOK, any(have)
	switch {
	case err == nil:
	case errors.Is(err, errMethod):
		status = http.StatusMethodNotAllowed
	case errors.Is(err, ErrUnknownDisk):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, ErrStartMismatch), errors.Is(err, ErrBusy):
		status = http.StatusConflict
	case errors.Is(err, ErrBadStream), errors.Is(err, errTruncated):
		status = http.StatusBadRequest
	case errors.Is(err, ErrDigest):
		status = http.StatusUnprocessableEntity
	default:
		status = http.StatusInternalServerError
	}
	if err != nil {
		body = map[string]any{"error": err.Error(), "code": codeOf(err), "have": have}
	}
	b, _ := json.Marshal(body)
	// A length, not chunks: a refused stream's connection is closed
	// after the answer, and the sender must not wait for that close to
	// know the answer ended.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// claim makes the stream the disk's only one, stopping the one before.
func (rc *Receiver) claim(ctx context.Context, id string, stop func()) (release func(), err error) {
	mine := &active{stop: stop, done: make(chan struct{})}
	for {
		rc.mu.Lock()
		a := rc.active[id]
		if a == nil {
			rc.active[id] = mine
			rc.mu.Unlock()
			return func() {
				rc.mu.Lock()
				delete(rc.active, id)
				rc.mu.Unlock()
				close(mine.done)
			}, nil
		}
		rc.mu.Unlock()
		// A stream whose connection died may still hold verified data in
		// its buffers: let it take that in before stopping it.
		grace := time.NewTimer(rc.cfg.Grace)
		select {
		case <-a.done:
			grace.Stop()
			continue
		case <-grace.C:
		case <-ctx.Done():
			grace.Stop()
			return nil, ctx.Err()
		}
		a.stop()
		t := time.NewTimer(rc.cfg.StopWait)
		select {
		case <-a.done:
			t.Stop()
		case <-t.C:
			return nil, fmt.Errorf("disk %s: %w", id, ErrBusy)
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// deadline refreshes a stream's read deadline before each frame, unless
// a newer stream stopped it (its deadline then stays in the past).
type deadline struct {
	rc      *http.ResponseController
	idle    time.Duration
	stopped atomic.Bool
}

func (d *deadline) stop() {
	d.stopped.Store(true)
	d.rc.SetReadDeadline(time.Unix(1, 0))
}

func (d *deadline) refresh() error {
	if d.stopped.Load() {
		return fmt.Errorf("a newer stream for the disk took over: %w", ErrBusy)
	}
	d.rc.SetReadDeadline(time.Now().Add(d.idle))
	if d.stopped.Load() {
		d.rc.SetReadDeadline(time.Unix(1, 0))
	}
	return nil
}

// begin decides whether the stream may go on from what the receiver
// holds, and returns the state and digest to continue from.
func (rc *Receiver) begin(ctx context.Context, j Journal, h *header) (State, hash.Hash, error) {
	st, err := j.Load(ctx)
	if err != nil {
		return st, nil, fmt.Errorf("loading the receive state: %w", err)
	}
	xd := extentsDigest(h.Extents)
	if st.Pass == h.Pass {
		switch {
		case st.Extents != xd:
			return st, nil, fmt.Errorf("pass %q was begun with another extent list: %w", h.Pass, ErrConflict)
		case st.Complete:
			return st, nil, nil
		}
		if h.Start != st.Done {
			return st, nil, fmt.Errorf("start %d: the receiver holds %d: %w", h.Start, st.Done, ErrStartMismatch)
		}
		d := sha256.New()
		if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Digest); err != nil {
			return st, nil, fmt.Errorf("restoring the digest of pass %q: %w", h.Pass, err)
		}
		return st, d, nil
	}
	switch {
	case st.Pass == "" && h.Base != "":
		return st, nil, fmt.Errorf("base %q: the receiver holds no pass: %w", h.Base, ErrConflict)
	case st.Pass != "" && !st.Complete:
		return st, nil, fmt.Errorf("pass %q: the receiver holds pass %q half-received, and cannot tell what of it to undo: %w", h.Pass, st.Pass, ErrConflict)
	case st.Pass != "" && h.Base != st.Pass:
		return st, nil, fmt.Errorf("base %q: the receiver completed pass %q: %w", h.Base, st.Pass, ErrConflict)
	case h.Start != 0:
		return st, nil, fmt.Errorf("start %d: a new pass starts at 0: %w", h.Start, ErrStartMismatch)
	}
	d := newDigest(h.Pass, h.Size, h.ChunkSize, h.Extents)
	st = State{Have: Have{Pass: h.Pass, Extents: xd, Total: Bytes(h.Extents)}}
	// Saved before the first write: from now on the volume holds data of
	// this pass, and no other pass may begin over it unless this one ends.
	if err := save(ctx, j, &st, d); err != nil {
		return st, nil, err
	}
	return st, d, nil
}

func save(ctx context.Context, j Journal, st *State, d hash.Hash) error {
	b, err := d.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	st.Digest = b
	if err := j.Save(ctx, *st); err != nil {
		return fmt.Errorf("saving the receive state: %w", err)
	}
	return nil
}

package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Prefix is where the endpoints live.
const Prefix = "/migration/v1/"

// Target is what the endpoints need of the agent: agent/service's
// migration calls, each authenticated by the ticket's secret.
type Target interface {
	MigrationBegin(ctx context.Context, secret string, b workflow.Bundle) (workflow.PeerState, error)
	MigrationState(ctx context.Context, secret string) (workflow.PeerState, error)
	IncomingDisk(ctx context.Context, secret string, diskID int64, pass string) (path string, have int64, err error)
	IncomingWritten(ctx context.Context, secret string, diskID int64, pass string, have int64) error
	MigrationPrepare(ctx context.Context, secret string) (workflow.PeerState, error)
	MigrationCommit(ctx context.Context, secret string, start bool) (workflow.PeerState, error)
	MigrationAbort(ctx context.Context, secret, why string) (workflow.PeerState, error)
}

// Config bounds the endpoints.
type Config struct {
	// MaxBodyBytes bounds the JSON bodies (begin's records, the others'
	// few fields); the disk stream is bounded by the disk's size.
	MaxBodyBytes int64
	// Guard, when set, runs each ticket's check under the listener's
	// bad-key back-off (the Gandi face's KeyCheck): a source guessing
	// tickets is slowed like one guessing API keys. A bad ticket is
	// reported to it as service.ErrBadKey.
	Guard func(r *http.Request, check func() error) error
}

// Handler serves /migration/v1/.
type Handler struct {
	t   Target
	cfg Config
	log *slog.Logger
}

// New makes the handler.
func New(t Target, cfg Config, log *slog.Logger) *Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	return &Handler{t: t, cfg: cfg, log: log}
}

// errorBody is every refusal's body: the phase is there when the
// migration's phase was the reason (409), so a source tells "aborted"
// from "committed" without reading the message.
type errorBody struct {
	Error string `json:"error"`
	Phase string `json:"phase,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Ticket ")
	if !ok || secret == "" {
		h.fail(w, r, "", service.Errorf(service.ObjMethod, service.KindNoRight, "Authorization: Ticket <secret> is required"))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, Prefix)
	ctx := r.Context()
	check := func() error {
		if _, err := h.t.MigrationState(ctx, secret); err != nil {
			if service.Classify(err).Kind == service.KindNoRight {
				return service.ErrBadKey
			}
			return err
		}
		return nil
	}
	if err := h.guarded(r, check); err != nil {
		if errors.Is(err, service.ErrBadKey) {
			h.fail(w, r, "", service.Errorf(service.ObjMethod, service.KindNoRight, "ticket: unknown or expired ticket"))
		} else {
			h.fail(w, r, "", service.Errorf(service.ObjMethod, service.KindRateLimit, "ticket: %v", err))
		}
		return
	}
	var st workflow.PeerState
	var err error
	switch {
	case path == "begin" && r.Method == http.MethodPost:
		var b workflow.Bundle
		if err = h.decode(w, r, &b); err == nil {
			st, err = h.t.MigrationBegin(ctx, secret, b)
		}
	case path == "state" && r.Method == http.MethodGet:
		st, err = h.t.MigrationState(ctx, secret)
	case path == "prepare" && r.Method == http.MethodPost:
		st, err = h.t.MigrationPrepare(ctx, secret)
	case path == "commit" && r.Method == http.MethodPost:
		var body struct {
			Start bool `json:"start"`
		}
		if err = h.decode(w, r, &body); err == nil {
			st, err = h.t.MigrationCommit(ctx, secret, body.Start)
		}
	case path == "abort" && r.Method == http.MethodPost:
		var body struct {
			Why string `json:"why"`
		}
		if err = h.decode(w, r, &body); err == nil {
			st, err = h.t.MigrationAbort(ctx, secret, body.Why)
		}
	case strings.HasPrefix(path, "disk/") && r.Method == http.MethodPut:
		h.disk(w, r, secret, strings.TrimPrefix(path, "disk/"))
		return
	default:
		http.Error(w, "no such endpoint", http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, secret, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Handler) guarded(r *http.Request, check func() error) error {
	if h.cfg.Guard == nil {
		return check()
	}
	return h.cfg.Guard(r, check)
}

// decode reads a bounded JSON body; an empty one is the zero value.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		return service.Errorf(service.ObjMethod, service.KindInvalid, "body: %v (at most %d bytes)", err, h.cfg.MaxBodyBytes)
	}
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return service.Errorf(service.ObjMethod, service.KindInvalid, "body: %v", err)
	}
	return nil
}

// status maps the service's errors to HTTP, once, here.
func status(e *service.Error) int {
	switch e.Kind {
	case service.KindMissing, service.KindInvalid:
		return http.StatusBadRequest
	case service.KindNoRight:
		return http.StatusForbidden
	case service.KindNotFound:
		return http.StatusNotFound
	case service.KindConflict, service.KindDuplicate:
		return http.StatusConflict
	case service.KindQuota:
		return http.StatusInsufficientStorage
	case service.KindRateLimit:
		return http.StatusTooManyRequests
	case service.KindBusy, service.KindUnavailable, service.KindTimeout:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, secret string, err error) {
	e := service.Classify(err)
	code := status(e)
	body := errorBody{Error: e.Msg}
	if code == http.StatusConflict && secret != "" {
		if st, serr := h.t.MigrationState(r.Context(), secret); serr == nil {
			body.Phase = st.Phase
		}
	}
	if code >= 500 {
		h.log.Warn("migration call failed", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Headers of the disk stream.
const (
	// HeaderSHA256 is the hex SHA-256 of a PUT's body: the target writes
	// it, and records it held, only if it matches.
	HeaderSHA256 = "X-Content-Sha256"
)

// MaxSegment bounds one PUT's body, which the target holds in memory to
// check it before writing.
const MaxSegment = 64 << 20

// disk is PUT /migration/v1/disk/{id}?pass=P&offset=N: the body is the
// disk's bytes from offset N of pass P, which must be where the target
// says it holds that pass (offset 0 starts the pass again). This is the
// plain full copy; room "transfer"'s chunk stream replaces it.
func (h *Handler) disk(w http.ResponseWriter, r *http.Request, secret, rawID string) {
	id, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rawID {
		h.fail(w, r, secret, service.Invalid(service.ObjDisk, "disk_id", "%q is not a disk id", rawID))
		return
	}
	q := r.URL.Query()
	pass := q.Get("pass")
	offset, err := strconv.ParseInt(q.Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		h.fail(w, r, secret, service.Invalid(service.ObjDisk, "offset", "must be a byte count"))
		return
	}
	want := r.Header.Get(HeaderSHA256)
	if len(want) != 64 {
		h.fail(w, r, secret, service.Missing(service.ObjDisk, HeaderSHA256))
		return
	}
	ctx := r.Context()
	path, have, err := h.t.IncomingDisk(ctx, secret, id, pass)
	if err != nil {
		h.fail(w, r, secret, err)
		return
	}
	if offset != 0 && offset != have {
		h.fail(w, r, secret, service.Errorf(service.ObjDisk, service.KindConflict, "offset: the target holds %d bytes of disk %d's %s pass; send from there or from 0", have, id, pass))
		return
	}
	// A disk takes longer than the listener's timeouts allow a request.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		h.fail(w, r, secret, fmt.Errorf("opening disk %d's volume: %w", id, err))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		h.fail(w, r, secret, err)
		return
	}
	limit := st.Size() - offset
	if st.Mode()&os.ModeDevice != 0 {
		limit = 1 << 62 // a block device's Stat size is 0; writes past its end fail
	}
	// The segment is checked before any of it is written: a body cut
	// short or damaged leaves the volume as it was (a precopy skips
	// zeros, so garbage written there would never be overwritten).
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSegment+1))
	switch {
	case err != nil:
		h.fail(w, r, secret, service.Errorf(service.ObjDisk, service.KindUnavailable, "disk %d: receiving: %v", id, err))
		return
	case int64(len(body)) > MaxSegment:
		h.fail(w, r, secret, service.Invalid(service.ObjDisk, "body", "a segment is at most %d bytes", MaxSegment))
		return
	case int64(len(body)) > limit:
		h.fail(w, r, secret, service.Invalid(service.ObjDisk, "body", "disk %d: more bytes than its volume holds (%d from %d)", id, limit, offset))
		return
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != strings.ToLower(want) {
		h.fail(w, r, secret, service.Invalid(service.ObjDisk, HeaderSHA256, "disk %d: the body does not match its digest: nothing written", id))
		return
	}
	// Only the precopy lands on a volume known to read zeros where
	// nothing was written; a delta overwrites what the precopy wrote.
	n, err := writeAt(f, offset, body, pass == workflow.PassPrecopy)
	if err != nil {
		h.fail(w, r, secret, fmt.Errorf("writing disk %d: %w", id, err))
		return
	}
	if err := f.Sync(); err != nil {
		h.fail(w, r, secret, fmt.Errorf("syncing disk %d: %w", id, err))
		return
	}
	if err := h.t.IncomingWritten(ctx, secret, id, pass, offset+n); err != nil {
		h.fail(w, r, secret, err)
		return
	}
	st2, err := h.t.MigrationState(ctx, secret)
	if err != nil {
		h.fail(w, r, secret, err)
		return
	}
	writeJSON(w, http.StatusOK, st2)
}

// writeAt writes b to f at off; with skipZeros, all-zero blocks of
// 64 KiB are left unwritten (a fresh volume reads zeros there, and stays
// sparse or thin).
func writeAt(f *os.File, off int64, b []byte, skipZeros bool) (int64, error) {
	const block = 64 << 10
	for i := 0; i < len(b); i += block {
		chunk := b[i:min(i+block, len(b))]
		if skipZeros && allZero(chunk) {
			continue
		}
		if _, err := f.WriteAt(chunk, off+int64(i)); err != nil {
			return 0, err
		}
	}
	return int64(len(b)), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Prefix is where the endpoints live.
const Prefix = "/migration/v1/"

// Target is what the endpoints need of the agent: agent/service's
// migration calls, each authenticated by the ticket's secret.
type Target interface {
	MigrationBegin(ctx context.Context, secret string, b workflow.Bundle) (workflow.PeerState, error)
	MigrationState(ctx context.Context, secret string) (workflow.PeerState, error)
	IncomingDisk(ctx context.Context, secret string, diskID int64) (service.IncomingVolume, error)
	IncomingMemory(ctx context.Context, secret string) (service.IncomingVolume, error)
	ReceiveState(ctx context.Context, secret string, diskID int64) (store.TicketReceive, error)
	SaveReceive(ctx context.Context, secret string, diskID int64, r store.TicketReceive) error
	IncomingProgress(ctx context.Context, secret string, diskID, done int64, rate float64) error
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
	// Long, when set, is called for a disk stream once its ticket is
	// checked: a stream lasts minutes, and the listener's connection
	// limits must not take it for a trickled body (cmd passes
	// connlimit.Long).
	Long func(ctx context.Context)
}

// Handler serves /migration/v1/.
type Handler struct {
	t   Target
	cfg Config
	log *slog.Logger
	rx  *transfer.Receiver // the disk streams (disk.go)
}

// New makes the handler.
func New(t Target, cfg Config, log *slog.Logger) (*Handler, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	h := &Handler{t: t, cfg: cfg, log: log}
	rx, err := transfer.NewReceiver(resolver{t}, transfer.ReceiverConfig{}, log)
	if err != nil {
		return nil, fmt.Errorf("migration: the disk receiver: %w", err)
	}
	h.rx = rx
	return h, nil
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
	case strings.HasPrefix(path, "disk/") && (r.Method == http.MethodPut || r.Method == http.MethodGet):
		// agent/transfer's stream (PUT) and resume point (GET), for the
		// ticket's disk: the resolver finds the ticket in the context.
		if h.cfg.Long != nil && r.Method == http.MethodPut {
			h.cfg.Long(ctx)
		}
		r = r.WithContext(context.WithValue(ctx, secretKey{}, secret))
		r.SetPathValue("id", strings.TrimPrefix(path, "disk/"))
		h.rx.ServeHTTP(w, r)
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

// Package stream serves the event feed as server-sent events: GET
// /events?cursor=C[&classes=vm,operation] with the API key in an
// "Authorization: Bearer <key>" or "X-Api-Key" header, never in the URL.
// Each event is one message whose id is the event's cursor, so a client
// (a browser's EventSource too) that reconnects with Last-Event-ID
// resumes right after the last event it got, across agent restarts.
//
// The messages:
//
//	id: <cursor>
//	data: {"cursor":..., "date":..., "class":"vm", "action":"mod", "id":12, "account_id":3, "fields":{...}, "changed":[...]}
//
// An idle stream gets a comment with the current cursor as id every
// Heartbeat (so proxies keep it open, and a reconnect skips what the
// caller may not see); a stream that cannot go on gets an "error" event
// and ends. A refused start is an HTTP error: 401 for a missing or
// unknown key, 400 for bad input, 410 for a cursor to resync (too old,
// or from another agent), 429 when the account has too many streams open.
//
// It is a face like agent/api/gandi: it only decodes, calls the service
// and renders; the rules (who sees what, the bounds) are the service's.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

// Config bounds the streams.
type Config struct {
	// OperatorHash is the stored hash of the operator's key.
	OperatorHash string
	// MaxPerAccount is how many streams one account (or the operator)
	// may hold open at once; default 4.
	MaxPerAccount int
	// Heartbeat is how often an idle stream gets a comment; default 25 s.
	Heartbeat time.Duration
	// Guard, if set, runs the key's check under the API's bad-key
	// back-off (gandi.Server.KeyCheck), so that guessing keys here is no
	// faster than there; an error other than service.ErrBadKey is its
	// refusal (429).
	Guard func(r *http.Request, check func() error) error
}

// Handler serves the stream. Create it with New.
type Handler struct {
	svc *service.Service
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	open map[string]int // streams open by account ("a<id>", or "operator")
}

// New makes the handler over svc.
func New(svc *service.Service, cfg Config, log *slog.Logger) *Handler {
	if cfg.MaxPerAccount <= 0 {
		cfg.MaxPerAccount = 4
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 25 * time.Second
	}
	return &Handler{svc: svc, cfg: cfg, log: log, open: map[string]int{}}
}

// writeWindow is how long one message may take to write; the server's
// write timeout would otherwise end every stream after a minute.
const writeWindow = 30 * time.Second

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		httpError(w, http.StatusMethodNotAllowed, "events: GET only")
		return
	}
	q := r.URL.Query()
	for _, k := range []string{"key", "apikey", "api_key", "token"} {
		if q.Has(k) {
			httpError(w, http.StatusBadRequest, "events: an API key never goes in a URL (logs and proxies keep URLs); send it in an Authorization: Bearer or X-Api-Key header")
			return
		}
	}
	// A misspelt parameter (class=vm) would otherwise follow every
	// class without a word.
	for k, vs := range q {
		switch {
		case k != "cursor" && k != "classes":
			httpError(w, http.StatusBadRequest, fmt.Sprintf("events: %s: unknown parameter (cursor, classes)", k))
			return
		case len(vs) > 1:
			httpError(w, http.StatusBadRequest, fmt.Sprintf("events: %s: given more than once", k))
			return
		}
	}
	var err error
	key := r.Header.Get("X-Api-Key")
	if auth := r.Header.Get("Authorization"); key == "" && auth != "" {
		if k, ok := strings.CutPrefix(auth, "Bearer "); ok {
			key = strings.TrimSpace(k)
		}
	}
	if key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="xenagent"`)
		httpError(w, http.StatusUnauthorized, "events: missing API key (an Authorization: Bearer or X-Api-Key header)")
		return
	}
	var c *service.Caller
	check := func() (err error) {
		c, err = h.svc.Authenticate(key, h.cfg.OperatorHash)
		return err
	}
	if h.cfg.Guard != nil {
		err = h.cfg.Guard(r, check)
	} else {
		err = check()
	}
	switch {
	case errors.Is(err, service.ErrBadKey):
		httpError(w, http.StatusUnauthorized, "events: invalid API key")
		return
	case err != nil:
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusTooManyRequests, "events: "+err.Error())
		return
	}
	req := service.EventsRequest{Cursor: q.Get("cursor"), Limit: service.MaxEventsLimit, Timeout: h.cfg.Heartbeat}
	if id := r.Header.Get("Last-Event-ID"); id != "" { // a reconnect: newer than the URL's cursor
		req.Cursor = id
	}
	if cl := q.Get("classes"); cl != "" {
		req.Classes = strings.Split(cl, ",")
	}
	if req.Timeout > service.MaxEventsTimeout {
		req.Timeout = service.MaxEventsTimeout
	}
	// The first read checks the cursor and the classes before the stream
	// starts, so a refusal is an HTTP status, not a message.
	first, err := h.svc.Events(r.Context(), c, service.EventsRequest{Cursor: req.Cursor, Classes: req.Classes, Limit: req.Limit})
	if err != nil {
		status := http.StatusInternalServerError
		var e *service.Error
		if errors.As(err, &e) {
			switch e.Kind {
			case service.KindInvalid, service.KindMissing:
				status = http.StatusBadRequest
			case service.KindNotFound:
				status = http.StatusGone
			case service.KindUnavailable:
				status = http.StatusServiceUnavailable
			}
		}
		httpError(w, status, "events: "+service.Classify(err).Msg)
		return
	}
	who := "operator"
	if !c.Operator {
		who = "a" + strconv.FormatInt(c.AccountID, 10)
	}
	if !h.acquire(who) {
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusTooManyRequests, fmt.Sprintf("events: at most %d streams per account; close one", h.cfg.MaxPerAccount))
		return
	}
	defer h.release(who)
	h.serve(r.Context(), w, c, req, first)
}

func (h *Handler) acquire(who string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open[who] >= h.cfg.MaxPerAccount {
		return false
	}
	h.open[who]++
	return true
}

func (h *Handler) release(who string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open[who]--; h.open[who] <= 0 {
		delete(h.open, who)
	}
}

// serve writes pages of events until the client goes or the feed fails.
func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, c *service.Caller, req service.EventsRequest, page service.EventsPage) {
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not hold the messages back
	w.WriteHeader(http.StatusOK)
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
		var b strings.Builder
		for _, e := range page.Events {
			data, err := json.Marshal(render(e))
			if err != nil {
				h.log.Error("events: encoding an event", "cursor", e.Cursor, "err", err)
				return
			}
			fmt.Fprintf(&b, "id: %s\ndata: %s\n\n", e.Cursor, data)
		}
		if len(page.Events) == 0 {
			// The cursor moves past what the caller may not see: a
			// reconnect does not look at those again.
			fmt.Fprintf(&b, ": idle\nid: %s\n\n", page.Cursor)
		}
		if _, err := w.Write([]byte(b.String())); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		req.Cursor = page.Cursor
		var err error
		if page, err = h.svc.Events(ctx, c, req); err != nil {
			if ctx.Err() != nil {
				return
			}
			data, _ := json.Marshal(map[string]string{"error": service.Classify(err).Msg})
			fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
			rc.Flush()
			return
		}
	}
}

// event is one event as JSON.
type event struct {
	Cursor    string         `json:"cursor"`
	Time      time.Time      `json:"date"` // as hosting.event.from names it
	Class     string         `json:"class"`
	Action    string         `json:"action"`
	ID        int64          `json:"id"`
	AccountID int64          `json:"account_id"`
	Fields    map[string]any `json:"fields"`
	Changed   []string       `json:"changed,omitempty"`
}

func render(e service.Event) event {
	return event{Cursor: e.Cursor, Time: e.Time, Class: e.Class, Action: e.Action, ID: e.ID, AccountID: e.AccountID,
		Fields: e.Fields, Changed: e.Changed}
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

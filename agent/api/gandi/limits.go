package gandi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/connlimit"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// KeyLimits is the back-off for sources presenting invalid API keys: a
// token bucket per source (an IPv4 address, an IPv6 /64) of Burst bad
// keys, refilled by one every Every. A source with an empty bucket gets
// CAUSE_RATELIMIT after Delay for every call, its key unchecked: checking
// it would let a guesser go on at full speed.
type KeyLimits struct {
	Burst int
	Every time.Duration
	Delay time.Duration
	// Sources bounds the per-source table (about 100 bytes a source).
	// Sources that find it full share one bucket, so many sources can
	// neither grow it nor check keys faster than one more source could.
	Sources int
}

// DefaultKeySources is the per-source table's size: 16,384 sources, ~2 MB.
const DefaultKeySources = 1 << 14

// MaxMethodName is the longest method name a fault repeats.
const MaxMethodName = 128

// WithKeyLimits turns on the bad-key back-off.
func (s *Server) WithKeyLimits(l KeyLimits) *Server {
	if l.Sources <= 0 {
		l.Sources = DefaultKeySources
	}
	s.guard = &keyGuard{cfg: l, m: map[netip.Prefix]*bucket{}, now: time.Now}
	return s
}

// ErrRateLimited answers a source that presented too many invalid keys.
var ErrRateLimited = &Fault{Object: ObjAccount, Cause: CauseRateLimit,
	Msg: "too many invalid API keys from this address: retry later"}

// call runs one request under the protections of this file: the bad-key
// back-off, and a panic in a handler answered as an internal error (and
// logged once with its stack) instead of a dropped connection.
func (s *Server) call(r *http.Request, w http.ResponseWriter) (method string, result any, err error) {
	src := sourceOf(r.RemoteAddr)
	if s.guard != nil && !s.guard.allowed(src) {
		sleep(r.Context(), s.guard.cfg.Delay)
		return "", nil, ErrRateLimited
	}
	defer func() {
		// Decoding or authenticating panicked (dispatch catches the
		// handlers' panics, knowing the method).
		if v := recover(); v != nil {
			result, err = nil, s.panicked(method, v)
		}
		method = shortName(method)
	}()
	method, result, err = s.handle(r.Context(), http.MaxBytesReader(w, r.Body, s.maxBody))
	if s.guard != nil && errors.Is(err, service.ErrBadKey) {
		s.guard.failed(src)
	}
	return method, result, err
}

// dispatch runs the method's handler; a panic is an internal error.
func (s *Server) dispatch(ctx context.Context, c *service.Caller, method string, params []any) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			result, err = nil, s.panicked(method, v)
		}
	}()
	return s.face.Call(ctx, c, method, params)
}

// panicked logs a recovered panic, with its stack, as one line and
// returns the fault the client gets: nothing of the panic's text, which
// may hold another tenant's data.
func (s *Server) panicked(method string, v any) error {
	s.log.Error("handler panicked", "method", shortName(method), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return errInternal
}

// errInternal answers a call whose handler panicked.
var errInternal = &Fault{Object: ObjUnknown, Cause: CauseUnknown, Msg: "internal error"}

// encode renders a result; a value the encoder cannot take becomes an
// internal error, never a panic.
func (s *Server) encode(method string, result any) (body []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			body, err = nil, s.panicked(method, v)
		}
	}()
	body, err = xmlrpc.EncodeResponse(result)
	if err != nil {
		err = fmt.Errorf("encoding response: %w", err)
	}
	return body, err
}

// unknownMethod is the fault for a method that does not exist; a long
// name is cut, so the answer stays small whatever the request.
func unknownMethod(name string) error {
	if len(name) > MaxMethodName {
		return &Fault{Object: ObjMethod, Cause: CauseNotFound,
			Msg: fmt.Sprintf("method %q... (%d bytes) does not exist", cut(name, MaxMethodName), len(name))}
	}
	return &Fault{Object: ObjMethod, Cause: CauseNotFound, Msg: fmt.Sprintf("method %q does not exist", name)}
}

// shortName bounds a method name kept for logs.
func shortName(name string) string {
	if len(name) > MaxMethodName {
		return cut(name, MaxMethodName) + "..."
	}
	return name
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func sourceOf(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	return connlimit.SourceOf(ap.Addr())
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// keyGuard holds the bad-key buckets. A source absent from the table has
// a full bucket, so only sources that presented a bad key take room.
type keyGuard struct {
	cfg KeyLimits
	now func() time.Time

	mu        sync.Mutex
	m         map[netip.Prefix]*bucket
	overflow  bucket // shared by sources that found the table full
	lastSweep time.Time
}

type bucket struct {
	used float64 // bad keys not yet refilled, at time at
	at   time.Time
}

// level returns the bucket's debt at now.
func (b *bucket) level(g *keyGuard, now time.Time) float64 {
	if b.at.IsZero() {
		return 0
	}
	return max(b.used-float64(now.Sub(b.at))/float64(g.cfg.Every), 0)
}

func (g *keyGuard) allowed(src netip.Prefix) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowedLocked(src, g.now())
}

func (g *keyGuard) allowedLocked(src netip.Prefix, now time.Time) bool {
	b, ok := g.m[src]
	if !ok {
		if len(g.m) < g.cfg.Sources {
			return true
		}
		b = &g.overflow
	}
	return b.level(g, now) <= float64(g.cfg.Burst)-1
}

func (g *keyGuard) failed(src netip.Prefix) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.chargeLocked(src, g.now())
}

// take admits one key check from src and charges it before it runs, as
// if it failed; refund gives the charge back when the key was good
// (LoginCheck: allowed-then-failed lets every slow check started before
// the first failure is counted through).
func (g *keyGuard) take(src netip.Prefix) (*bucket, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.allowedLocked(src, now) {
		return nil, false
	}
	return g.chargeLocked(src, now), true
}

// refund undoes take's charge on b (a bucket the sweep dropped since is
// refilled already: nothing to undo).
func (g *keyGuard) refund(b *bucket) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	b.used, b.at = max(b.level(g, now)-1, 0), now
}

func (g *keyGuard) chargeLocked(src netip.Prefix, now time.Time) *bucket {
	b, ok := g.m[src]
	if !ok {
		if len(g.m) >= g.cfg.Sources {
			g.sweep(now)
		}
		if len(g.m) < g.cfg.Sources {
			b = &bucket{}
			g.m[src] = b
		} else {
			b = &g.overflow
		}
	}
	b.used, b.at = b.level(g, now)+1, now
	return b
}

// sweep forgets sources whose bucket refilled, at most once per Every so
// that a full table of limited sources costs no scan per call.
func (g *keyGuard) sweep(now time.Time) {
	if now.Sub(g.lastSweep) < g.cfg.Every {
		return
	}
	g.lastSweep = now
	for src, b := range g.m {
		if b.level(g, now) == 0 {
			delete(g.m, src)
		}
	}
}

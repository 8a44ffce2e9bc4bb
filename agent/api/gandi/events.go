package gandi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

// eventFrom is hosting.event.from(apikey, {cursor, classes, timeout,
// limit}) -> {events: [...], cursor: "..."}, after XAPI's event.from: the
// caller's events after cursor (every account's for the operator); when
// there are none yet, it waits up to timeout seconds (an int or a double,
// at most 60) for one. An empty or absent cursor answers no events and
// the current cursor: list the objects, then follow from it. A cursor
// older than the retention or from another agent is refused with
// OBJECT_EVENT CAUSE_NOTFOUND saying "resync".
func (f *Face) eventFrom(ctx context.Context, c *service.Caller, a args) (any, error) {
	var req service.EventsRequest
	_, err := options(a, service.ObjEvent, func(sp *spec) error {
		var err error
		if req.Cursor, err = sp.str("cursor", "", false); err != nil {
			return err
		}
		if req.Classes, err = sp.strs("classes"); err != nil {
			return err
		}
		secs, err := sp.float("timeout", 0)
		if err != nil {
			return err
		}
		if secs < 0 || secs > service.MaxEventsTimeout.Seconds() || math.IsNaN(secs) {
			return service.Invalid(service.ObjEvent, "timeout", "must be between 0 and %d seconds", int(service.MaxEventsTimeout.Seconds()))
		}
		req.Timeout = time.Duration(secs * float64(time.Second))
		limit, err := sp.int("limit", 0, false)
		if err != nil {
			return err
		}
		if limit < 0 || limit > service.MaxEventsLimit {
			return service.Invalid(service.ObjEvent, "limit", "must be between 1 and %d (0: %d)", service.MaxEventsLimit, service.DefaultEventLimit)
		}
		req.Limit = int(limit)
		return sp.done()
	})
	if err != nil {
		return nil, err
	}
	if req.Timeout > 0 {
		extendWrite(ctx, req.Timeout)
	}
	page, err := f.svc.Events(ctx, c, req)
	if err != nil {
		return nil, err
	}
	evs := make([]any, len(page.Events))
	for i, e := range page.Events {
		evs[i] = renderEvent(e)
	}
	return map[string]any{"events": evs, "cursor": page.Cursor}, nil
}

// renderEvent is one event as both faces show it (the stream's too).
func renderEvent(e service.Event) map[string]any {
	changed := make([]any, len(e.Changed))
	for i, c := range e.Changed {
		changed[i] = c
	}
	fields := make(map[string]any, len(e.Fields))
	for k, v := range e.Fields {
		if l, ok := v.([]int64); ok {
			vs := make([]any, len(l))
			for i, n := range l {
				vs[i] = n
			}
			v = vs
		}
		fields[k] = v
	}
	return map[string]any{"cursor": e.Cursor, "date": e.Time, "class": e.Class, "action": e.Action, "id": e.ID,
		"account_id": e.AccountID, "fields": fields, "changed": changed}
}

// A long poll outlives the server's write timeout (server.write_timeout,
// a minute by default): the call moves its own deadline.
type writeDeadlineKey struct{}

// withWriteDeadline lets a method called in r move w's write deadline.
func withWriteDeadline(r *http.Request, w http.ResponseWriter) *http.Request {
	rc := http.NewResponseController(w)
	return r.WithContext(context.WithValue(r.Context(), writeDeadlineKey{}, rc))
}

// writeSlack is the time left to answer once a long poll ends.
const writeSlack = 30 * time.Second

func extendWrite(ctx context.Context, wait time.Duration) {
	if rc, ok := ctx.Value(writeDeadlineKey{}).(*http.ResponseController); ok {
		_ = rc.SetWriteDeadline(time.Now().Add(wait + writeSlack)) // not every writer has deadlines: then none cuts the poll
	}
}

// KeyCheck runs check, an API key's authentication by another handler
// served beside this one (the event stream), under this server's bad-key
// back-off: a source that presented too many bad keys, here or there, is
// refused with ErrRateLimited after the delay, its key unchecked. A
// check is charged once it has failed: a key's check is quick, and a
// central tier's many calls at once from one address must not be
// refused for being at once (LoginCheck is for slow checks).
func (s *Server) KeyCheck(r *http.Request, check func() error) error {
	src := sourceOf(r.RemoteAddr)
	if s.guard != nil && !s.guard.allowed(src) {
		sleep(r.Context(), s.guard.cfg.Delay)
		return ErrRateLimited
	}
	err := check()
	if s.guard != nil && errors.Is(err, service.ErrBadKey) {
		s.guard.failed(src)
	}
	return err
}

// LoginCheck is KeyCheck for a slow check, the v1 face's login (it waits
// for a login slot, up to seconds, then hashes for tens of ms): the
// check is charged before it runs and refunded unless it failed, so the
// checks a source starts at once count against its Burst. Charged only
// once failed, every login started before the first failure came back
// was let through: 20 at once from one source all hashed past a burst
// of 3. A login is rare enough (a session lasts 12 hours) that Burst
// logins at once from one address do not refuse real users.
func (s *Server) LoginCheck(r *http.Request, check func() error) error {
	if s.guard == nil {
		return check()
	}
	b, ok := s.guard.take(sourceOf(r.RemoteAddr))
	if !ok {
		sleep(r.Context(), s.guard.cfg.Delay)
		return ErrRateLimited
	}
	err := check()
	if !errors.Is(err, service.ErrBadKey) {
		s.guard.refund(b)
	}
	return err
}

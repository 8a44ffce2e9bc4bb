package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// The event feed's bounds: a long poll waits at most MaxEventsTimeout, and
// one answer holds at most MaxEventsLimit events.
const (
	MaxEventsTimeout  = 60 * time.Second
	MaxEventsLimit    = 1000
	DefaultEventLimit = 100
)

// EventsRequest asks for the events after Cursor. An empty Cursor asks for
// none and the current cursor: the client lists the objects, then follows
// from it. Classes, if given, keep only those classes (store.EventClasses).
// Timeout is how long to wait when there is nothing yet (0: answer at
// once). Limit 0 is DefaultEventLimit.
type EventsRequest struct {
	Cursor  string
	Classes []string
	Timeout time.Duration
	Limit   int
}

// Event is one change as a client sees it; Cursor resumes right after it.
type Event struct {
	Cursor    string
	Time      time.Time
	Class     string
	Action    string
	ID        int64
	AccountID int64
	Fields    map[string]any
	Changed   []string
}

// EventsPage is an answer: the events, oldest first, and the cursor to ask
// from next (past every event looked at, the caller's or not).
type EventsPage struct {
	Events []Event
	Cursor string
}

// Events returns the caller's events after req.Cursor (every account's
// for the operator), waiting up to req.Timeout for one to come. Anchor:
// XAPI's event.from. A cursor from another agent or state file, or older
// than the retention, is refused with a message saying "resync".
func (s *Service) Events(ctx context.Context, c *Caller, req EventsRequest) (EventsPage, error) {
	keep, err := eventFilter(c, req)
	if err != nil {
		return EventsPage{}, err
	}
	limit := req.Limit
	if limit == 0 {
		limit = DefaultEventLimit
	}
	if req.Cursor == "" {
		return EventsPage{Events: []Event{}, Cursor: s.st.EventCursor()}, nil
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	cursor := req.Cursor
	for {
		evs, next, err := s.st.Events(cursor, limit, keep)
		if err != nil {
			return EventsPage{}, eventsError(err)
		}
		if len(evs) > 0 || req.Timeout <= 0 {
			return s.eventsPage(evs, next), nil
		}
		cursor = next
		if err := s.st.WaitEvents(ctx, cursor); err != nil {
			if ctx.Err() != nil { // the wait is over: nothing came
				return s.eventsPage(nil, cursor), nil
			}
			return EventsPage{}, eventsError(err)
		}
	}
}

// eventFilter checks the request and makes the filter the store applies:
// the caller's own objects (all for the operator), of the classes asked.
func eventFilter(c *Caller, req EventsRequest) (func(*store.Event) bool, error) {
	if req.Limit < 0 || req.Limit > MaxEventsLimit {
		return nil, Invalid(ObjEvent, "limit", "must be between 1 and %d (0: %d)", MaxEventsLimit, DefaultEventLimit)
	}
	if req.Timeout < 0 || req.Timeout > MaxEventsTimeout {
		return nil, Invalid(ObjEvent, "timeout", "must be between 0 and %d seconds", int(MaxEventsTimeout/time.Second))
	}
	for _, cl := range req.Classes {
		if !slices.Contains(store.EventClasses, cl) {
			return nil, Invalid(ObjEvent, "classes", "%q is not a class (%s)", cl, strings.Join(store.EventClasses, ", "))
		}
	}
	classes := slices.Clone(req.Classes)
	operator, account := c.Operator, c.AccountID
	return func(e *store.Event) bool {
		return (operator || e.Account == account) && (len(classes) == 0 || slices.Contains(classes, e.Class))
	}, nil
}

func (s *Service) eventsPage(evs []store.Event, next string) EventsPage {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{Cursor: s.st.CursorAt(e.Seq), Time: e.Time, Class: e.Class, Action: e.Action, ID: e.ID,
			AccountID: e.Account, Fields: e.Fields, Changed: e.Changed}
	}
	return EventsPage{Events: out, Cursor: next}
}

// eventsError maps the store's cursor refusals to the service's errors.
func eventsError(err error) error {
	switch {
	case errors.Is(err, store.ErrBadCursor):
		return Invalid(ObjEvent, "cursor", "%v; give the cursor an earlier answer returned, or none to start", err)
	case errors.Is(err, store.ErrResync):
		return Errorf(ObjEvent, KindNotFound, "cursor: %v: list the objects again, then follow from the cursor an empty cursor returns", err)
	case errors.Is(err, store.ErrClosed):
		return Errorf(ObjEvent, KindUnavailable, "events: the agent is stopping; retry")
	}
	return Classify(err)
}

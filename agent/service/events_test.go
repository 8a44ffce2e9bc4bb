package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

func briefEvents(p EventsPage) string {
	var b []string
	for _, e := range p.Events {
		b = append(b, e.Class+"/"+e.Action+"/"+string(rune('0'+e.ID)))
	}
	return strings.Join(b, " ")
}

func TestEventsByCaller(t *testing.T) {
	s := bareService(t)
	ctx := context.Background()
	op := &Caller{Operator: true}
	a, b := &Caller{AccountID: 1}, &Caller{AccountID: 2}
	start, err := s.Events(ctx, a, EventsRequest{})
	if err != nil || len(start.Events) != 0 || start.Cursor == "" {
		t.Fatalf("empty cursor: %+v, %v", start, err)
	}
	if err := s.st.Update(func(tx *store.Tx) error {
		tx.PutVM(store.VM{ID: 1, AccountID: 1, State: store.VMRunning})
		tx.PutVM(store.VM{ID: 2, AccountID: 2, State: store.VMRunning})
		tx.PutOperation(store.Operation{ID: 3, AccountID: 1, Step: store.StepWait})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		c       *Caller
		classes []string
		want    string
	}{
		{a, nil, "vm/add/1 operation/add/3"},
		{b, nil, "vm/add/2"},
		{op, nil, "vm/add/1 vm/add/2 operation/add/3"},
		{op, []string{"operation"}, "operation/add/3"},
		{a, []string{"disk", "iface"}, ""},
	} {
		p, err := s.Events(ctx, tt.c, EventsRequest{Cursor: start.Cursor, Classes: tt.classes})
		if err != nil {
			t.Fatal(err)
		}
		if got := briefEvents(p); got != tt.want {
			t.Errorf("account %d %v: %q, want %q", tt.c.AccountID, tt.classes, got, tt.want)
		}
		if p.Cursor != s.st.EventCursor() {
			t.Errorf("next cursor %q, want the current %q", p.Cursor, s.st.EventCursor())
		}
	}
	// Each event's cursor resumes right after it.
	p, _ := s.Events(ctx, op, EventsRequest{Cursor: start.Cursor})
	q, _ := s.Events(ctx, op, EventsRequest{Cursor: p.Events[0].Cursor})
	if briefEvents(q) != "vm/add/2 operation/add/3" {
		t.Errorf("from the first event's cursor: %q", briefEvents(q))
	}
}

func TestEventsRefusals(t *testing.T) {
	s := bareService(t)
	c := &Caller{AccountID: 1}
	cur := s.st.EventCursor()
	for _, tt := range []struct {
		req    EventsRequest
		kind   Kind
		saying string
	}{
		{EventsRequest{Cursor: cur, Limit: -1}, KindInvalid, "limit: must be between 1 and 1000"},
		{EventsRequest{Cursor: cur, Limit: 1001}, KindInvalid, "limit"},
		{EventsRequest{Cursor: cur, Timeout: 61 * time.Second}, KindInvalid, "timeout: must be between 0 and 60 seconds"},
		{EventsRequest{Cursor: cur, Timeout: -time.Second}, KindInvalid, "timeout"},
		{EventsRequest{Cursor: cur, Classes: []string{"vm", "ip"}}, KindInvalid, `classes: "ip" is not a class`},
		{EventsRequest{Cursor: "nonsense"}, KindInvalid, "cursor: not an event cursor"},
		{EventsRequest{Cursor: "0123456789abcdef-0"}, KindNotFound, "resync"},
		{EventsRequest{Cursor: cur + "9"}, KindNotFound, "resync"},
		{EventsRequest{Cursor: cur}, 0, ""},
	} {
		_, err := s.Events(context.Background(), c, tt.req)
		wantRefusal(t, err, tt.kind, tt.saying)
	}
}

// A long poll answers at once when there are events, waits for one
// otherwise, and returns empty, with the cursor moved past others'
// events, at its timeout.
func TestEventsLongPoll(t *testing.T) {
	s := bareService(t)
	ctx := context.Background()
	a := &Caller{AccountID: 1}
	cur := s.st.EventCursor()
	put := func(vm store.VM) {
		if err := s.st.Update(func(tx *store.Tx) error { tx.PutVM(vm); return nil }); err != nil {
			t.Error(err)
		}
	}
	put(store.VM{ID: 2, AccountID: 2})
	t0 := time.Now()
	p, err := s.Events(ctx, a, EventsRequest{Cursor: cur, Timeout: 100 * time.Millisecond})
	if err != nil || len(p.Events) != 0 || time.Since(t0) < 100*time.Millisecond || p.Cursor != s.st.EventCursor() {
		t.Fatalf("timeout with only another account's event: %+v, %v after %v", p, err, time.Since(t0))
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		put(store.VM{ID: 1, AccountID: 1})
	}()
	t0 = time.Now()
	p, err = s.Events(ctx, a, EventsRequest{Cursor: p.Cursor, Timeout: 10 * time.Second})
	if err != nil || briefEvents(p) != "vm/add/1" || time.Since(t0) > 5*time.Second {
		t.Fatalf("woken: %+v, %v after %v", p, err, time.Since(t0))
	}
	t0 = time.Now()
	if q, err := s.Events(ctx, a, EventsRequest{Cursor: cur, Timeout: 10 * time.Second}); err != nil || len(q.Events) != 1 || time.Since(t0) > time.Second {
		t.Fatalf("events there: %+v, %v after %v", q, err, time.Since(t0))
	}
}

package hosttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

// hvPause: Suspend and Resume refuse a missing or stopped domain, raise
// their events, repeat harmlessly, and a paused domain can still be
// powered off (a paused VM must stay deletable).
func hvPause(t *testing.T, r *hvRig) {
	const name = "xa-hosttest-pause"
	for what, call := range map[string]func(context.Context, string) error{"suspend": r.hv.Suspend, "resume": r.hv.Resume} {
		if err := call(r.ctx, name); !errors.Is(err, host.ErrNoDomain) {
			t.Errorf("%s of a missing domain: %v, want ErrNoDomain", what, err)
		}
	}
	r.define(name, 7)
	for what, call := range map[string]func(context.Context, string) error{"suspend": r.hv.Suspend, "resume": r.hv.Resume} {
		if err := call(r.ctx, name); !errors.Is(err, host.ErrNotRunning) {
			t.Errorf("%s of a stopped domain: %v, want ErrNotRunning", what, err)
		}
	}
	before := r.start(name)
	events, stop := r.hv.Watch(name)
	defer stop()
	steps := []struct {
		what   string
		do     func(context.Context, string) error
		event  host.EventKind
		paused bool
	}{
		{"suspend", r.hv.Suspend, host.EventSuspended, true},
		{"resume", r.hv.Resume, host.EventResumed, false},
		{"suspend again", r.hv.Suspend, host.EventSuspended, true},
	}
	for _, s := range steps {
		if err := s.do(r.ctx, name); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		r.event(events, name, s.event)
		st := r.waitState(name, s.what, func(st host.State) bool { return st.Running && st.Paused == s.paused })
		if st.ID != before.ID {
			t.Fatalf("%s changed the domain id: %d, was %d", s.what, st.ID, before.ID)
		}
		if err := s.do(r.ctx, name); err != nil {
			t.Fatalf("%s again: %v", s.what, err)
		}
		if got := quiet(events, name, 50*time.Millisecond); len(got) > 0 {
			t.Fatalf("%s again raised %v", s.what, got)
		}
	}
	if err := r.hv.Destroy(r.ctx, name); err != nil {
		t.Fatalf("destroying a paused domain: %v", err)
	}
	r.waitState(name, "shut off", func(st host.State) bool { return st.Exists && !st.Running && !st.Paused })
}

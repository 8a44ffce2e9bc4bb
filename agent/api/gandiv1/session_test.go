package gandiv1

import (
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

func TestSessions(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessions(func() time.Time { return clock })
	alice := &service.Caller{AccountID: 1}
	id, err := s.open(alice, "stamp")
	if err != nil || len(id) != 64 {
		t.Fatalf("open: %q, %v", id, err)
	}
	for _, tc := range []struct {
		name  string
		after time.Duration
		id    string
		ok    bool
	}{
		{"fresh", 0, id, true},
		{"unknown id", 0, "00" + id[2:], false},
		{"empty id", 0, "", false},
		{"just before 12 hours", SessionTTL - time.Second, id, true},
		{"at 12 hours", SessionTTL, id, false},
		{"dropped once expired", 0, id, false},
	} {
		clock = clock.Add(tc.after)
		se, ok := s.lookup(tc.id)
		if ok != tc.ok || ok && (se.accountID != 1 || se.stamp != "stamp") {
			t.Errorf("%s: lookup %+v, %v; want ok %v", tc.name, se, ok, tc.ok)
		}
	}
	if s.count() != 0 {
		t.Errorf("%d sessions left after expiry", s.count())
	}
}

func TestSessionsBounded(t *testing.T) {
	s := newSessions(nil)
	bob := &service.Caller{AccountID: 2}
	first, _ := s.open(bob, "")
	for range MaxPerAccount {
		if _, err := s.open(bob, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.lookup(first); ok {
		t.Error("an account's oldest session outlived its MaxPerAccount newer ones")
	}
	if n := s.count(); n != MaxPerAccount {
		t.Errorf("%d sessions open, want %d", n, MaxPerAccount)
	}
}

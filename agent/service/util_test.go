package service

import (
	"testing"
	"time"
)

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"web", "my-WEB-1", true}, {"web%", "web1", true}, {"web%", "aweb", false},
		{"%-a", "db-a", true}, {"w_b", "web", true}, {"w_b", "weeb", false},
	}
	for _, tt := range tests {
		if got := likeMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("likeMatch(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

func TestFaultCodes(t *testing.T) {
	f := invalid(ObjVM, "memory", "must be a multiple of 64")
	if f.Code() != 511020 || f.Error() != "Error on object : OBJECT_VM (CAUSE_BADPARAMETER) [memory: must be a multiple of 64]" {
		t.Fatalf("%d %s", f.Code(), f.Error())
	}
	if ErrBadKey.Code() != 510030 {
		t.Fatalf("bad key code %d", ErrBadKey.Code())
	}
}

package lease

import (
	"errors"
	"os"
	"testing"
)

// flock is per open file description, so two Leases in one process
// stand for two processes.
func TestSecondHolderRefused(t *testing.T) {
	dir := t.TempDir()
	p := Path(dir, "abc")
	var a, b Lease
	if err := a.Take(p, Holder{PID: 111, StateDir: "/srv/one"}); err != nil {
		t.Fatal(err)
	}
	err := b.Take(p, Holder{PID: 222, StateDir: "/srv/two"})
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second take = %v, want a HeldError", err)
	}
	if held.Holder != (Holder{PID: 111, StateDir: "/srv/one"}) || held.Path != p {
		t.Errorf("holder = %+v", held)
	}
	// Another instance's lease in the same dir is free.
	if err := b.Take(Path(dir, "def"), Holder{PID: 222}); err != nil {
		t.Errorf("other instance: %v", err)
	}
	a.Release()
	if err := b.Take(p, Holder{PID: 222, StateDir: "/srv/two"}); err != nil {
		t.Fatalf("after release: %v", err)
	}
	raw, _ := os.ReadFile(p)
	if string(raw) != "pid=222\nstate_dir=/srv/two\n" {
		t.Errorf("lock file holds %q", raw)
	}
	b.Release()
}

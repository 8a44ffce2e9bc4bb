package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// brief renders events as "class/action/id changed" for comparisons.
func brief(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := fmt.Sprintf("%s/%s/%d", e.Class, e.Action, e.ID)
		if len(e.Changed) > 0 {
			s += fmt.Sprint(e.Changed)
		}
		out = append(out, s)
	}
	return out
}

func mustEvents(t *testing.T, s *Store, cursor string, limit int, keep func(*Event) bool) ([]Event, string) {
	t.Helper()
	evs, next, err := s.Events(cursor, limit, keep)
	if err != nil {
		t.Fatalf("Events(%q) = %v", cursor, err)
	}
	return evs, next
}

func mustUpdate(t *testing.T, s *Store, fn func(tx *Tx)) {
	t.Helper()
	if err := s.Update(func(tx *Tx) error { fn(tx); return nil }); err != nil {
		t.Fatal(err)
	}
}

// Each visible change is one event, in order; a change events do not
// report (traffic counters, a description) is none.
func TestEventsFollowChanges(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	start := s.EventCursor()
	if want := s.Instance() + "-0"; start != want {
		t.Fatalf("cursor of a new file = %q, want %q", start, want)
	}
	mustUpdate(t, s, func(tx *Tx) {
		tx.PutOperation(Operation{ID: 1, AccountID: 3, Type: "vm_create", Step: StepWait, VMID: 7})
		tx.PutVM(VM{ID: 7, AccountID: 3, State: VMBeingCreated, Memory: 256})
		tx.PutDisk(Disk{ID: 4, AccountID: 3, State: DiskBeingCreated, SizeMB: 3072})
		tx.PutIface(Iface{ID: 2, AccountID: 3, State: IfaceBeingCreated})
	})
	mustUpdate(t, s, func(tx *Tx) {
		o, _ := tx.Operation(1)
		o.Step, o.Cursor = StepRun, 1
		tx.PutOperation(o)
		o.Cursor = 2 // a workflow step: not an event
		tx.PutOperation(o)
		i, _ := tx.Iface(2)
		i.DevCounted.RxBytes = 99 // traffic: not an event
		tx.PutIface(i)
		v, _ := tx.VM(7)
		v.Description = "x" // not reported
		tx.PutVM(v)
		v.State = VMRunning
		tx.PutVM(v)
		i.IPIDs, i.VMID, i.State = []int64{5, 6}, 7, IfaceUsed
		tx.PutIface(i)
		tx.DeleteDisk(4)
	})
	evs, next := mustEvents(t, s, start, 100, nil)
	want := []string{"operation/add/1", "vm/add/7", "disk/add/4", "iface/add/2",
		"operation/mod/1[step]", "vm/mod/7[state]", "iface/mod/2[ip_ids state vm_id]", "disk/del/4"}
	if got := brief(evs); !slices.Equal(got, want) {
		t.Fatalf("events =\n%v\nwant\n%v", got, want)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Account != 3 || e.Time.IsZero() {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if f := evs[6].Fields; !reflect.DeepEqual(f["ip_ids"], []int64{5, 6}) || f["vm_id"] != int64(7) || f["state"] != IfaceUsed {
		t.Errorf("iface fields = %#v", f)
	}
	if f := evs[4].Fields; f["step"] != StepRun || f["type"] != "vm_create" || f["vm_id"] != int64(7) {
		t.Errorf("operation fields = %#v", f)
	}
	if next != s.EventCursor() || next != s.Instance()+"-8" {
		t.Errorf("next = %q, current %q", next, s.EventCursor())
	}
	// Following from next: nothing; a limit and a filter page through.
	if evs, n2 := mustEvents(t, s, next, 100, nil); len(evs) != 0 || n2 != next {
		t.Errorf("after the end: %v, %q", brief(evs), n2)
	}
	evs, n2 := mustEvents(t, s, start, 2, nil)
	if got := brief(evs); !slices.Equal(got, want[:2]) || n2 != s.Instance()+"-2" {
		t.Errorf("limit 2: %v, %q", got, n2)
	}
	evs, n2 = mustEvents(t, s, start, 100, func(e *Event) bool { return e.Class == EventVM })
	if got := brief(evs); !slices.Equal(got, []string{"vm/add/7", "vm/mod/7[state]"}) || n2 != next {
		t.Errorf("vm only: %v, %q (want the cursor past every event looked at)", got, n2)
	}
}

// Written, closed, reopened: a cursor taken before follows on, from the
// file as from memory, and numbering goes on after the last event.
func TestEventsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTemp(t, path)
	start := s.EventCursor()
	// More than the in-memory tail, so that the reopened store reads the
	// first ones from the file.
	for n := range 3 {
		mustUpdate(t, s, func(tx *Tx) {
			for i := range 2000 {
				tx.PutOperation(Operation{ID: int64(n*2000 + i + 1), Step: StepWait})
			}
		})
	}
	before, _ := mustEvents(t, s, start, 10_000, nil)
	mid := s.cursor(100)
	s.Close()

	s = openTemp(t, path)
	defer s.Close()
	after, next := mustEvents(t, s, start, 10_000, nil)
	if len(after) != 6000 || !reflect.DeepEqual(brief(before), brief(after)) || after[5999].Seq != 6000 {
		t.Fatalf("after reopen: %d events, last %+v", len(after), after[len(after)-1])
	}
	for i := range before {
		if !reflect.DeepEqual(before[i].Fields, after[i].Fields) {
			t.Fatalf("event %d: fields before %#v, after %#v", i, before[i].Fields, after[i].Fields)
		}
	}
	if evs, _ := mustEvents(t, s, mid, 1, nil); len(evs) != 1 || evs[0].Seq != 101 {
		t.Errorf("from seq 100: %+v", evs)
	}
	mustUpdate(t, s, func(tx *Tx) { tx.DeleteOperation(1) })
	evs, _ := mustEvents(t, s, next, 10, nil)
	if got := brief(evs); !slices.Equal(got, []string{"operation/del/1"}) || evs[0].Seq != 6001 {
		t.Errorf("after reopen, new: %v %+v", got, evs)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// A refused write's events are never visible, and the numbers it took
// are not handed out again.
func TestRefusedWriteLeavesNoEvent(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1, State: VMHalted}) })
	cur := s.EventCursor()
	s.failWrites(func() error { return errNoSpace })
	if err := s.Update(func(tx *Tx) error {
		tx.PutVM(VM{ID: 1, State: VMRunning})
		return nil
	}); !errors.Is(err, ErrUnwritable) {
		t.Fatalf("err = %v", err)
	}
	if evs, n := mustEvents(t, s, cur, 10, nil); len(evs) != 0 || n != cur || s.EventCursor() != cur {
		t.Fatalf("after a refused write: %v, next %q, cursor %q", brief(evs), n, s.EventCursor())
	}
	s.failWrites(nil)
	if err := s.Probe(); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1, State: VMPaused}) })
	evs, _ := mustEvents(t, s, cur, 10, nil)
	if len(evs) != 1 || evs[0].Fields["state"] != VMPaused || evs[0].Seq != 3 {
		t.Fatalf("after the disk healed: %+v (want seq 3: 2 was the refused one's)", evs)
	}
	if err := s.sameAsFile(); err != nil {
		t.Fatal(err)
	}
}

// Retention by count and by age; a cursor older than it, from another
// store or from the future is refused with ErrResync, a malformed one
// with ErrBadCursor.
func TestEventsRetention(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	s.SetEventRetention(10, EventsMaxAge)
	start := s.EventCursor()
	for i := range 30 {
		mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1, Memory: int64(i + 1)}) })
	}
	if _, _, err := s.Events(start, 10, nil); !errors.Is(err, ErrResync) {
		t.Fatalf("cursor older than the retention: %v", err)
	}
	evs, _ := mustEvents(t, s, s.cursor(20), 100, nil)
	if len(evs) != 10 || evs[0].Seq != 21 {
		t.Fatalf("kept: %v", brief(evs))
	}
	n := 0
	s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket([]byte("events")).Stats().KeyN; return nil })
	if n != 10 {
		t.Errorf("file holds %d events, want 10", n)
	}
	for _, c := range []string{"0123456789abcdef-25", s.cursor(31)} {
		if _, _, err := s.Events(c, 10, nil); !errors.Is(err, ErrResync) {
			t.Errorf("Events(%q) = %v, want ErrResync", c, err)
		}
		if err := s.WaitEvents(context.Background(), c); !errors.Is(err, ErrResync) {
			t.Errorf("WaitEvents(%q) = %v, want ErrResync", c, err)
		}
	}
	for _, c := range []string{"", "x", s.Instance() + "-", s.Instance() + "-x", "junk-5", s.Instance() + "-1-1"} {
		if _, _, err := s.Events(c, 10, nil); !errors.Is(err, ErrBadCursor) {
			t.Errorf("Events(%q) = %v, want ErrBadCursor", c, err)
		}
	}
	// By age: a week later, the next commit prunes them all but its own.
	s.ev.now = func() time.Time { return time.Now().Add(EventsMaxAge + time.Hour) }
	mid := s.EventCursor()
	mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1, Memory: 99}) })
	if _, _, err := s.Events(mid, 10, nil); !errors.Is(err, ErrResync) {
		t.Fatalf("cursor of aged-out events: %v", err)
	}
	if err := s.sameAsFile(); err != nil {
		t.Fatal(err)
	}
}

// A waiter wakes when a commit lands, not before; ctx ends a wait.
func TestWaitEvents(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	cur := s.EventCursor()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitEvents(ctx, cur); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with nothing = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(context.Background(), cur) }()
	select {
	case err := <-done:
		t.Fatalf("returned before any event: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1}) })
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by the commit")
	}
	if err := s.WaitEvents(context.Background(), cur); err != nil {
		t.Fatalf("wait with an event there = %v", err)
	}
}

// A summary's JSON (the event's fields) and its fields() (what Changed
// names) say the same.
func TestSummariesJSONMatchFields(t *testing.T) {
	for _, s := range []interface {
		fields() map[string]any
	}{
		vmSummary{Account: 1, State: "running", Hostname: "h", Memory: 512, Cores: 2, Console: 1},
		diskSummary{Account: 1, State: "created", Type: "data", Name: "d", Size: 3072, VM: 4},
		ifaceSummary{Account: 1, State: "used", VM: 4, Bandwidth: 102400.5, IPs: "5,6"},
		ifaceSummary{State: "free"},
		opSummary{Type: "vm_create", Step: "RUN", VM: 4, Iface: 2, LastError: "x", RollingBack: true, Cancel: true},
		opSummary{Type: "vm_stop", Step: "WAIT"},
	} {
		raw, err := json.Marshal(change{Fields: s})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := decodeEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		if want := normalAll(s.fields()); !reflect.DeepEqual(ev.Fields, want) {
			t.Errorf("%T: JSON %#v, fields %#v", s, ev.Fields, want)
		}
	}
}

// A change is visible in memory at once, but its event only once the
// file took it.
func TestEventsWaitForTheDisk(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	cur := s.EventCursor()
	entered, release := make(chan struct{}), make(chan struct{})
	var once bool
	s.failWrites(func() error {
		if !once {
			once = true
			close(entered)
			<-release
		}
		return nil
	})
	if err := s.UpdateAsync(func(tx *Tx) error { tx.PutVM(VM{ID: 1, State: VMRunning}); return nil }); err != nil {
		t.Fatal(err)
	}
	<-entered // the batch is being written
	s.View(func(tx *Tx) {
		if !tx.HasVM(1) {
			t.Error("the change is not in memory")
		}
	})
	if evs, _ := mustEvents(t, s, cur, 10, nil); len(evs) != 0 {
		t.Fatalf("event visible before its commit: %v", brief(evs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.WaitEvents(ctx, cur); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait before the commit = %v", err)
	}
	close(release)
	if err := s.WaitEvents(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	if evs, _ := mustEvents(t, s, cur, 10, nil); len(evs) != 1 {
		t.Fatalf("after the commit: %v", brief(evs))
	}
}

// EndEventWaits ends the waits at once, and every later one, while the
// store goes on.
func TestEndEventWaits(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	cur := s.EventCursor()
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(context.Background(), cur) }()
	time.Sleep(20 * time.Millisecond)
	s.EndEventWaits()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("ended wait = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait not ended")
	}
	if err := s.WaitEvents(context.Background(), cur); !errors.Is(err, ErrClosed) {
		t.Errorf("wait after the end = %v", err)
	}
	s.EndEventWaits() // twice is harmless
	mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1}) })
	if evs, _ := mustEvents(t, s, cur, 10, nil); len(evs) != 1 {
		t.Errorf("events after the end: %v", brief(evs))
	}
}

func normalAll(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = normal(v)
	}
	return m
}

func sameValue(a, b any) bool {
	la, ok1 := a.([]int64)
	lb, ok2 := b.([]int64)
	if ok1 || ok2 {
		return ok1 && ok2 && slices.Equal(la, lb)
	}
	return a == b
}

// mapDiff names the fields two summaries' maps differ in, sorted: what
// diff must say.
func mapDiff(a, b map[string]any) []string {
	fa, fb := normalAll(a), normalAll(b)
	var changed []string
	for k, v := range fb {
		if !sameValue(fa[k], v) {
			changed = append(changed, k)
		}
	}
	for k := range fa {
		if _, ok := fb[k]; !ok {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	return changed
}

// changed names what each summary's fields' maps differ in, in order.
func TestSummaryDiffs(t *testing.T) {
	check := func(name string, got []string, a, b map[string]any) {
		t.Helper()
		if want := mapDiff(a, b); !slices.Equal(got, want) {
			t.Errorf("%s: diff %v, maps differ in %v", name, got, want)
		}
	}
	v1 := vmSummary{State: "running", Hostname: "a", Memory: 1, Cores: 1, Console: 0}
	v2 := vmSummary{State: "halted", Hostname: "b", Memory: 2, Cores: 2, Console: 1}
	check("vm all", changed(v1.fields(), v2.fields()), v1.fields(), v2.fields())
	check("vm none", changed(v1.fields(), v1.fields()), v1.fields(), v1.fields())
	d1 := diskSummary{State: "created", Type: "data", Name: "a", Size: 1, VM: 0}
	d2 := diskSummary{State: "deleted", Type: "image", Name: "b", Size: 2, VM: 3}
	check("disk", changed(d1.fields(), d2.fields()), d1.fields(), d2.fields())
	i1 := ifaceSummary{State: "free", IPs: "1"}
	i2 := ifaceSummary{State: "used", VM: 2, Bandwidth: 5, IPs: "1,2"}
	check("iface", changed(i1.fields(), i2.fields()), i1.fields(), i2.fields())
	o1 := opSummary{Type: "a", Step: "WAIT"}
	o2 := opSummary{Type: "b", Step: "RUN", VM: 1, Disk: 2, Iface: 3, LastError: "x", RollingBack: true, Cancel: true}
	check("op", changed(o1.fields(), o2.fields()), o1.fields(), o2.fields())
	check("op back", changed(o2.fields(), o1.fields()), o2.fields(), o1.fields())
}

// Every event aged out: the numbering goes on after a restart.
func TestEventsAllPrunedSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTemp(t, path)
	for i := range 3 {
		mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1, Memory: int64(i + 1)}) })
	}
	cur := s.EventCursor()
	s.ev.now = func() time.Time { return time.Now().Add(EventsMaxAge + time.Hour) }
	mustUpdate(t, s, func(tx *Tx) { tx.PutAccount(Account{ID: 1}) }) // prunes, makes no event
	if evs, _ := mustEvents(t, s, cur, 10, nil); len(evs) != 0 {
		t.Fatalf("events: %v", brief(evs))
	}
	s.Close()
	s = openTemp(t, path)
	defer s.Close()
	if got := s.EventCursor(); got != cur {
		t.Fatalf("cursor after reopen %q, want %q", got, cur)
	}
	mustUpdate(t, s, func(tx *Tx) { tx.PutVM(VM{ID: 1, Memory: 9}) })
	if evs, _ := mustEvents(t, s, cur, 10, nil); len(evs) != 1 || evs[0].Seq != 4 {
		t.Fatalf("after reopen: %+v", evs)
	}
}

package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPersistAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTemp(t, path)
	err := s.Update(func(tx *Tx) error {
		id := tx.NextID("vm", tx.HasVM)
		tx.PutVM(VM{ID: id, Hostname: "a", DiskIDs: []int64{7}})
		tx.PutIdem("1/k", IdemEntry{OpIDs: []int64{3}})
		tx.SetReleased("1/4", []string{"10.0.0.9"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTemp(t, path)
	defer s.Close()
	s.View(func(tx *Tx) {
		v, ok := tx.VM(1)
		if !ok || v.Hostname != "a" || v.DiskIDs[0] != 7 {
			t.Errorf("vm after reopen = %+v, %v", v, ok)
		}
		if e, ok := tx.Idem("1/k"); !ok || e.OpIDs[0] != 3 {
			t.Errorf("idem after reopen = %+v", e)
		}
		if r := tx.Released("1/4"); len(r) != 1 {
			t.Errorf("released after reopen = %v", r)
		}
	})
	_ = s.Update(func(tx *Tx) error {
		if id := tx.NextID("vm", tx.HasVM); id != 2 {
			t.Errorf("next id after reopen = %d, want 2", id)
		}
		return nil
	})
}

func TestFailedUpdateChangesNothing(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	_ = s.Update(func(tx *Tx) error { tx.PutDisk(Disk{ID: 1, Name: "old"}); return nil })
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		tx.PutDisk(Disk{ID: 1, Name: "new"})
		tx.PutDisk(Disk{ID: 2, Name: "other"})
		tx.NextID("disk", tx.HasDisk)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	s.View(func(tx *Tx) {
		if d, _ := tx.Disk(1); d.Name != "old" {
			t.Errorf("disk 1 = %q, want old", d.Name)
		}
		if tx.HasDisk(2) {
			t.Error("disk 2 exists after failed update")
		}
	})
}

func TestCopiesAreIsolated(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	_ = s.Update(func(tx *Tx) error { tx.PutVM(VM{ID: 1, DiskIDs: []int64{1}}); return nil })
	s.View(func(tx *Tx) {
		v, _ := tx.VM(1)
		v.DiskIDs[0] = 99
	})
	s.View(func(tx *Tx) {
		if v, _ := tx.VM(1); v.DiskIDs[0] != 1 {
			t.Error("mutating a copy changed the store")
		}
	})
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTemp(t, path)
	defer s.Close()
	_, err := Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open err = %v, want ErrLocked", err)
	}
}

func TestConcurrentUpdatesAllDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTemp(t, path)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Update(func(tx *Tx) error {
				tx.PutOperation(Operation{ID: tx.NextID("op", tx.HasOperation), Step: StepWait})
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s.Close()
	s = openTemp(t, path)
	defer s.Close()
	n := 0
	s.View(func(tx *Tx) { tx.EachOperation(func(*Operation) bool { n++; return true }) })
	if n != 200 {
		t.Fatalf("%d operations after reopen, want 200", n)
	}
}

func BenchmarkUpdate(b *testing.B) {
	s, _ := Open(filepath.Join(b.TempDir(), "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer s.Close()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = s.Update(func(tx *Tx) error {
				tx.PutOperation(Operation{ID: tx.NextID("op", tx.HasOperation), Step: StepWait})
				return nil
			})
		}
	})
}

var errNoSpace = &fakeErrno{}

// fakeErrno stands for the disk's ENOSPC in the unit tests (the real one
// comes from a full filesystem in cmd/xenagent's full-disk test).
type fakeErrno struct{}

func (*fakeErrno) Error() string { return "write state.db: no space left on device" }

func newOp(tx *Tx) int64 {
	id := tx.NextID("op", tx.HasOperation)
	tx.PutOperation(Operation{ID: id, Step: StepWait})
	return id
}

// A refused write leaves memory as the file is, seq included, and fails
// with ErrUnwritable; while failed, writes are refused without running.
func TestRefusedWriteIsUndone(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	if err := s.Update(func(tx *Tx) error {
		newOp(tx)
		tx.PutVM(VM{ID: 5, State: VMRunning})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.failWrites(func() error { return errNoSpace })
	err := s.Update(func(tx *Tx) error {
		newOp(tx)
		tx.PutVM(VM{ID: 5, State: VMLocked})
		tx.PutVM(VM{ID: 6, State: VMBeingCreated})
		tx.DeleteOperation(1)
		tx.PutIdem("1/k", IdemEntry{OpIDs: []int64{2}})
		tx.SetReleased("1/4", []string{"10.0.0.9"})
		return nil
	})
	var we *WriteError
	if !errors.Is(err, ErrUnwritable) || !errors.As(err, &we) || !errors.Is(err, errNoSpace) {
		t.Fatalf("err = %v, want a WriteError", err)
	}
	if err := s.sameAsFile(); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) {
		if v, _ := tx.VM(5); v.State != VMRunning || tx.HasVM(6) || !tx.HasOperation(1) || tx.HasOperation(2) {
			t.Errorf("memory kept the refused write: vm 5 %+v, vm 6 %v", v, tx.HasVM(6))
		}
	})
	if s.Writable() == nil {
		t.Fatal("store writable after a refused write")
	}
	ran := false
	err = s.Update(func(tx *Tx) error { ran = true; return nil })
	if !errors.Is(err, ErrUnwritable) || ran {
		t.Fatalf("write while failed: err %v, ran %v; want refused at once", err, ran)
	}
	// The disk stays full: a probe fails and the store stays failed.
	if err := s.Probe(); !errors.Is(err, ErrUnwritable) {
		t.Fatalf("probe on a full disk = %v", err)
	}
	s.failWrites(nil)
	if err := s.Probe(); err != nil {
		t.Fatalf("probe = %v", err)
	}
	if err := s.WaitWritable(context.Background()); err != nil || s.Writable() != nil {
		t.Fatalf("store not writable after a good probe: %v", s.Writable())
	}
	var id int64
	if err := s.Update(func(tx *Tx) error { id = newOp(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if id != 2 {
		t.Fatalf("op id after the refused write = %d, want 2 (the refused allocation undone)", id)
	}
	if err := s.sameAsFile(); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// Writes queued behind a failing batch (sync and async, building on the
// failed one) are refused and undone too, newest first.
func TestWritesQueuedBehindAFailureAreUndone(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	if err := s.Update(func(tx *Tx) error { tx.PutVM(VM{ID: 1, State: VMHalted}); newOp(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	inFlight, release := make(chan struct{}), make(chan struct{})
	s.failWrites(func() error {
		close(inFlight)
		<-release
		return errNoSpace
	})
	errs := make(chan error, 3)
	go func() {
		errs <- s.Update(func(tx *Tx) error {
			v, _ := tx.VM(1)
			v.State = VMBeingCreated
			tx.PutVM(v)
			newOp(tx)
			return nil
		})
	}()
	<-inFlight
	s.failWrites(func() error { return errNoSpace })
	// Both build on the write in flight: they read its VM state and seq.
	if err := s.UpdateAsync(func(tx *Tx) error {
		v, _ := tx.VM(1)
		if v.State != VMBeingCreated {
			t.Errorf("queued write sees vm state %q", v.State)
		}
		v.State = VMRunning
		tx.PutVM(v)
		newOp(tx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		errs <- s.Update(func(tx *Tx) error {
			tx.PutVM(VM{ID: 2})
			tx.DeleteVM(1)
			tx.PutIdem("1/k", IdemEntry{OpIDs: []int64{newOp(tx)}})
			return nil
		})
	}()
	for s.pendingLen() < 2 {
		runtime.Gosched()
	}
	close(release)
	for i := 0; i < 2; i++ {
		if err := <-errs; !errors.Is(err, ErrUnwritable) {
			t.Errorf("err = %v, want ErrUnwritable", err)
		}
	}
	if err := s.sameAsFile(); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) {
		if v, ok := tx.VM(1); !ok || v.State != VMHalted || tx.HasVM(2) || tx.HasOperation(2) {
			t.Errorf("vm 1 = %+v %v, vm 2 %v, op 2 %v", v, ok, tx.HasVM(2), tx.HasOperation(2))
		}
		if _, ok := tx.Idem("1/k"); ok {
			t.Error("refused idempotency key remembered")
		}
	})
	s.failWrites(nil)
	if err := s.Probe(); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := s.Update(func(tx *Tx) error { id = newOp(tx); return nil }); err != nil || id != 2 {
		t.Fatalf("next op = %d, %v; want 2", id, err)
	}
}

// The epoch tells a writer that kept its own copy that an undo happened.
func TestEpochMovesOnUndo(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	var before, after uint64
	s.View(func(tx *Tx) { before = tx.Epoch() })
	s.failWrites(func() error { return errNoSpace })
	_ = s.Update(func(tx *Tx) error { newOp(tx); return nil })
	s.View(func(tx *Tx) { after = tx.Epoch() })
	if after == before {
		t.Fatal("epoch unchanged by an undo")
	}
}

// NewInstance replaces the id in the file at once; the rest stays.
func TestNewInstance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTemp(t, path)
	old := s.Instance()
	id, err := s.NewInstance()
	if err != nil || id == old || len(id) != 16 || s.Instance() != id {
		t.Fatalf("NewInstance = %q, %v (old %q, now %q)", id, err, old, s.Instance())
	}
	s.Close()
	s = openTemp(t, path)
	defer s.Close()
	if s.Instance() != id {
		t.Errorf("reopened: instance %q, want %q", s.Instance(), id)
	}
}

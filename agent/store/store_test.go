package store

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
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

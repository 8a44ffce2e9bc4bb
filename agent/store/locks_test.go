package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A lock is a record like the others: kept across a restart, keyed by its
// VM, gone with an undone transaction, and its id never reused.
func TestLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTemp(t, path)
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	err := s.Update(func(tx *Tx) error {
		for _, vm := range []int64{4, 9} {
			tx.PutLock(Lock{ID: tx.NextID("lock", tx.HasLockID), VMID: vm, Type: LockAdmin, Description: "legal hold", DateCreated: at, DateUpdated: at})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("refused")
	if err := s.Update(func(tx *Tx) error {
		tx.DeleteLock(4)
		tx.PutLock(Lock{ID: 77, VMID: 5})
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failed update: %v", err)
	}
	if err := s.Update(func(tx *Tx) error { tx.DeleteLock(9); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.sameAsFile(); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTemp(t, path)
	defer s.Close()
	s.View(func(tx *Tx) {
		l, ok := tx.Lock(4)
		if !ok || l.ID != 1 || l.Description != "legal hold" || l.Type != LockAdmin || !l.DateCreated.Equal(at) {
			t.Errorf("lock of vm 4 after reopen = %+v, %v", l, ok)
		}
		if _, ok := tx.Lock(5); ok {
			t.Error("the undone transaction's lock of vm 5 is there")
		}
		if _, ok := tx.Lock(9); ok {
			t.Error("the deleted lock of vm 9 is there")
		}
		if n := tx.LockCount(); n != 1 {
			t.Errorf("LockCount = %d, want 1", n)
		}
	})
	_ = s.Update(func(tx *Tx) error {
		if id := tx.NextID("lock", tx.HasLockID); id != 3 {
			t.Errorf("next lock id after reopen = %d, want 3 (ids are not reused)", id)
		}
		return errors.New("only looking")
	})
}

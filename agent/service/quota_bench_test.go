package service

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// BenchmarkUsage is the price of the quota check: one of these per
// submitted call (two for a call that leaves its account past a grant),
// under the store's write lock, for an account of 10,000 VMs, each with
// a disk and an iface: about 2 ms on a loaded 2-core machine, mostly
// cache misses on the records.
func BenchmarkUsage(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(b.TempDir(), "state.db"), log)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := &Service{st: st, eng: ops.New(st, log, ops.Config{}), log: log}
	if err := s.st.Update(func(tx *store.Tx) error {
		tx.PutAccount(store.Account{ID: 1, Handle: "big"})
		for i := int64(1); i <= 10000; i++ {
			tx.PutVM(store.VM{ID: i, AccountID: 1, Memory: 512, Cores: 1, DiskIDs: []int64{i}, IfaceIDs: []int64{i}})
			tx.PutDisk(store.Disk{ID: i, AccountID: 1, SizeMB: 1024, Type: store.DiskTypeData})
			tx.PutIface(store.Iface{ID: i, AccountID: 1, Bandwidth: 1e6, IPIDs: []int64{i}})
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		s.st.View(func(tx *store.Tx) { s.usage(tx, 1) })
	}
}

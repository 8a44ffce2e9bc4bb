package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// lockService is bareService over the state file at path (so a test can
// reopen it), with limits the update calls check against.
func lockService(t *testing.T, path string) *Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(path, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{Datacenter: Datacenter{ID: 1}, Limits: Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxDiskMB: 1 << 20, MaxBandwidth: 1e10, DefaultQuotaMB: 1 << 20}}
	return &Service{cfg: cfg, st: st, eng: ops.New(st, log, ops.Config{}), log: log}
}

// lockFixture: account 1 owns vm 1 (disks 10 and 11, iface 20 with
// address 30, disk 11's snapshot 14) and vm 2 (disk 12, iface 21), and a
// free disk 13 and iface 22.
func lockFixture(t *testing.T, s *Service) {
	t.Helper()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := s.st.Update(func(tx *store.Tx) error {
		tx.PutAccount(store.Account{ID: 1, Handle: "corp", DiskQuotaMB: 1 << 20})
		tx.PutVM(store.VM{ID: 1, AccountID: 1, DatacenterID: 1, Hostname: "web1", Memory: 512, MaxMemory: 1024, Cores: 1, State: store.VMRunning,
			DiskIDs: []int64{10, 11}, IfaceIDs: []int64{20}, DateCreated: at})
		tx.PutVM(store.VM{ID: 2, AccountID: 1, DatacenterID: 1, Hostname: "web2", Memory: 512, MaxMemory: 1024, Cores: 1, State: store.VMHalted,
			DiskIDs: []int64{12}, IfaceIDs: []int64{21}, DateCreated: at})
		for _, d := range []store.Disk{{ID: 10, VMID: 1}, {ID: 11, VMID: 1}, {ID: 12, VMID: 2}, {ID: 13}, {ID: 14, Type: store.DiskTypeSnapshot, Source: 11}} {
			d.AccountID, d.DatacenterID, d.Name, d.SizeMB, d.State = 1, 1, "d"+string(rune('0'+d.ID-10)), 1024, store.DiskCreated
			if d.Type == "" {
				d.Type = store.DiskTypeData
			}
			tx.PutDisk(d)
		}
		for _, i := range []store.Iface{{ID: 20, VMID: 1, IPIDs: []int64{30}}, {ID: 21, VMID: 2}, {ID: 22}} {
			i.AccountID, i.DatacenterID, i.Bandwidth, i.Type, i.State = 1, 1, 1e8, "public", store.IfaceUsed
			if i.VMID == 0 {
				i.State = store.IfaceFree
			}
			tx.PutIface(i)
		}
		tx.PutIP(store.IP{ID: 30, AccountID: 1, DatacenterID: 1, IfaceID: 20, Addr: "192.0.2.30", Version: 4, State: "used"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

var (
	operator = &Caller{Operator: true, Handle: "OPERATOR"}
	owner1   = &Caller{AccountID: 1, Handle: "corp"}
)

func opCount(s *Service) int {
	n := 0
	s.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(*store.Operation) bool { n++; return true })
	})
	return n
}

// Every change a call asks of a locked VM, its disks, ifaces and
// addresses is refused, with the lock named, and records nothing;
// whoever asks. The other VM is not touched by the lock. (A rollback
// needs the workflows: the Gandi face's test has it.)
func TestLockRefusesEveryChange(t *testing.T) {
	ctx := context.Background()
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	lockFixture(t, s)
	l, err := s.LockVM(ctx, operator, 1, "legal hold #42")
	if err != nil {
		t.Fatal(err)
	}
	if l.ID != 1 || l.VMID != 1 || l.Type != store.LockAdmin || l.Description != "legal hold #42" || l.DateCreated.IsZero() {
		t.Fatalf("lock = %+v", l)
	}
	name, bw, rev := "renamed", 2e8, "host.example.com"
	console := true
	calls := []struct {
		name, field string
		call        func(c *Caller) error
	}{
		{"vm.start", "vm_id", func(c *Caller) error { _, err := s.StartVM(ctx, c, 1, CallOptions{}); return err }},
		{"vm.stop", "vm_id", func(c *Caller) error { _, err := s.StopVM(ctx, c, 1, CallOptions{}); return err }},
		{"vm.reboot", "vm_id", func(c *Caller) error { _, err := s.RebootVM(ctx, c, 1, CallOptions{}); return err }},
		{"vm.update", "vm_id", func(c *Caller) error {
			_, err := s.UpdateVM(ctx, c, 1, VMUpdate{Console: &console})
			return err
		}},
		{"vm.delete", "vm_id", func(c *Caller) error { _, err := s.DeleteVM(ctx, c, 1, CallOptions{}); return err }},
		{"vm.disk_attach", "vm_id", func(c *Caller) error {
			_, err := s.AttachDisk(ctx, c, DiskAttach{VMID: 1, DiskID: 13})
			return err
		}},
		{"vm.disk_detach", "vm_id", func(c *Caller) error {
			_, err := s.DetachDisk(ctx, c, DiskDetach{VMID: 1, DiskID: 11})
			return err
		}},
		{"vm.iface_attach", "vm_id", func(c *Caller) error {
			_, err := s.AttachIface(ctx, c, IfaceAttach{VMID: 1, IfaceID: 22})
			return err
		}},
		{"vm.iface_detach", "vm_id", func(c *Caller) error {
			_, err := s.DetachIface(ctx, c, IfaceDetach{VMID: 1, IfaceID: 20})
			return err
		}},
		{"disk.update", "vm_id", func(c *Caller) error {
			_, err := s.UpdateDisk(ctx, c, 11, DiskUpdate{Name: &name})
			return err
		}},
		{"iface.update", "vm_id", func(c *Caller) error {
			_, err := s.UpdateIface(ctx, c, IfaceUpdate{ID: 20, Bandwidth: &bw})
			return err
		}},
		{"ip.update", "ip_id", func(c *Caller) error {
			_, err := s.UpdateIP(ctx, c, IPUpdate{ID: 30, Reverse: &rev})
			return err
		}},
	}
	for _, tt := range calls {
		for _, c := range []*Caller{owner1, operator} {
			t.Run(tt.name+"/"+c.Handle, func(t *testing.T) {
				before := opCount(s)
				err := tt.call(c)
				var e *Error
				if !errors.As(err, &e) || e.Kind != KindConflict {
					t.Fatalf("err = %v, want a conflict naming the lock", err)
				}
				for _, want := range []string{tt.field + ": ", "locked by the operator (lock 1: \"legal hold #42\""} {
					if !strings.Contains(e.Msg, want) {
						t.Errorf("fault %q does not say %q", e.Msg, want)
					}
				}
				if n := opCount(s); n != before {
					t.Errorf("%d operations recorded by a refused call", n-before)
				}
			})
		}
	}
	// The lock is on vm 1 only.
	if _, err := s.StartVM(ctx, owner1, 2, CallOptions{}); err != nil {
		t.Errorf("vm 2, not locked: %v", err)
	}
	if _, err := s.UpdateDisk(ctx, owner1, 13, DiskUpdate{Name: &name}); err != nil {
		t.Errorf("disk 13, on no VM: %v", err)
	}
	// Unlocked, the same calls go through again.
	if _, err := s.UnlockVM(ctx, operator, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StopVM(ctx, owner1, 1, CallOptions{}); err != nil {
		t.Errorf("vm.stop after the unlock: %v", err)
	}
	if _, err := s.UpdateIP(ctx, owner1, IPUpdate{ID: 30, Reverse: &rev}); err != nil {
		t.Errorf("ip.update after the unlock: %v", err)
	}
}

// Bad input and the wrong key are faults naming the field and the rule,
// and leave no lock.
func TestLockBadInput(t *testing.T) {
	ctx := context.Background()
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	lockFixture(t, s)
	tests := []struct {
		name string
		c    *Caller
		vm   int64
		desc string
		kind Kind
		msg  string
	}{
		{"account key", owner1, 1, "x", KindNoRight, "hosting.vm.lock: the operator key only"},
		{"no description", operator, 1, "", KindMissing, "description: missing parameter"},
		{"too long", operator, 1, strings.Repeat("é", MaxLockDescription+1), KindInvalid, "description: must be at most 255 characters"},
		{"two lines", operator, 1, "a\nb", KindInvalid, "description: must be one line of printable characters"},
		{"bad utf-8", operator, 1, "a\xff", KindInvalid, "description: must be valid UTF-8"},
		{"no such vm", operator, 99, "x", KindNotFound, "vm 99 does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.LockVM(ctx, tt.c, tt.vm, tt.desc)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || !strings.HasPrefix(e.Msg, tt.msg) {
				t.Fatalf("err = %v, want %v %q", err, tt.kind, tt.msg)
			}
			if locks, _ := s.VMLocks(operator, 1); len(locks) != 0 {
				t.Errorf("locks after a refused lock: %+v", locks)
			}
		})
	}
	if _, err := s.UnlockVM(ctx, owner1, 1); err == nil || Classify(err).Kind != KindNoRight {
		t.Errorf("unlock with an account key: %v", err)
	}
	if _, err := s.UnlockVM(ctx, operator, 1); err == nil || !strings.Contains(err.Error(), "vm_id: vm 1 is not locked") {
		t.Errorf("unlock of an unlocked vm: %v", err)
	}
	// A VM being deleted cannot be locked: the lock would outlive it.
	if _, err := s.DeleteVM(ctx, owner1, 2, CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockVM(ctx, operator, 2, "x"); err == nil || !strings.Contains(err.Error(), "vm_id: vm 2 is being deleted") {
		t.Errorf("lock of a vm being deleted: %v", err)
	}
}

// The state a client sees is "locked" while the lock is on (vm.info,
// vm.list and its filter, vm.count, host.info), the power state again
// after; locking again changes the description, not the lock.
func TestLockShownState(t *testing.T) {
	ctx := context.Background()
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	lockFixture(t, s)
	s.SetHostSources(HostSources{})
	states := func() (info string, listed map[int64]string, nLocked, nRunning int, host int64) {
		v, err := s.VM(owner1, 1)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := s.VMs(owner1, VMFilter{}, Page{})
		listed = map[int64]string{}
		for _, v := range list {
			listed[v.ID] = v.State
		}
		nLocked, _ = s.CountVMs(owner1, VMFilter{State: store.VMLocked})
		nRunning, _ = s.CountVMs(owner1, VMFilter{State: store.VMRunning})
		h, _ := s.HostInfo(ctx, operator)
		return v.State, listed, nLocked, nRunning, h.VMs[store.VMLocked]
	}
	first, err := s.LockVM(ctx, operator, 1, "legal hold")
	if err != nil {
		t.Fatal(err)
	}
	info, listed, nLocked, nRunning, host := states()
	if info != "locked" || listed[1] != "locked" || listed[2] != "halted" || nLocked != 1 || nRunning != 0 || host != 1 {
		t.Errorf("locked: info %q, list %v, count locked %d, running %d, host locked %d", info, listed, nLocked, nRunning, host)
	}
	again, err := s.LockVM(ctx, operator, 1, "legal hold, case 7")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !again.DateCreated.Equal(first.DateCreated) || again.Description != "legal hold, case 7" {
		t.Errorf("locking again = %+v, first %+v", again, first)
	}
	if _, err := s.UnlockVM(ctx, operator, 1); err != nil {
		t.Fatal(err)
	}
	info, listed, nLocked, nRunning, host = states()
	if info != "running" || listed[1] != "running" || nLocked != 0 || nRunning != 1 || host != 0 {
		t.Errorf("unlocked: info %q, list %v, count locked %d, running %d, host locked %d", info, listed, nLocked, nRunning, host)
	}
	if l, err := s.LockVM(ctx, operator, 1, "again"); err != nil || l.ID != 2 {
		t.Errorf("a new lock after the unlock = %+v, %v; want a new id, 2", l, err)
	}
}

// VMLocks lists the operator's lock, then a task lock per unfinished
// operation on the VM, its disks or ifaces (a snapshot lock for a copy
// of one of its disks); the owner reads them, others do not.
func TestVMLocksListsTasks(t *testing.T) {
	ctx := context.Background()
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	lockFixture(t, s)
	stop, err := s.StopVM(ctx, owner1, 1, CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var snap store.Operation
	if err := s.st.Update(func(tx *store.Tx) error {
		snap = s.newOp(tx, 1, opSpec{typ: "disk_create", diskID: 15, keys: []string{"disk:15", "disk:11"}, params: map[string]string{"source": "11"}})
		s.newOp(tx, 1, opSpec{typ: "vm_start", vmID: 2, keys: []string{"vm:2"}}) // another VM's
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockVM(ctx, operator, 1, "legal hold"); err != nil {
		t.Fatal(err)
	}
	locks, err := s.VMLocks(owner1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 3 {
		t.Fatalf("locks = %+v, want the admin lock, the stop's and the snapshot's", locks)
	}
	want := []struct {
		typ string
		op  int64
	}{{store.LockAdmin, 0}, {store.LockTask, stop.ID}, {store.LockSnapshot, snap.ID}}
	for i, w := range want {
		if l := locks[i]; l.Type != w.typ || l.OperationID != w.op || l.VMID != 1 || l.Description == "" || l.DateCreated.IsZero() {
			t.Errorf("lock %d = %+v, want type %s, operation %d", i, l, w.typ, w.op)
		}
	}
	if _, err := s.VMLocks(&Caller{AccountID: 2}, 1); err == nil || Classify(err).Kind != KindNotFound {
		t.Errorf("another account's view of the locks: %v", err)
	}
}

// The lock is one write of the state file: kept across a restart, and a
// write the disk refuses leaves no lock and no refusal behind.
func TestLockRestartAndRefusedWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := lockService(t, path)
	lockFixture(t, s)
	s.st.SetWriteFault(func() error { return errors.New("no space left on device") })
	if _, err := s.LockVM(ctx, operator, 1, "legal hold"); err == nil || Classify(err).Kind != KindUnavailable {
		t.Fatalf("lock on a refusing disk: %v", err)
	}
	if locks, _ := s.VMLocks(operator, 1); len(locks) != 0 {
		t.Fatalf("a refused lock is in memory: %+v", locks)
	}
	s.st.SetWriteFault(nil)
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for {
		if _, err = s.LockVM(ctx, operator, 1, "legal hold"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // until the store's probe finds the disk writable
	}
	if err != nil {
		t.Fatal(err)
	}
	s.st.Close()

	s = lockService(t, path)
	locks, err := s.VMLocks(operator, 1)
	if err != nil || len(locks) != 1 || locks[0].Description != "legal hold" {
		t.Fatalf("locks after a restart = %+v, %v", locks, err)
	}
	if _, err := s.StartVM(ctx, owner1, 1, CallOptions{}); err == nil || !strings.Contains(err.Error(), `lock 1: "legal hold"`) {
		t.Errorf("vm.start of the locked vm after a restart: %v", err)
	}
	if err := s.st.Check(); err != nil {
		t.Error(err)
	}
}

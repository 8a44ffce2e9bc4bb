package service

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/store"
)

// room is a host with memFree MB of memory and diskFree MB of storage.
type room struct{ memFree, diskFree int64 }

func (r room) NodeInfo(context.Context) (host.NodeInfo, error) {
	return host.NodeInfo{MemoryTotal: 64 << 30, MemoryFree: r.memFree << 20}, nil
}

func (r room) Capacity(context.Context) (host.Capacity, error) {
	return host.Capacity{Kind: "file", Size: 1 << 40, Free: r.diskFree << 20}, nil
}

// ticketService is lockService's fixture on a host with 4096 MB of
// memory and 10000 MB of storage free, a pool of 10.0.0.10-20 (vm 1's
// address 192.0.2.30 is outside it), and account 1's quota generous.
func ticketService(t *testing.T) *Service {
	t.Helper()
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	lockFixture(t, s)
	v4, err := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.Network.V4 = &v4
	s.SetHostSources(HostSources{Node: room{4096, 10000}, Pool: room{4096, 10000}})
	if err := s.st.Update(func(tx *store.Tx) error {
		a, _ := tx.Account(1)
		a.Quota = store.AccountQuota{Servers: 10, Cores: 32, MemoryMB: 1 << 20, DiskMB: 1 << 20, Bandwidth: 1e12, IPs: 20}
		tx.PutAccount(a)
		tx.PutIP(store.IP{ID: 31, AccountID: 1, DatacenterID: 1, Addr: "10.0.0.15", Version: 4, State: "used"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// goodTicket admits vm 50 with two disks and an iface keeping 10.0.0.12.
func goodTicket() TicketSpec {
	return TicketSpec{AccountID: 1, VMID: 50, MemoryMB: 1024, Cores: 2,
		Disks:  []store.TicketDisk{{ID: 60, SizeMB: 2048}, {ID: 61, SizeMB: 1024}},
		Ifaces: []TicketIfaceSpec{{ID: 70, Addr: "10.0.0.12", SameNetwork: true}}}
}

// A ticket the host cannot honour is refused, naming the field, and
// records nothing; one it can is issued once, and what it reserves is
// refused to the next.
func TestIssueTicketRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		who   *Caller
		edit  func(*TicketSpec)
		kind  Kind
		field string // the refusal names it; "" is issued
	}{
		{"issued", operator, func(*TicketSpec) {}, 0, ""},
		{"an account's key", owner1, func(*TicketSpec) {}, KindNoRight, "hosting.migration.ticket: the operator key only"},
		{"no account", operator, func(s *TicketSpec) { s.AccountID = 0 }, KindMissing, "account_id"},
		{"unknown account", operator, func(s *TicketSpec) { s.AccountID = 9 }, KindNotFound, "account_id"},
		{"vm exists here", operator, func(s *TicketSpec) { s.VMID = 1 }, KindDuplicate, "vm_id: vm 1 exists"},
		{"disk exists here", operator, func(s *TicketSpec) { s.Disks[1].ID = 10 }, KindDuplicate, "disks[1].id: disk 10 exists"},
		{"disk twice", operator, func(s *TicketSpec) { s.Disks[1].ID = 60 }, KindInvalid, "disks[1].id: disk 60 is listed twice"},
		{"disk of 0 MB", operator, func(s *TicketSpec) { s.Disks[0].SizeMB = 0 }, KindInvalid, "disks[0].size"},
		{"no disk", operator, func(s *TicketSpec) { s.Disks = nil }, KindInvalid, "disks: a vm moves with its system disk"},
		{"iface exists here", operator, func(s *TicketSpec) { s.Ifaces[0].ID = 20 }, KindDuplicate, "ifaces[0].id: iface 20 exists"},
		{"memory not a multiple", operator, func(s *TicketSpec) { s.MemoryMB = 1000 }, KindInvalid, "memory: must be a multiple of 64"},
		{"no cores", operator, func(s *TicketSpec) { s.Cores = 0 }, KindInvalid, "cores"},
		{"more memory than free", operator, func(s *TicketSpec) { s.MemoryMB = 8192 }, KindQuota, "memory: 8192 MB asked, 4096 MB free"},
		{"more storage than free", operator, func(s *TicketSpec) { s.Disks[0].SizeMB = 9000 }, KindQuota, "disks: 10024 MB asked, 10000 MB free"},
		{"address leased here", operator, func(s *TicketSpec) { s.Ifaces[0].Addr = "10.0.0.15" }, KindConflict, "ifaces[0].ip: 10.0.0.15 is leased"},
		{"address of another network", operator, func(s *TicketSpec) { s.Ifaces[0].Addr = "192.0.2.99" }, KindInvalid, "ifaces[0].ip: 192.0.2.99 is not a guest's address on this host's IPv4 network"},
		{"the network's gateway", operator, func(s *TicketSpec) { s.Ifaces[0].Addr = "10.0.0.1" }, KindInvalid, "ifaces[0].ip: 10.0.0.1 is not a guest's address"},
		{"another host's range of the network", operator, func(s *TicketSpec) { s.Ifaces[0].Addr = "10.0.0.200" }, 0, ""},
		{"same network without address", operator, func(s *TicketSpec) { s.Ifaces[0].Addr = "" }, KindMissing, "ifaces[0].ip"},
		{"new address without version", operator, func(s *TicketSpec) { s.Ifaces[0] = TicketIfaceSpec{ID: 70} }, KindInvalid, "ifaces[0].ip_version"},
		{"new address without a v6 pool", operator, func(s *TicketSpec) { s.Ifaces[0] = TicketIfaceSpec{ID: 70, Version: 6} }, KindInvalid, "ifaces[0].ip_version: no IPv6 pool"},
		{"expires too late", operator, func(s *TicketSpec) { s.Expires = 48 * time.Hour }, KindInvalid, "expires"},
		{"detached: two things", operator, func(s *TicketSpec) { s.VMID, s.MemoryMB, s.Cores = 0, 0, 0 }, KindInvalid, "vm_id: without a vm"},
		{"quota", operator, func(s *TicketSpec) { s.MemoryMB = 2048 + 1024 }, KindQuota, "memory: 3072 MB more would exceed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ticketService(t)
			if tt.name == "quota" {
				if err := s.st.Update(func(tx *store.Tx) error {
					a, _ := tx.Account(1)
					a.Quota.MemoryMB = 4000 // 1024 used by vms 1 and 2
					tx.PutAccount(a)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			spec := goodTicket()
			tt.edit(&spec)
			g, err := s.IssueTicket(ctx, tt.who, spec)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(g.Ticket) < 43 || !g.Expires.After(time.Now()) {
					t.Fatalf("grant %+v: want a 256-bit secret and a future expiry", g)
				}
				var kept store.Ticket
				s.st.View(func(tx *store.Tx) { kept, _ = tx.Ticket(g.ID) })
				if kept.SecretHash != HashKey(g.Ticket) || strings.Contains(kept.SecretHash, g.Ticket) {
					t.Fatalf("kept %+v: want the secret's hash only", kept)
				}
				return
			}
			wantRefusal(t, err, tt.kind, tt.field)
			n := 0
			s.st.View(func(tx *store.Tx) { tx.EachTicket(func(*store.Ticket) bool { n++; return true }) })
			if n != 0 {
				t.Fatalf("a refused ticket left %d tickets", n)
			}
		})
	}
}

// What a live ticket reserves (ids, memory, storage, its address) is
// refused to the next ticket and to leases; once it expires, it holds
// nothing.
func TestTicketReservations(t *testing.T) {
	ctx := context.Background()
	s := ticketService(t)
	first := goodTicket()
	first.Expires = time.Minute
	if _, err := s.IssueTicket(ctx, operator, first); err != nil {
		t.Fatal(err)
	}
	again := func(edit func(*TicketSpec)) error {
		spec := goodTicket()
		spec.VMID, spec.Disks[0].ID, spec.Disks[1].ID, spec.Ifaces[0].ID, spec.Ifaces[0].Addr = 51, 62, 63, 71, "10.0.0.20"
		edit(&spec)
		_, err := s.IssueTicket(ctx, operator, spec)
		return err
	}
	wantRefusal(t, again(func(sp *TicketSpec) { sp.VMID = 50 }), KindDuplicate, "vm_id: vm 50 exists on this host or another ticket admits it")
	wantRefusal(t, again(func(sp *TicketSpec) { sp.Disks[0].ID = 61 }), KindDuplicate, "disks[0].id: disk 61")
	wantRefusal(t, again(func(sp *TicketSpec) { sp.Ifaces[0].ID = 70 }), KindDuplicate, "ifaces[0].id: iface 70")
	wantRefusal(t, again(func(sp *TicketSpec) { sp.Ifaces[0].Addr = "10.0.0.12" }), KindConflict, "ifaces[0].ip: 10.0.0.12 is leased on this host or reserved")
	wantRefusal(t, again(func(sp *TicketSpec) { sp.MemoryMB = 3072 + 64 }), KindQuota, "memory: 3136 MB asked, 3072 MB free on this host (1024 MB of it reserved")
	wantRefusal(t, again(func(sp *TicketSpec) { sp.Disks[0].SizeMB = 6000 }), KindQuota, "disks: 7024 MB asked, 6928 MB free")

	// A lease never hands out the reserved address.
	if err := s.st.Update(func(tx *store.Tx) error {
		for range 5 {
			a, err := ipam.Lease(tx, s.cfg.Network.V4, 1)
			if err != nil {
				return err
			}
			if a.String() == "10.0.0.12" {
				t.Errorf("leased the address ticket 1 reserves")
			}
			tx.PutIP(store.IP{ID: tx.NextID("ip", tx.HasIP), AccountID: 1, Addr: a.String(), Version: 4})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Expired, it holds nothing.
	if err := s.st.Update(func(tx *store.Tx) error {
		tk, _ := tx.Ticket(1)
		tk.Expires = time.Now().Add(-time.Second)
		tx.PutTicket(tk)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := again(func(sp *TicketSpec) { sp.VMID, sp.Disks[0].ID, sp.Ifaces[0].ID = 50, 60, 70 }); err != nil {
		t.Fatalf("after the first expired: %v", err)
	}
}

// putTicket stores a ticket of secret in phase.
func putTicket(t *testing.T, s *Service, secret, phase string) {
	t.Helper()
	if err := s.st.Update(func(tx *store.Tx) error {
		tx.PutTicket(store.Ticket{ID: tx.NextID("ticket", tx.HasTicket), SecretHash: HashKey(secret), AccountID: 1, VMID: 50,
			Phase: phase, Expires: time.Now().Add(time.Hour), DateUpdated: time.Now()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Commit and abort exclude each other whatever the order: the one that
// lands first wins, the other is refused naming the phase; both repeat
// harmlessly; neither is taken before the transfer is prepared, nor
// with a wrong ticket.
func TestCommitAbortExclusive(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		phase       string
		commit      string // "" accepted, else the refusal's start
		abort       string
		afterCommit string // the phase a commit leaves
	}{
		{store.TicketPrepared, "", "committed: the migration is committed", store.TicketCommitted},
		{store.TicketReceiving, "receiving: ", "", store.TicketAborted},
		{store.TicketPreparing, "preparing: ", "", store.TicketAborted},
		{store.TicketIssued, "issued: ", "", store.TicketAborted},
		{store.TicketAborted, "aborted: ", "", store.TicketAborted},
		{store.TicketCommitted, "", "committed: ", store.TicketCommitted},
	}
	for _, tt := range tests {
		t.Run(tt.phase, func(t *testing.T) {
			s := ticketService(t)
			putTicket(t, s, "secret-1", tt.phase)
			_, err := s.MigrationCommit(ctx, "secret-1", true)
			wantRefusal(t, err, KindConflict, tt.commit)
			_, err = s.MigrationAbort(ctx, "secret-1", "test")
			wantRefusal(t, err, KindConflict, tt.abort)
			// And again: the same answers.
			_, err = s.MigrationCommit(ctx, "secret-1", true)
			if tt.afterCommit == store.TicketAborted {
				wantRefusal(t, err, KindConflict, "aborted: ")
			} else {
				wantRefusal(t, err, KindConflict, "")
			}
			st, err := s.MigrationState(ctx, "secret-1")
			if err != nil || st.Phase != tt.afterCommit {
				t.Fatalf("phase %q, %v; want %s", st.Phase, err, tt.afterCommit)
			}
			_, err = s.MigrationCommit(ctx, "secret-2", true)
			wantRefusal(t, err, KindNoRight, "ticket: unknown")
		})
	}
}

// Commit and abort sent at once, many times over: exactly one of them
// is taken, every time, and the phase is the one taken.
func TestCommitAbortRace(t *testing.T) {
	ctx := context.Background()
	s := ticketService(t)
	for i := range 50 {
		secret := "race-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		putTicket(t, s, secret, store.TicketPrepared)
		var wg sync.WaitGroup
		var cerr, aerr error
		wg.Add(2)
		go func() { defer wg.Done(); _, cerr = s.MigrationCommit(ctx, secret, true) }()
		go func() { defer wg.Done(); _, aerr = s.MigrationAbort(ctx, secret, "race") }()
		wg.Wait()
		if (cerr == nil) == (aerr == nil) {
			t.Fatalf("round %d: commit %v, abort %v: want exactly one taken", i, cerr, aerr)
		}
		st, _ := s.MigrationState(ctx, secret)
		if want := map[bool]string{true: store.TicketCommitted, false: store.TicketAborted}[cerr == nil]; st.Phase != want {
			t.Fatalf("round %d: phase %s, want %s", i, st.Phase, want)
		}
	}
}

// hosting.vm.migrate refuses what cannot move, naming the field.
func TestMigrateVMRefusals(t *testing.T) {
	ctx := context.Background()
	s := ticketService(t)
	spec := MigrateSpec{Target: "https://10.1.0.2:8443", Ticket: "t"}
	tests := []struct {
		name  string
		who   *Caller
		vm    int64
		edit  func(*MigrateSpec)
		kind  Kind
		field string
	}{
		{"an account's key", owner1, 2, func(*MigrateSpec) {}, KindNoRight, "hosting.vm.migrate: the operator key only"},
		{"target_dc", operator, 2, func(m *MigrateSpec) { m.TargetDC = 3 }, KindInvalid, "target_dc: an agent knows no other datacenter"},
		{"no target", operator, 2, func(m *MigrateSpec) { m.Target = "" }, KindMissing, "target"},
		{"target with a path", operator, 2, func(m *MigrateSpec) { m.Target = "https://h:1/x" }, KindInvalid, "target: must be"},
		{"target not http", operator, 2, func(m *MigrateSpec) { m.Target = "ftp://h" }, KindInvalid, "target: must be"},
		{"no ticket", operator, 2, func(m *MigrateSpec) { m.Ticket = "" }, KindMissing, "ticket"},
		{"unknown vm", operator, 9, func(*MigrateSpec) {}, KindNotFound, "vm 9"},
		{"snapshots stay", operator, 1, func(*MigrateSpec) {}, KindConflict, "disk_id: disk 11 of vm 1 has snapshots [14]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec
			tt.edit(&sp)
			_, err := s.MigrateVM(ctx, tt.who, tt.vm, sp, CallOptions{})
			wantRefusal(t, err, tt.kind, tt.field)
		})
	}
}

package service

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

func ptr[T any](v T) *T { return &v }

// The grant of an account, resource by resource: the operator's value,
// then the configured disk_quota_mb, then shares times the definition
// (shares model), then the configured default, then the built-in one.
func TestGrantOrder(t *testing.T) {
	share := Resources{Servers: 1, Cores: 0.5, MemoryMB: 256, DiskMB: 1000, Bandwidth: 1e6, IPs: 2}
	tests := []struct {
		name  string
		q     Quotas
		acct  store.Account
		want  Resources
		model string
	}{
		{"built-in defaults", Quotas{}, store.Account{},
			Resources{Servers: 1024, Cores: 4096, MemoryMB: 4 << 20, DiskMB: 5000, Bandwidth: 1e12, IPs: 4096}, ModelShares},
		{"configured defaults", Quotas{Default: Resources{Servers: 3, DiskMB: 700}}, store.Account{},
			Resources{Servers: 3, Cores: 4096, MemoryMB: 4 << 20, DiskMB: 700, Bandwidth: 1e12, IPs: 4096}, ModelShares},
		{"configured shares", Quotas{Share: share, Shares: 4}, store.Account{},
			Resources{Servers: 4, Cores: 2, MemoryMB: 1024, DiskMB: 4000, Bandwidth: 4e6, IPs: 8}, ModelShares},
		{"shares set by the operator, disk from the account's config", Quotas{Share: share}, store.Account{DiskQuotaMB: 9, Quota: store.AccountQuota{Shares: 2}},
			Resources{Servers: 2, Cores: 1, MemoryMB: 512, DiskMB: 9, Bandwidth: 2e6, IPs: 4}, ModelShares},
		{"rating model ignores shares", Quotas{Share: share, Shares: 4, Rating: true}, store.Account{},
			Resources{Servers: 1024, Cores: 4096, MemoryMB: 4 << 20, DiskMB: 5000, Bandwidth: 1e12, IPs: 4096}, ModelRating},
		{"operator values win", Quotas{Share: share, Shares: 4}, store.Account{DiskQuotaMB: 9,
			Quota: store.AccountQuota{Servers: 7, Cores: 1.5, MemoryMB: 100, DiskMB: 50, Bandwidth: 3, IPs: 1, Model: ModelShares}},
			Resources{Servers: 7, Cores: 1.5, MemoryMB: 100, DiskMB: 50, Bandwidth: 3, IPs: 1}, ModelShares},
		{"the account's configured values under the operator's", Quotas{Share: share, Shares: 4}, store.Account{
			Quota:      store.AccountQuota{Servers: 7},
			Configured: store.AccountQuota{Servers: 9, IPs: 3, Shares: 2}},
			Resources{Servers: 7, Cores: 1, MemoryMB: 512, DiskMB: 2000, Bandwidth: 2e6, IPs: 3}, ModelShares},
		{"the account's configured model under the operator's", Quotas{}, store.Account{
			Quota: store.AccountQuota{Model: ModelShares}, Configured: store.AccountQuota{Model: ModelRating}},
			Resources{Servers: 1024, Cores: 4096, MemoryMB: 4 << 20, DiskMB: 5000, Bandwidth: 1e12, IPs: 4096}, ModelShares},
		{"the account's configured model", Quotas{}, store.Account{Configured: store.AccountQuota{Model: ModelRating}},
			Resources{Servers: 1024, Cores: 4096, MemoryMB: 4 << 20, DiskMB: 5000, Bandwidth: 1e12, IPs: 4096}, ModelRating},
		{"operator's model", Quotas{}, store.Account{Quota: store.AccountQuota{Model: ModelRating}},
			Resources{Servers: 1024, Cores: 4096, MemoryMB: 4 << 20, DiskMB: 5000, Bandwidth: 1e12, IPs: 4096}, ModelRating},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{cfg: Config{Limits: Limits{DefaultQuotaMB: 5000}, Quotas: tt.q}}
			g, model, _ := s.grant(tt.acct)
			if g != tt.want || model != tt.model {
				t.Fatalf("grant = %+v %s, want %+v %s", g, model, tt.want, tt.model)
			}
		})
	}
}

func TestSharesFor(t *testing.T) {
	share := Resources{Servers: 1, Cores: 0.25, MemoryMB: 256, DiskMB: 8192, Bandwidth: 102400, IPs: 1}
	for _, tt := range []struct {
		u    Resources
		want int64
	}{
		{Resources{}, 0},
		{Resources{Servers: 1, Cores: 0.25, MemoryMB: 256, DiskMB: 8192}, 1},
		{Resources{Servers: 1, MemoryMB: 257}, 2},
		{Resources{Servers: 2, Cores: 1.0}, 4},
	} {
		if got := sharesFor(tt.u, share); got != tt.want {
			t.Errorf("sharesFor(%+v) = %d, want %d", tt.u, got, tt.want)
		}
	}
}

// quotaService is lockService's fixture (account 1: 2 VMs of 512 MB and
// one core, 5 disks of 1024 MB, 3 ifaces of 1e8 bit/s, one address)
// with q as the operator's quota of account 1.
func quotaService(t *testing.T, q store.AccountQuota) *Service {
	t.Helper()
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	lockFixture(t, s)
	s.cfg.Limits.AllowUnlimited = true
	if err := s.st.Update(func(tx *store.Tx) error {
		a, _ := tx.Account(1)
		a.Quota = q
		tx.PutAccount(a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// Every update that would take a resource past its grant is refused
// with a quota fault naming the resource and records nothing; within
// the grant it is taken; a call that adds nothing passes whatever the
// grant (a lowered grant takes nothing away).
func TestQuotaOnUpdates(t *testing.T) {
	ctx := context.Background()
	tight := store.AccountQuota{Servers: 2, Cores: 3, MemoryMB: 1536, DiskMB: 6000, Bandwidth: 4e8, IPs: 1}
	below := store.AccountQuota{Servers: 1, Cores: 1, MemoryMB: 256, DiskMB: 100, Bandwidth: 1, IPs: 1}
	tests := []struct {
		name  string
		q     store.AccountQuota
		call  func(s *Service) error
		field string // "": accepted
	}{
		{"memory past the grant", tight, func(s *Service) error {
			_, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Memory: ptr[int64](1088), MaxMemory: ptr[int64](2048)})
			return err
		}, "memory"},
		{"memory within the grant", tight, func(s *Service) error {
			_, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Memory: ptr[int64](1024)})
			return err
		}, ""},
		{"cores past the grant", tight, func(s *Service) error {
			_, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Cores: ptr[int64](3)})
			return err
		}, "cores"},
		{"bandwidth past the grant", tight, func(s *Service) error {
			_, err := s.UpdateIface(ctx, owner1, IfaceUpdate{ID: 20, Bandwidth: ptr(2.1e8)})
			return err
		}, "bandwidth"},
		{"bandwidth within the grant", tight, func(s *Service) error {
			_, err := s.UpdateIface(ctx, owner1, IfaceUpdate{ID: 20, Bandwidth: ptr(2e8)})
			return err
		}, ""},
		{"unlimited counts as the most a shaped iface may have", tight, func(s *Service) error {
			_, err := s.UpdateIface(ctx, owner1, IfaceUpdate{ID: 20, Bandwidth: ptr(Unlimited)})
			return err
		}, "bandwidth"},
		{"disk past the grant", tight, func(s *Service) error {
			_, err := s.UpdateDisk(ctx, owner1, 13, DiskUpdate{SizeMB: ptr[int64](2048)})
			return err
		}, "size"}, // the disk's own check names its field first
		{"below the grant: less memory passes", below, func(s *Service) error {
			_, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Memory: ptr[int64](256)})
			return err
		}, ""},
		{"below the grant: a stop passes", below, func(s *Service) error {
			_, err := s.StopVM(ctx, owner1, 1, CallOptions{})
			return err
		}, ""},
		{"below the grant: an attach passes", below, func(s *Service) error {
			_, err := s.AttachDisk(ctx, owner1, DiskAttach{VMID: 2, DiskID: 13})
			return err
		}, ""},
		{"below the grant: more memory is refused", below, func(s *Service) error {
			_, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Memory: ptr[int64](576)})
			return err
		}, "memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := quotaService(t, tt.q)
			before := opCount(s)
			err := tt.call(s)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || se.Kind != KindQuota || !strings.HasPrefix(se.Msg, tt.field+":") {
				t.Fatalf("err = %v, want a quota fault naming %s", err, tt.field)
			}
			resource := map[string]string{"size": "disk"}[tt.field]
			if resource == "" {
				resource = tt.field
			}
			if se.Quota != resource {
				t.Fatalf("err.Quota = %q, want %q (the resource, for faces counting in their own units)", se.Quota, resource)
			}
			if n := opCount(s); n != before {
				t.Fatalf("a refused call left %d operations", n-before)
			}
		})
	}
}

// Two updates queued on a VM, each within the grant alone, may not add
// up past it: the second counts what the first asked for.
func TestQuotaCountsQueuedUpdates(t *testing.T) {
	ctx := context.Background()
	s := quotaService(t, store.AccountQuota{Cores: 4})
	if _, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Cores: ptr[int64](3)}); err != nil {
		t.Fatal(err)
	}
	acct, err := s.Account(owner1)
	if err != nil || acct.Used.Cores != 4 || acct.Available.Cores != 0 {
		t.Fatalf("account = %+v, %v; want 4 cores used, as the queued update will make it", acct, err)
	}
	if _, err := s.UpdateVM(ctx, owner1, 2, VMUpdate{Cores: ptr[int64](2)}); err == nil || !strings.HasSuffix(err.Error(), "cores: 1 more would exceed the account's cores quota (4 of 4 used)") {
		t.Fatalf("a second update past the grant: %v", err)
	}
	if _, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Cores: ptr[int64](2)}); err != nil {
		t.Fatalf("an update that gives back what a queued one asked: %v", err)
	}
}

// hosting.account.update's rules: the operator only, values checked
// naming the field, 0 back to the configured value, kept in the record.
func TestUpdateAccount(t *testing.T) {
	ctx := context.Background()
	s := quotaService(t, store.AccountQuota{})
	if _, err := s.UpdateAccount(ctx, owner1, 1, AccountUpdate{Servers: ptr[int64](99)}); err == nil || !strings.Contains(err.Error(), "operator") {
		t.Fatalf("an account raised its own quota: %v", err)
	}
	bad := []struct {
		field string
		req   AccountUpdate
	}{
		{"servers", AccountUpdate{Servers: ptr[int64](-1)}},
		{"cores", AccountUpdate{Cores: ptr(-0.5)}},
		{"bandwidth", AccountUpdate{Bandwidth: ptr(1e300)}},
		{"model", AccountUpdate{Model: ptr("credits")}},
		{"account_spec", AccountUpdate{}},
	}
	for _, b := range bad {
		if _, err := s.UpdateAccount(ctx, operator, 1, b.req); err == nil || !strings.Contains(err.Error(), b.field) {
			t.Errorf("%s: %v, want a fault naming it", b.field, err)
		}
	}
	if _, err := s.UpdateAccount(ctx, operator, 9, AccountUpdate{Servers: ptr[int64](1)}); err == nil {
		t.Error("an unknown account was updated")
	}
	acct, err := s.UpdateAccount(ctx, operator, 1, AccountUpdate{Servers: ptr[int64](2), Cores: ptr(2.5), Model: ptr(ModelRating)})
	if err != nil || acct.Granted.Servers != 2 || acct.Granted.Cores != 2.5 || acct.Model != ModelRating || acct.Available.Servers != 0 || acct.Available.Cores != 0.5 {
		t.Fatalf("after update: %+v, %v", acct, err)
	}
	if _, err := s.UpdateVM(ctx, owner1, 1, VMUpdate{Cores: ptr[int64](2)}); err == nil {
		t.Fatal("the new grant is not enforced")
	}
	// EnsureAccount (every start) keeps what the operator set.
	if _, err := s.EnsureAccount("corp", "Corp", "", 0); err != nil {
		t.Fatal(err)
	}
	acct, err = s.UpdateAccount(ctx, operator, 1, AccountUpdate{Servers: ptr[int64](0)})
	if err != nil || acct.Granted.Servers != 1024 || acct.Granted.Cores != 2.5 || acct.Model != ModelRating {
		t.Fatalf("after reset of servers and a restart: %+v, %v", acct, err)
	}
}

// The configuration's grant of an account is written at every start,
// replacing the last one, under what the operator set.
func TestConfigureAccount(t *testing.T) {
	ctx := context.Background()
	s := quotaService(t, store.AccountQuota{})
	if err := s.ConfigureAccount("corp", store.AccountQuota{Servers: 5, Model: ModelRating}); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(owner1); a.Granted.Servers != 5 || a.Model != ModelRating {
		t.Fatalf("configured: %+v", a)
	}
	if _, err := s.UpdateAccount(ctx, operator, 1, AccountUpdate{Servers: ptr[int64](6)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfigureAccount("corp", store.AccountQuota{Servers: 4, IPs: 9}); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(owner1); a.Granted.Servers != 6 || a.Granted.IPs != 9 || a.Model != ModelShares {
		t.Fatalf("reconfigured under the operator's: %+v", a)
	}
	if err := s.ConfigureAccount("nobody", store.AccountQuota{}); err == nil {
		t.Error("an unknown handle was configured")
	}
	if err := s.ConfigureAccount("corp", store.AccountQuota{Model: "credits"}); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("a bad model: %v", err)
	}
}

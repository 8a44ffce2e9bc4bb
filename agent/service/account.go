package service

import (
	"context"
	"math"

	"github.com/xenagent/xenagent/agent/store"
)

// Account is what hosting.account.info shows of an account: what it is
// granted, holds and has left of each resource a quota bounds (quota.go),
// and its model.
type Account struct {
	ID               int64
	Handle, Fullname string
	// Model is ModelShares or ModelRating (the seed's rating_enabled).
	Model string
	// Shares is the account's share count (shares model; 0: its grant is
	// not counted in shares); UsedShares how many shares what it holds
	// needs, the most any one resource needs; AvailableShares the
	// difference, never below 0 (a count lowered below what is held).
	// An account without a count has all three 0: a used count beside
	// a grant of none would say it is over a quota it does not have.
	// ShareDefinition is what one share grants.
	Shares, UsedShares, AvailableShares int64
	ShareDefinition                     Resources
	// Granted is its quotas; Used what it holds, counting what queued
	// operations will change (quota.go's usage); Available what is left,
	// never below 0.
	Granted, Used, Available Resources
}

// Account reads the caller's account. The operator key has none of its
// own: it reads any account with AccountByID.
func (s *Service) Account(c *Caller) (Account, error) {
	if c.Operator {
		return Account{}, Errorf(ObjAccount, KindConflict, "the operator key has no account; use an account's key, or name the account (account_id)")
	}
	return s.AccountByID(c, c.AccountID)
}

// AccountByID reads an account: the caller's own, or any for the
// operator.
func (s *Service) AccountByID(c *Caller, id int64) (Account, error) {
	var out Account
	var err error
	s.st.View(func(tx *store.Tx) {
		a, ok := tx.Account(id)
		if !ok || !c.owns(id) {
			err = notFound(ObjAccount, "account_id: account", id)
			return
		}
		out = s.accountOf(tx, a)
	})
	return out, err
}

func (s *Service) accountOf(tx *store.Tx, a store.Account) Account {
	g, model, shares := s.grant(a)
	u := s.usage(tx, a.ID)
	out := Account{ID: a.ID, Handle: a.Handle, Fullname: a.Fullname, Model: model, Granted: g, Used: u, Available: g.left(u)}
	if model == ModelShares {
		out.Shares, out.ShareDefinition = shares, s.share()
		if shares > 0 {
			out.UsedShares = sharesFor(u, out.ShareDefinition)
			out.AvailableShares = max(shares-out.UsedShares, 0)
		}
	}
	return out
}

// AccountUpdate is what the operator changes of an account's quotas; nil
// leaves a field as it is, 0 takes the configured value again (quota.go).
type AccountUpdate struct {
	Servers, MemoryMB, DiskMB, IPs, Shares *int64
	Cores, Bandwidth                       *float64
	// Model is ModelShares, ModelRating, or "" for the configured one.
	Model *string
}

// maxQuota bounds a quota so sums of them stay exact in a float64.
const maxQuota = 1 << 50

// UpdateAccount changes an account's quotas and model at once (no
// operation: nothing on the host changes). Operator only. A grant below
// what the account holds takes nothing away; it refuses what would add
// to it.
func (s *Service) UpdateAccount(ctx context.Context, c *Caller, id int64, req AccountUpdate) (Account, error) {
	if !c.Operator {
		return Account{}, Errorf(ObjAccount, KindNoRight, "only the operator key may change an account's quotas")
	}
	ints := []struct {
		field string
		v     *int64
		dst   func(q *store.AccountQuota, n int64)
	}{
		{"servers", req.Servers, func(q *store.AccountQuota, n int64) { q.Servers = n }},
		{"memory", req.MemoryMB, func(q *store.AccountQuota, n int64) { q.MemoryMB = n }},
		{"disk", req.DiskMB, func(q *store.AccountQuota, n int64) { q.DiskMB = n }},
		{"ips", req.IPs, func(q *store.AccountQuota, n int64) { q.IPs = n }},
		{"shares", req.Shares, func(q *store.AccountQuota, n int64) { q.Shares = n }},
	}
	floats := []struct {
		field string
		v     *float64
		dst   func(q *store.AccountQuota, f float64)
	}{
		{"cores", req.Cores, func(q *store.AccountQuota, f float64) { q.Cores = f }},
		{"bandwidth", req.Bandwidth, func(q *store.AccountQuota, f float64) { q.Bandwidth = f }},
	}
	changed := req.Model != nil
	for _, f := range ints {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || *f.v > maxQuota {
			return Account{}, Invalid(ObjAccount, f.field, "must be between 0 (the configured value) and %d, got %d", int64(maxQuota), *f.v)
		}
		changed = true
	}
	for _, f := range floats {
		if f.v == nil {
			continue
		}
		if math.IsNaN(*f.v) || *f.v < 0 || *f.v > maxQuota {
			return Account{}, Invalid(ObjAccount, f.field, "must be between 0 (the configured value) and %d, got %v", int64(maxQuota), *f.v)
		}
		changed = true
	}
	if req.Model != nil && *req.Model != "" {
		if err := checkModel("model", *req.Model); err != nil {
			return Account{}, err
		}
	}
	if !changed {
		return Account{}, Missing(ObjAccount, "account_spec (one of servers, cores, memory, disk, bandwidth, ips, shares, model)")
	}
	var out Account
	err := s.st.Update(func(tx *store.Tx) error {
		a, ok := tx.Account(id)
		if !ok {
			return notFound(ObjAccount, "account_id: account", id)
		}
		for _, f := range ints {
			if f.v != nil {
				f.dst(&a.Quota, *f.v)
			}
		}
		for _, f := range floats {
			if f.v != nil {
				f.dst(&a.Quota, *f.v)
			}
		}
		if req.Model != nil {
			a.Quota.Model = *req.Model
		}
		tx.PutAccount(a)
		out = s.accountOf(tx, a)
		return nil
	})
	if err != nil {
		return Account{}, err
	}
	s.log.Info("account quotas changed", "account_id", id, "quota", out.Granted, "model", out.Model)
	return out, nil
}

// ShareDefinition is what one share grants (the shares model): a face
// whose calls count in shares (Gandi v1's vm_create and vm_update take
// "shares") turns them into memory, cores and bandwidth with it.
func (s *Service) ShareDefinition() Resources { return s.share() }

// ConfigureAccount records an account's grant and model from the
// configuration ([[accounts]]), at every start, after EnsureAccount: it
// replaces the previous configuration's and leaves the operator's
// run-time values, which come first (quota.go).
func (s *Service) ConfigureAccount(handle string, q store.AccountQuota) error {
	if q.Model != "" {
		if err := checkModel("model", q.Model); err != nil {
			return err
		}
	}
	return s.st.Update(func(tx *store.Tx) error {
		var found *store.Account
		tx.EachAccount(func(a *store.Account) bool {
			if a.Handle == handle {
				c := *a
				found = &c
				return false
			}
			return true
		})
		if found == nil {
			return Errorf(ObjAccount, KindNotFound, "account %q does not exist (EnsureAccount first)", handle)
		}
		if found.Configured == q {
			return nil
		}
		found.Configured = q
		tx.PutAccount(*found)
		return nil
	})
}

// RetireAccounts disables, at start, every account whose handle is not
// in keep (the configuration's [[accounts]] and the [demo] account when
// it is on), and enables again those that are. An account removed from
// the file must stop working, but its VMs, disks and interfaces are the
// customer's: nothing is deleted or stopped, the operator key still sees
// and manages them, and the account's record (id, quota, password) is
// kept for the day it comes back. Each change is logged at WARN.
func (s *Service) RetireAccounts(keep []string) error {
	kept := make(map[string]bool, len(keep))
	for _, h := range keep {
		kept[h] = true
	}
	var changed []store.Account
	err := s.st.Update(func(tx *store.Tx) error {
		changed = changed[:0]
		var list []store.Account
		tx.EachAccount(func(a *store.Account) bool {
			if a.Disabled == kept[a.Handle] {
				c := *a
				c.Disabled = !kept[a.Handle]
				list = append(list, c)
			}
			return true
		})
		for _, a := range list {
			tx.PutAccount(a)
		}
		changed = list
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range changed {
		if a.Disabled {
			s.log.Warn("account disabled: gone from [[accounts]]; its key and v1 logins are refused, what it owns stays (operator key)",
				"account_id", a.ID, "handle", a.Handle)
		} else {
			s.log.Warn("account enabled again: back in [[accounts]]", "account_id", a.ID, "handle", a.Handle)
		}
	}
	return nil
}

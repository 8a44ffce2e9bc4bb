package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// accountInfo is AccountReturn: the account's model, what it is granted,
// holds and has left of each resource (every key present in granted,
// used, available and expired, whatever the model), as the recorded
// answers of the real API show them (gandi-recorded-responses
// account_info.xml for the shares model, account_info_rating.xml for the
// rating model). Extension: the operator key names the account,
// hosting.account.info(apikey, account_id).
func (f *Face) accountInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjAccount
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	var acct service.Account
	var err error
	if a.len() == 1 {
		id, ierr := a.int(0, "account_id")
		if ierr != nil {
			return nil, ierr
		}
		acct, err = f.svc.AccountByID(c, id)
	} else {
		acct, err = f.svc.Account(c)
	}
	if err != nil {
		return nil, err
	}
	return renderAccount(acct), nil
}

// accountUpdate is the extension hosting.account.update(apikey,
// account_id, {servers, cores, memory, disk, bandwidth, ips, shares,
// model}) → the account as hosting.account.info shows it: the operator
// key only; each value replaces the configured one (0 gives it back),
// model is "shares", "rating" or "" (the configured one).
func (f *Face) accountUpdate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjAccount
	if err := service.OperatorOnly(c, "hosting.account.update", "change an account's quotas"); err != nil {
		return nil, err
	}
	if err := a.atMost(2); err != nil {
		return nil, err
	}
	id, err := a.int(0, "account_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "account_spec", false)
	if err != nil {
		return nil, err
	}
	var req service.AccountUpdate
	for key, dst := range map[string]**int64{"servers": &req.Servers, "memory": &req.MemoryMB, "disk": &req.DiskMB, "ips": &req.IPs, "shares": &req.Shares} {
		if *dst, err = sp.intPtr(key); err != nil {
			return nil, err
		}
	}
	for key, dst := range map[string]**float64{"cores": &req.Cores, "bandwidth": &req.Bandwidth} {
		if *dst, err = sp.floatPtr(key); err != nil {
			return nil, err
		}
	}
	if req.Model, err = sp.strPtr("model"); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	acct, err := f.svc.UpdateAccount(ctx, c, id, req)
	if err != nil {
		return nil, err
	}
	return renderAccount(acct), nil
}

// renderAccount is AccountReturn. Nothing is billed on one host: no
// products, nothing expired, no credits (the rating model's credits are
// the central tier's).
func renderAccount(acct service.Account) map[string]any {
	out := map[string]any{"id": acct.ID, "handle": acct.Handle, "fullname": acct.Fullname, "products": []any{}}
	granted, used, avail := resources(acct.Granted), resources(acct.Used), resources(acct.Available)
	expired := resources(service.Resources{})
	if acct.Model == service.ModelRating {
		out["rating_enabled"] = true
		out["products"] = nil // as recorded: no products in this model
		out["share_definition"] = nil
		out["credits"] = int64(0)
		out["date_credits_expiration"] = nil
		out["average_credit_cost"] = nil
		for _, m := range []map[string]any{granted, used, avail, expired} {
			m["shares"] = int64(0)
		}
	} else {
		out["rating_enabled"] = false
		def := resources(acct.ShareDefinition)
		delete(def, "shares")
		out["share_definition"] = def
		granted["shares"], used["shares"], avail["shares"] = acct.Shares, acct.UsedShares, acct.AvailableShares
		expired["shares"] = int64(0)
	}
	out["resources"] = map[string]any{"granted": granted, "used": used, "available": avail, "expired": expired}
	return out
}

// resources renders amounts with the recorded answers' types: cores and
// bandwidth as doubles, the rest as ints; slots, which the real API
// counts apart, is a server's place here: the same as servers.
func resources(r service.Resources) map[string]any {
	return map[string]any{"servers": r.Servers, "slots": r.Servers, "cores": r.Cores, "memory": r.MemoryMB, "disk": r.DiskMB,
		"bandwidth": r.Bandwidth, "ips": r.IPs, "shares": int64(0)}
}

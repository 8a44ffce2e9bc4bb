package gandiv1

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// accountInfo is hosting_account_info(session): the account's shares
// and resources, the same numbers every face reads (service.Account, the
// quotas of quota.go). The document names only "number of shares, used
// shares, etc.", so the struct has:
//
//	id, handle, fullname, rating_enabled
//	shares, shares_used, shares_available  the account's share count,
//	                                       how many what it holds needs,
//	                                       and the difference (never
//	                                       below 0); all three 0 when its
//	                                       grant is not counted in shares
//	                                       (no count, or the rating model)
//	share_definition   what one share grants: servers, cores, memory,
//	                   disk, bandwidth, ips (always there, in either
//	                   model: vm_create's shares are memory by it)
//	resources          granted, used, available: each with servers,
//	                   cores, memory, disk, bandwidth, ips and shares
//	servers, memory_used, cores_used, ips_used, disk_used, disk_granted,
//	disk_available     the flat keys of the first version of this face
//
// No nil: XML-RPC has none without an extension older clients lack.
func (s *Server) accountInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjAccount
	if err := a.count(0, 0); err != nil {
		return nil, err
	}
	acct, err := s.svc.Account(c)
	if err != nil {
		return nil, err
	}
	avail := acct.AvailableShares
	granted, used, left := resources(acct.Granted), resources(acct.Used), resources(acct.Available)
	granted["shares"], used["shares"], left["shares"] = acct.Shares, acct.UsedShares, avail
	def := resources(s.svc.ShareDefinition())
	delete(def, "shares")
	u := acct.Used
	return map[string]any{
		"id": acct.ID, "handle": acct.Handle, "fullname": acct.Fullname,
		"rating_enabled": acct.Model == service.ModelRating,
		"shares":         acct.Shares, "shares_used": acct.UsedShares, "shares_available": avail,
		"share_definition": def,
		"resources":        map[string]any{"granted": granted, "used": used, "available": left},
		"servers":          u.Servers, "memory_used": u.MemoryMB, "cores_used": u.Cores, "ips_used": u.IPs,
		"disk_used": u.DiskMB, "disk_granted": acct.Granted.DiskMB, "disk_available": acct.Available.DiskMB,
	}, nil
}

// resources renders amounts as hosting.account.info does (cores and
// bandwidth, in bit/s, as doubles; the rest as ints), shares 0 until the
// caller sets them.
func resources(r service.Resources) map[string]any {
	return map[string]any{"servers": r.Servers, "cores": r.Cores, "memory": r.MemoryMB, "disk": r.DiskMB,
		"bandwidth": r.Bandwidth, "ips": r.IPs, "shares": int64(0)}
}

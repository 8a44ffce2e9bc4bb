package gandiv1

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// accountInfo is hosting_account_info(session): the account and what it
// uses, in shares (its VMs' memory over ShareMemoryMB) and in resources.
func (s *Server) accountInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjAccount
	if err := a.count(0, 0); err != nil {
		return nil, err
	}
	acct, err := s.svc.Account(c)
	if err != nil {
		return nil, err
	}
	u := acct.Used
	return map[string]any{
		"id": acct.ID, "handle": acct.Handle, "fullname": acct.Fullname,
		"shares_used":      (u.MemoryMB + ShareMemoryMB - 1) / ShareMemoryMB,
		"share_definition": map[string]any{"memory": int64(ShareMemoryMB)},
		"servers":          u.Servers, "memory_used": u.MemoryMB, "cores_used": u.Cores, "ips_used": u.IPs,
		"disk_used": u.DiskMB, "disk_granted": acct.Granted.DiskMB, "disk_available": acct.Available.DiskMB,
	}, nil
}

package main

import (
	"fmt"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// quotasOf is [quotas] as the service takes it (agent/service/quota.go);
// the default disk grant stays limits.default_disk_quota_mb.
func quotasOf(q config.Quotas) service.Quotas {
	s := q.Share
	return service.Quotas{
		Default: service.Resources{Servers: q.Servers, Cores: q.Cores, MemoryMB: q.MemoryMB, Bandwidth: q.BandwidthBPS, IPs: q.IPs},
		Share: service.Resources{Servers: s.Servers, Cores: s.Cores, MemoryMB: s.MemoryMB, DiskMB: s.DiskMB, Bandwidth: s.BandwidthBPS,
			IPs: s.IPs},
		Shares: q.Shares,
		Rating: q.Model == service.ModelRating,
	}
}

// configureQuotas records each [[accounts]] entry's own grant and model;
// seed runs it after creating the accounts.
func configureQuotas(cfg config.Config, svc *service.Service) error {
	for i, a := range cfg.Accounts {
		q := a.AccountQuota
		err := svc.ConfigureAccount(a.Handle, store.AccountQuota{Servers: q.Servers, Cores: q.Cores, MemoryMB: q.MemoryMB,
			Bandwidth: q.BandwidthBPS, IPs: q.IPs, Shares: q.Shares, Model: q.Model})
		if err != nil {
			return fmt.Errorf("accounts[%d]: %w", i, err)
		}
	}
	return nil
}

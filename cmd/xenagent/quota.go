package main

import (
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/service"
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

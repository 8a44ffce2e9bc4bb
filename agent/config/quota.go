package config

import (
	"fmt"
	"math"
)

// Quotas is [quotas]: what an account is granted when the operator set
// nothing for it at run time (hosting.account.update). Disk is
// limits.default_disk_quota_mb, or the account's disk_quota_mb. A zero
// field takes the agent's built-in default (agent/service/quota.go),
// which is generous: quotas are opt-in.
type Quotas struct {
	Servers      int64   `toml:"servers"`
	Cores        float64 `toml:"cores"`
	MemoryMB     int64   `toml:"memory_mb"`
	BandwidthBPS float64 `toml:"bandwidth_bps"`
	IPs          int64   `toml:"ips"`
	// Shares, when positive, grants every account in the shares model
	// that many shares, each worth Share, instead of the values above.
	Shares int64 `toml:"shares"`
	// Model is the model of every account the operator put in none:
	// "shares" (the default, rating_enabled false) or "rating".
	Model string `toml:"model"`
	Share Share  `toml:"share"`
}

// Share is [quotas.share]: what one share grants (hosting.account.info's
// share_definition); a zero field takes the built-in one.
type Share struct {
	Servers      int64   `toml:"servers"`
	Cores        float64 `toml:"cores"`
	MemoryMB     int64   `toml:"memory_mb"`
	DiskMB       int64   `toml:"disk_mb"`
	BandwidthBPS float64 `toml:"bandwidth_bps"`
	IPs          int64   `toml:"ips"`
}

// AccountQuota is an [[accounts]] entry's own grant, over [quotas]: its
// keys are [quotas]' (servers, cores, memory_mb, bandwidth_bps, ips,
// shares, model), 0 or absent leaving [quotas]' value. The operator's
// values at run time (hosting.account.update) still come first.
type AccountQuota struct {
	Servers      int64   `toml:"servers"`
	Cores        float64 `toml:"cores"`
	MemoryMB     int64   `toml:"memory_mb"`
	BandwidthBPS float64 `toml:"bandwidth_bps"`
	IPs          int64   `toml:"ips"`
	Shares       int64   `toml:"shares"`
	Model        string  `toml:"model"`
}

// validateQuotas refuses negative or non-finite amounts and an unknown
// model, naming the field.
func (c Config) validateQuotas() []string {
	var errs []string
	q, s := c.Quotas, c.Quotas.Share
	for _, f := range []struct {
		field string
		v     float64
	}{
		{"quotas.servers", float64(q.Servers)}, {"quotas.cores", q.Cores}, {"quotas.memory_mb", float64(q.MemoryMB)},
		{"quotas.bandwidth_bps", q.BandwidthBPS}, {"quotas.ips", float64(q.IPs)}, {"quotas.shares", float64(q.Shares)},
		{"quotas.share.servers", float64(s.Servers)}, {"quotas.share.cores", s.Cores}, {"quotas.share.memory_mb", float64(s.MemoryMB)},
		{"quotas.share.disk_mb", float64(s.DiskMB)}, {"quotas.share.bandwidth_bps", s.BandwidthBPS}, {"quotas.share.ips", float64(s.IPs)},
	} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Sprintf("%s: must be 0 (the built-in default) or positive, got %v", f.field, f.v))
		}
	}
	errs = append(errs, checkModel("quotas.model", q.Model)...)
	for i, a := range c.Accounts {
		q, field := a.AccountQuota, fmt.Sprintf("accounts[%d].", i)
		for _, f := range []struct {
			field string
			v     float64
		}{
			{"servers", float64(q.Servers)}, {"cores", q.Cores}, {"memory_mb", float64(q.MemoryMB)},
			{"bandwidth_bps", q.BandwidthBPS}, {"ips", float64(q.IPs)}, {"shares", float64(q.Shares)},
		} {
			if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
				errs = append(errs, fmt.Sprintf("%s%s: must be 0 ([quotas]' value) or positive, got %v", field, f.field, f.v))
			}
		}
		errs = append(errs, checkModel(field+"model", q.Model)...)
	}
	return errs
}

func checkModel(field, m string) []string {
	switch m {
	case "", "shares", "rating":
		return nil
	}
	return []string{fmt.Sprintf("%s: must be \"shares\" or \"rating\", got %q", field, m)}
}

package store

// AccountQuota is what the operator changed of an account's quotas at
// run time (hosting.account.update). A zero field is "not set": the
// configuration's value applies. Records written before quotas existed
// decode to the zero value, so no migration is needed.
type AccountQuota struct {
	Servers  int64   `json:"servers,omitempty"`
	Cores    float64 `json:"cores,omitempty"`
	MemoryMB int64   `json:"memory,omitempty"`
	DiskMB   int64   `json:"disk,omitempty"`
	// Bandwidth is in bit/s, the unit of an iface's bandwidth.
	Bandwidth float64 `json:"bandwidth,omitempty"`
	IPs       int64   `json:"ips,omitempty"`
	// Shares is the account's share count in the shares model.
	Shares int64 `json:"shares,omitempty"`
	// Model is "shares" or "rating" ("": the configured default).
	Model string `json:"model,omitempty"`
}

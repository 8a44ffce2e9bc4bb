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

// ScanVMs, ScanDisks and ScanIfaces call fn for every record in no
// order, for sums: without the sort that Each* pays for its id order,
// an account's usage (agent/service/quota.go, on every mutating call)
// costs a third as much on a host of 10,000 VMs. The pointer must not be
// kept or mutated.
func (tx *Tx) ScanVMs(fn func(*VM))       { scanRows(&tx.s.vms, fn) }
func (tx *Tx) ScanDisks(fn func(*Disk))   { scanRows(&tx.s.disks, fn) }
func (tx *Tx) ScanIfaces(fn func(*Iface)) { scanRows(&tx.s.ifaces, fn) }

func scanRows[T any](t *table[T], fn func(*T)) {
	for _, r := range t.rows {
		fn(r)
	}
}

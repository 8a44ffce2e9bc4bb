package host

import "context"

// Stats reads the usage counters of the domains carrying an owner mark
// (defined through Define), never anyone else's, all of them at once:
// a host runs thousands of domains and a call per domain would cost a
// round trip each.
type Stats interface {
	// AllStats returns one entry per marked domain, running or not. A
	// stopped domain has zero counters and no devices. Counters are
	// cumulative since the domain started: they fall back to zero when it
	// restarts, and a device's when it is replugged.
	AllStats(ctx context.Context) ([]DomainStats, error)
}

// DomainStats are one domain's cumulative counters.
type DomainStats struct {
	Name    string
	VMID    int64 // from the owner mark
	Running bool
	// CPUTimeNs is the CPU time used by all vCPUs, VCPUTimeNs by each.
	CPUTimeNs  uint64
	VCPUTimeNs []uint64
	// BalloonKiB is the memory the guest has now, BalloonMaxKiB the most
	// it may balloon to; 0 when the hypervisor does not say.
	BalloonKiB, BalloonMaxKiB uint64
	Ifaces                    []IfaceStats
	Disks                     []DiskStats
}

// IfaceStats are one interface's counters, from the VM's point of view
// (Rx is what the guest received), as Counters are.
type IfaceStats struct {
	Dev string // the host device (vifD.N, a tap)
	MAC string // lower case; "" when unknown
	Counters
}

// DiskStats are one disk's counters.
type DiskStats struct {
	Dev  string // the guest's device name (xvda, vdb)
	Path string // the disk's source (a file or block device)
	ReadBytes, WriteBytes,
	ReadReqs, WriteReqs uint64
}

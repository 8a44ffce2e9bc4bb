package host

import (
	"context"
	"net/netip"
)

// Seeds keeps the first-boot seeds of VMs: what a new guest reads once,
// from a read-only device (DomainSpec.Seed), to set its hostname, users,
// keys and addresses. The adapter chooses the format (storage/nocloud
// writes cloud-init NoCloud images).
type Seeds interface {
	// Path is where a domain finds vmID's seed, and whether a whole one
	// is there. The path is the same whether or not the seed is, and
	// another VM's is another. It looks at the host without waiting on
	// anything (a stat); a seed it cannot see is reported absent.
	Path(vmID int64) (path string, ok bool)
	// Write makes vmID's seed from spec, at Path, replacing an earlier one
	// whole (nothing of the earlier spec is kept) and only once the new
	// one is whole: a crash leaves the old seed or the new, and maybe a
	// half-written one that Path never reports and Sweep removes.
	// Writing the same spec again is harmless.
	Write(ctx context.Context, vmID int64, spec SeedSpec) error
	// Remove deletes vmID's seed, and only vmID's; one already gone (or
	// never written) is no error.
	Remove(ctx context.Context, vmID int64) error
	// Sweep removes the seeds of VMs keep refuses and, whatever keep
	// says, any left half-written by a crash. It names the seeds it
	// removed, each by the last element of its Path, in no set order;
	// the half-written ones go unnamed, since they belong to no VM it
	// could name. With nothing written yet there is nothing to sweep.
	Sweep(ctx context.Context, keep func(vmID int64) bool) ([]string, error)
}

// SeedSpec is what a VM's first boot applies.
type SeedSpec struct {
	// InstanceID is stable for the VM's life, so the guest applies the
	// seed once, not at every boot.
	InstanceID     string
	Hostname       string
	Login          string // an extra user with sudo; root only otherwise
	PasswordHash   string // SHA-512 crypt, for root and the login user; never the password
	AuthorizedKeys []string
	Run            string // run as root once, at the end of the first boot
	Ifaces         []SeedIface
	// Again marks a seed written after the first (new credentials) for a
	// guest already installed: it keeps the guest's SSH host keys, sets
	// the password of existing users, and runs nothing.
	Again bool
}

// SeedIface is one network interface the guest configures statically,
// matched by its MAC.
type SeedIface struct {
	MAC       string
	Addresses []netip.Prefix
	Gateway4  netip.Addr
	Gateway6  netip.Addr
}

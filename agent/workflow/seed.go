package workflow

import (
	"context"
	"net/netip"
	"strconv"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// seedSpec turns a VM's provisioning record into the seed's content.
func (s *Workflows) seedSpec(tx *store.Tx, v store.VM) host.SeedSpec {
	p := v.Provision
	c := host.SeedSpec{InstanceID: s.InstanceID(v), Hostname: v.Hostname, Login: p.Login, PasswordHash: p.Password,
		AuthorizedKeys: p.AuthorizedKeys, Run: p.Run, Again: v.SeedAgain}
	for _, id := range v.IfaceIDs {
		i, ok := tx.Iface(id)
		if !ok {
			continue
		}
		si := host.SeedIface{MAC: i.MAC}
		for _, ipID := range i.IPIDs {
			ip, ok := tx.IP(ipID)
			if !ok {
				continue
			}
			addr, err := netip.ParseAddr(ip.Addr)
			if err != nil {
				continue
			}
			pool := s.cfg.Network.V4
			if addr.Is6() {
				pool = s.cfg.Network.V6
			}
			if pool == nil {
				continue
			}
			si.Addresses = append(si.Addresses, netip.PrefixFrom(addr, pool.Prefix.Bits()))
			if addr.Is4() {
				si.Gateway4 = pool.Gateway
			} else {
				si.Gateway6 = pool.Gateway
			}
		}
		c.Ifaces = append(c.Ifaces, si)
	}
	return c
}

// InstanceID is the cloud-init instance-id of v's current seed: the VM's
// UUID for the first, then UUID-gN for the Nth written after it.
func (s *Workflows) InstanceID(v store.VM) string {
	if v.SeedGen == 0 {
		return s.vmUUID(v)
	}
	return s.vmUUID(v) + "-g" + strconv.FormatInt(v.SeedGen, 10)
}

// seedPath is where a domain finds vmID's seed, if the VM has one on
// the host.
func (s *Workflows) seedPath(vmID int64) (string, bool) {
	if s.cfg.Seeds == nil {
		return "", false
	}
	return s.cfg.Seeds.Path(vmID)
}

// writeSeed makes the seed of a VM that has something for its first
// boot; the define step after it attaches the seed read-only.
func (s *Workflows) writeSeed(ctx context.Context, r *ops.Run) error {
	if s.cfg.Seeds == nil {
		return nil
	}
	var spec host.SeedSpec
	has := false
	s.st.View(func(tx *store.Tx) {
		if v, ok := tx.VM(r.Op().VMID); ok && v.Provision != nil {
			spec, has = s.seedSpec(tx, v), true
		}
	})
	if !has {
		return nil
	}
	return s.cfg.Seeds.Write(ctx, r.Op().VMID, spec)
}

func (s *Workflows) removeSeed(ctx context.Context, r *ops.Run) error {
	if s.cfg.Seeds == nil {
		return nil
	}
	return s.cfg.Seeds.Remove(ctx, r.Op().VMID)
}

// OrphanSeeds removes the seeds of VMs that have no record, and any a
// crash left half-written.
func (s *Workflows) OrphanSeeds(ctx context.Context, known func(vmID int64) bool) ([]string, error) {
	if s.cfg.Seeds == nil {
		return nil, nil
	}
	return s.cfg.Seeds.Sweep(ctx, known)
}

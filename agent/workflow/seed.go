package workflow

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/cloudinit"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// SeedPath is where a VM's first-boot seed image lives.
func (s *Workflows) SeedPath(vmID int64) string {
	return filepath.Join(s.cfg.SeedDir, fmt.Sprintf("xa-seed-%d.iso", vmID))
}

// seedConfig turns a VM's provisioning record into the seed's content.
func (s *Workflows) seedConfig(tx *store.Tx, v store.VM) cloudinit.Config {
	p := v.Provision
	c := cloudinit.Config{InstanceID: s.UUID(v.ID), Hostname: v.Hostname, Login: p.Login, PasswordHash: p.Password,
		AuthorizedKeys: p.AuthorizedKeys, Run: p.Run}
	for _, id := range v.IfaceIDs {
		i, ok := tx.Iface(id)
		if !ok {
			continue
		}
		ci := cloudinit.Iface{MAC: i.MAC}
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
			ci.Addresses = append(ci.Addresses, netip.PrefixFrom(addr, pool.Prefix.Bits()))
			if addr.Is4() {
				ci.Gateway4 = pool.Gateway
			} else {
				ci.Gateway6 = pool.Gateway
			}
		}
		c.Ifaces = append(c.Ifaces, ci)
	}
	return c
}

// writeSeed builds the NoCloud seed of a VM that has something for its
// first boot; the define step after it attaches the seed read-only.
func (s *Workflows) writeSeed(ctx context.Context, r *ops.Run) error {
	var c cloudinit.Config
	has := false
	s.st.View(func(tx *store.Tx) {
		if v, ok := tx.VM(r.Op().VMID); ok && v.Provision != nil {
			c, has = s.seedConfig(tx, v), true
		}
	})
	if !has {
		return nil
	}
	// Traversable but not listable: QEMU runs as its own user and reaches
	// the seed, which libvirt hands over to it (dynamic ownership).
	if err := os.MkdirAll(s.cfg.SeedDir, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(s.cfg.SeedDir, 0o711); err != nil {
		return err
	}
	return cloudinit.Write(s.SeedPath(r.Op().VMID), c)
}

func (s *Workflows) removeSeed(ctx context.Context, r *ops.Run) error {
	if err := os.Remove(s.SeedPath(r.Op().VMID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// orphanSeeds removes seed images (and unfinished ones) of VMs that have
// no record.
func (s *Workflows) OrphanSeeds(known func(id int64) bool) ([]string, error) {
	entries, err := os.ReadDir(s.cfg.SeedDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".seed-work-") {
			if err := os.RemoveAll(filepath.Join(s.cfg.SeedDir, name)); err != nil {
				return removed, err
			}
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, "xa-seed-"), ".iso"), 10, 64)
		if err != nil || known(id) {
			continue
		}
		if err := os.Remove(filepath.Join(s.cfg.SeedDir, name)); err != nil {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}

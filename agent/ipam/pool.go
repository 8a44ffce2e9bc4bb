// Package ipam hands out addresses from configured pools and recycles
// them as the seeds describe: an account gets back the addresses it
// released first, then fresh ones, then others' released ones (Lease);
// a deleted iface's addresses are remembered for its account (Release).
// Which addresses are taken is read from the records in the caller's
// transaction, so a lease and the record it belongs to are one write.
package ipam

import (
	"fmt"
	"net/netip"
)

// Pool is a range of addresses inside one prefix.
type Pool struct {
	Version int
	Prefix  netip.Prefix
	Gateway netip.Addr
	First   netip.Addr
	Last    netip.Addr
}

// Parse builds a pool from its config strings; first and last default to
// the whole prefix less the network, gateway and broadcast addresses.
func Parse(prefix, gateway, first, last string) (Pool, error) {
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return Pool{}, fmt.Errorf("pool prefix %q: %w", prefix, err)
	}
	p = p.Masked()
	pool := Pool{Prefix: p, Version: 4}
	if p.Addr().Is6() {
		pool.Version = 6
	}
	if gateway != "" {
		if pool.Gateway, err = netip.ParseAddr(gateway); err != nil || !p.Contains(pool.Gateway) {
			return Pool{}, fmt.Errorf("pool gateway %q is not an address in %s", gateway, p)
		}
	}
	pool.First = p.Addr().Next()
	if first != "" {
		if pool.First, err = netip.ParseAddr(first); err != nil || !p.Contains(pool.First) {
			return Pool{}, fmt.Errorf("pool first address %q is not in %s", first, p)
		}
	}
	pool.Last = lastOf(p)
	if last != "" {
		if pool.Last, err = netip.ParseAddr(last); err != nil || !p.Contains(pool.Last) {
			return Pool{}, fmt.Errorf("pool last address %q is not in %s", last, p)
		}
	}
	if pool.Last.Less(pool.First) {
		return Pool{}, fmt.Errorf("pool range %s-%s is empty", pool.First, pool.Last)
	}
	return pool, nil
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			if i*8+bit >= bits {
				b[i] |= 0x80 >> bit
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	if p.Addr().Is4() && p.Bits() < 31 {
		a = a.Prev() // broadcast
	}
	return a
}

// Contains reports whether a is an address this pool may hand out.
func (p Pool) Contains(a netip.Addr) bool {
	return p.Prefix.Contains(a) && !a.Less(p.First) && !p.Last.Less(a) && a != p.Gateway
}

// OnLink reports whether a guest may use a on this pool's network: in
// its prefix, neither the gateway nor the prefix's own address (nor, in
// IPv4, its broadcast). Hosts that serve one network each hand out
// their own range of it, and a VM moving between them keeps its address
// although it lies outside the target's range.
func (p Pool) OnLink(a netip.Addr) bool {
	if !p.Prefix.Contains(a) || a == p.Gateway || a == p.Prefix.Masked().Addr() {
		return false
	}
	// lastOf stops before an IPv4 broadcast.
	return !(a.Is4() && p.Prefix.Bits() < 31 && a == lastOf(p.Prefix).Next())
}

// Next returns the lowest address in the range for which taken is false.
func (p Pool) Next(taken func(netip.Addr) bool) (netip.Addr, bool) {
	for a := p.First; a.IsValid() && !p.Last.Less(a); a = a.Next() {
		if a != p.Gateway && !taken(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

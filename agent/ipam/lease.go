package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// Lease picks an address of pool for a new IP record of accountID, in
// the seeds' order: an address the account released before (oldest
// first), then one never used, then one another account released. The
// taken address leaves the released lists in tx, the same transaction
// that records the IP, so a lease and its record are one write.
func Lease(tx *store.Tx, pool *Pool, accountID int64) (netip.Addr, error) {
	inUse := map[netip.Addr]bool{}
	tx.EachIP(func(ip *store.IP) bool {
		if a, err := netip.ParseAddr(ip.Addr); err == nil {
			inUse[a] = true
		}
		return true
	})
	// An address a live migration ticket reserves is held for the VM
	// that brings it (agent/service migration.go).
	at := time.Now()
	tx.EachTicket(func(t *store.Ticket) bool {
		if t.Live(at) {
			for _, i := range t.Ifaces {
				if a, err := netip.ParseAddr(i.Addr); err == nil {
					inUse[a] = true
				}
			}
		}
		return true
	})
	mine := ReleasedKey(accountID, int64(pool.Version))
	own := tx.Released(mine)
	for i, raw := range own {
		a, err := netip.ParseAddr(raw)
		if err == nil && !inUse[a] && pool.Contains(a) {
			tx.SetReleased(mine, append(own[:i:i], own[i+1:]...))
			return a, nil
		}
	}
	held := map[netip.Addr]bool{}
	var others []string
	tx.EachReleased(func(key string, addrs []string) {
		for _, raw := range addrs {
			if a, err := netip.ParseAddr(raw); err == nil {
				held[a] = true
			}
		}
		if key != mine && len(addrs) > 0 {
			others = append(others, key)
		}
	})
	if a, ok := pool.Next(func(a netip.Addr) bool { return inUse[a] || held[a] }); ok {
		return a, nil
	}
	// Accounts in id order: which account gives an address up does not
	// depend on a map's order.
	slices.SortFunc(others, func(a, b string) int { return cmp.Compare(keyAccount(a), keyAccount(b)) })
	for _, key := range others {
		list := tx.Released(key)
		for i, raw := range list {
			if a, err := netip.ParseAddr(raw); err == nil && !inUse[a] && pool.Contains(a) {
				tx.SetReleased(key, append(list[:i:i], list[i+1:]...))
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("the IPv%d pool %s is exhausted: %w", pool.Version, pool.First.String()+"-"+pool.Last.String(), ErrExhausted)
}

// ErrExhausted: every address of the pool is taken.
var ErrExhausted = errors.New("no address left")

func ReleasedKey(accountID, version int64) string { return fmt.Sprintf("%d/%d", accountID, version) }

// keyAccount is the account id of a released list's key (ReleasedKey).
func keyAccount(key string) int64 {
	acct, _, _ := strings.Cut(key, "/")
	n, _ := strconv.ParseInt(acct, 10, 64)
	return n
}

// Release deletes an iface's IP records and remembers their addresses
// for the account, newest last.
func Release(tx *store.Tx, i store.Iface) {
	for _, id := range i.IPIDs {
		ip, ok := tx.IP(id)
		if !ok {
			continue
		}
		key := ReleasedKey(ip.AccountID, ip.Version)
		list := tx.Released(key)
		if !slices.Contains(list, ip.Addr) {
			list = append(list, ip.Addr)
		}
		tx.SetReleased(key, list)
		tx.DeleteIP(id)
	}
}

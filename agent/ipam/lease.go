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
	// An address that left with its VM for a host of the same network
	// is in use there (Park).
	for _, raw := range Parked(tx, int64(pool.Version)) {
		if a, err := netip.ParseAddr(raw); err == nil {
			inUse[a] = true
		}
	}
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
		if key != mine && len(addrs) > 0 && !isMovedKey(key) {
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

// movedKey is the list of the addresses that left this host with their
// VM to another host serving the same network. They are held like
// released ones (Lease never hands them out) but belong to no account
// here: the VM still uses them, on the other host.
func movedKey(version int64) string { return fmt.Sprintf("moved/%d", version) }

func isMovedKey(key string) bool { return strings.HasPrefix(key, "moved/") }

// Park holds addr, which moved away with iface ifaceID to a host on the
// same network: a host that freed it would lease it to another VM on the
// same segment, and two guests would answer for one address. It comes
// back with its iface (Unpark); an address the other host frees stays
// held here until the operator's fleet tier says otherwise.
func Park(tx *store.Tx, addr string, version, ifaceID int64) {
	key := movedKey(version)
	list := tx.Released(key)
	entry := addr + "@" + strconv.FormatInt(ifaceID, 10)
	if !slices.Contains(list, entry) {
		tx.SetReleased(key, append(list, entry))
	}
}

// Unpark lets addr go from the moved list: its iface came back with it.
func Unpark(tx *store.Tx, addr string, version int64) {
	key := movedKey(version)
	list := tx.Released(key)
	out := list[:0:0]
	for _, e := range list {
		if a, _, _ := strings.Cut(e, "@"); a != addr {
			out = append(out, e)
		}
	}
	if len(out) != len(list) {
		tx.SetReleased(key, out)
	}
}

// ParkedFor says which iface addr left with, if it is parked.
func ParkedFor(tx *store.Tx, addr string, version int64) (int64, bool) {
	for _, e := range tx.Released(movedKey(version)) {
		if a, id, _ := strings.Cut(e, "@"); a == addr {
			n, _ := strconv.ParseInt(id, 10, 64)
			return n, true
		}
	}
	return 0, false
}

// Parked lists the addresses held for VMs that moved away.
func Parked(tx *store.Tx, version int64) []string {
	var out []string
	for _, e := range tx.Released(movedKey(version)) {
		a, _, _ := strings.Cut(e, "@")
		out = append(out, a)
	}
	return out
}

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
		Remember(tx, ip)
		tx.DeleteIP(id)
	}
}

// Remember lists ip's address as released by its account, newest last,
// for Lease to give back to that account first.
func Remember(tx *store.Tx, ip store.IP) {
	key := ReleasedKey(ip.AccountID, ip.Version)
	list := tx.Released(key)
	if !slices.Contains(list, ip.Addr) {
		tx.SetReleased(key, append(list, ip.Addr))
	}
}

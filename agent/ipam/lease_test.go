package ipam

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

func TestOnLink(t *testing.T) {
	v4, err := Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	if err != nil {
		t.Fatal(err)
	}
	v6, err := Parse("fd00::/64", "fd00::1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pool Pool
		addr string
		want bool
	}{
		{v4, "10.0.0.15", true},  // in the range
		{v4, "10.0.0.200", true}, // another host's range of the network
		{v4, "10.0.0.1", false},  // the gateway
		{v4, "10.0.0.0", false},  // the network's own address
		{v4, "10.0.0.255", false},
		{v4, "10.0.1.15", false},
		{v6, "fd00::abcd", true},
		{v6, "fd00::1", false},
		{v6, "fd00::", false},
		{v6, "fd01::5", false},
	}
	for _, tt := range tests {
		if got := tt.pool.OnLink(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("%s on %s: OnLink %v, want %v", tt.addr, tt.pool.Prefix, got, tt.want)
		}
	}
}

// A parked address (its VM moved to another host of the same network)
// is never leased, not even to its account nor when the pool is
// exhausted, until Unpark.
func TestParkedNeverLeased(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pool, err := Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.11")
	if err != nil {
		t.Fatal(err)
	}
	lease := func() (string, error) {
		var got netip.Addr
		err := st.Update(func(tx *store.Tx) error {
			var err error
			got, err = Lease(tx, &pool, 1)
			return err
		})
		return got.String(), err
	}
	if err := st.Update(func(tx *store.Tx) error {
		Park(tx, "10.0.0.10", 4, 7)
		Park(tx, "10.0.0.10", 4, 7) // twice is once
		// Account 1 released .11 before: its own comes first, but not .10.
		tx.SetReleased(ReleasedKey(1, 4), []string{"10.0.0.10"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := lease(); err != nil || got != "10.0.0.11" {
		t.Fatalf("first lease: %s, %v; want 10.0.0.11 (10.0.0.10 is parked)", got, err)
	}
	if err := st.Update(func(tx *store.Tx) error {
		tx.PutIP(store.IP{ID: 1, AccountID: 1, Addr: "10.0.0.11", Version: 4})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := lease(); err == nil {
		t.Fatalf("leased %s: the only free address is parked", got)
	}
	st.View(func(tx *store.Tx) {
		if p := Parked(tx, 4); len(p) != 1 || p[0] != "10.0.0.10" {
			t.Errorf("parked: %v, want [10.0.0.10]", p)
		}
		if id, ok := ParkedFor(tx, "10.0.0.10", 4); !ok || id != 7 {
			t.Errorf("ParkedFor: %d, %v; want iface 7", id, ok)
		}
	})
	if err := st.Update(func(tx *store.Tx) error { Unpark(tx, "10.0.0.10", 4); return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := lease(); err != nil || got != "10.0.0.10" {
		t.Fatalf("after Unpark: %s, %v; want 10.0.0.10", got, err)
	}
}

package hosttest

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

// SeedsRig is a Seeds under test and the suite's view of what the port
// does not show: a seed's content, and what a crash leaves.
type SeedsRig struct {
	Seeds host.Seeds
	// Holds reports whether the seed at path is the one Write makes from
	// spec, as a guest given path reads it.
	Holds func(path string, spec host.SeedSpec) (bool, error)
	// Crash leaves what a crash in the middle of Write(vmID) leaves on
	// the host; Leftovers counts what such crashes left.
	Crash     func(t *testing.T, vmID int64)
	Leftovers func(t *testing.T) int
}

// SeedSpec is the suite's seed of vmID, with everything a seed can hold.
func SeedSpec(vmID int64, hostname string) host.SeedSpec {
	return host.SeedSpec{
		InstanceID: "xa-conf-" + hostname, Hostname: hostname, Login: "alice",
		// openssl passwd -6 -salt abc password_to_change
		PasswordHash:   "$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1.",
		AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7y alice@laptop"},
		Run:            `echo "it's \"first\"" > /root/first-boot`,
		Ifaces: []host.SeedIface{{
			MAC:       "aa:00:00:00:00:07",
			Addresses: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 8, 0, byte(vmID)}), 24), netip.MustParsePrefix("2001:db8::7/64")},
			Gateway4:  netip.MustParseAddr("10.8.0.1"), Gateway6: netip.MustParseAddr("2001:db8::1"),
		}},
	}
}

// SeedsSuite checks a Seeds against the port's contract.
func SeedsSuite(t *testing.T, newRig func(t *testing.T) SeedsRig) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, r *seedRig)
	}{
		{"nothing before the first write", seedNothing},
		{"write makes the seed at its path, one per VM", seedWrite},
		{"write again replaces the seed whole", seedRewrite},
		{"remove takes one VM's seed, twice is done", seedRemove},
		{"sweep removes and names what keep refuses", seedSweep},
		{"a crash leaves the old seed or none; sweep clears its leftovers", seedCrash},
		{"writes of several VMs at once", seedConcurrent},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, &seedRig{SeedsRig: newRig(t), t: t, ctx: t.Context()}) })
	}
}

type seedRig struct {
	SeedsRig
	t   *testing.T
	ctx context.Context
}

func (r *seedRig) write(vmID int64, spec host.SeedSpec) {
	r.t.Helper()
	if err := r.Seeds.Write(r.ctx, vmID, spec); err != nil {
		r.t.Fatalf("writing the seed of %d: %v", vmID, err)
	}
}

// has fails unless vmID's seed is there and holds spec.
func (r *seedRig) has(what string, vmID int64, spec host.SeedSpec) string {
	r.t.Helper()
	p, ok := r.Seeds.Path(vmID)
	if !ok {
		r.t.Fatalf("%s: the seed of %d is not there", what, vmID)
	}
	if same, err := r.Holds(p, spec); err != nil || !same {
		r.t.Fatalf("%s: the seed of %d at %s holds another spec (%v), want hostname %q", what, vmID, p, err, spec.Hostname)
	}
	return p
}

// absent fails if vmID's seed is there.
func (r *seedRig) absent(what string, vmID int64) {
	r.t.Helper()
	if p, ok := r.Seeds.Path(vmID); ok {
		r.t.Fatalf("%s: the seed of %d is at %s", what, vmID, p)
	}
}

// sweep sweeps, keeping the VMs of kept, and fails unless it named the
// seeds of want.
func (r *seedRig) sweep(what string, want []int64, kept ...int64) {
	r.t.Helper()
	var names []string
	for _, id := range want {
		p, _ := r.Seeds.Path(id)
		names = append(names, filepath.Base(p))
	}
	got, err := r.Seeds.Sweep(r.ctx, func(id int64) bool { return slices.Contains(kept, id) })
	slices.Sort(got)
	slices.Sort(names)
	if err != nil || !slices.Equal(got, names) {
		r.t.Fatalf("%s: swept %q, %v; want %q", what, got, err, names)
	}
}

func seedNothing(t *testing.T, r *seedRig) {
	r.absent("before any write", 7)
	if err := r.Seeds.Remove(r.ctx, 7); err != nil {
		t.Fatalf("removing a seed never written: %v", err)
	}
	r.sweep("before any write", nil)
	if n := r.Leftovers(t); n != 0 {
		t.Fatalf("%d leftovers before any write", n)
	}
}

func seedWrite(t *testing.T, r *seedRig) {
	before, _ := r.Seeds.Path(7)
	r.write(7, SeedSpec(7, "web1"))
	if p := r.has("written", 7, SeedSpec(7, "web1")); p != before {
		t.Fatalf("the seed of 7 is at %s, Path said %s before it was written", p, before)
	}
	r.absent("another VM's", 8)
	if other, _ := r.Seeds.Path(8); other == before {
		t.Fatalf("7 and 8 share the path %s", other)
	}
	// The least a seed holds: a VM with nothing but its name.
	bare := host.SeedSpec{InstanceID: "xa-conf-bare", Hostname: "bare"}
	r.write(8, bare)
	r.has("bare", 8, bare)
	r.has("beside another", 7, SeedSpec(7, "web1"))
}

func seedRewrite(t *testing.T, r *seedRig) {
	r.write(7, SeedSpec(7, "web1"))
	p, _ := r.Seeds.Path(7)
	// Fewer fields than before: nothing of the first spec is kept.
	next := host.SeedSpec{InstanceID: "xa-conf-web1", Hostname: "web2"}
	for range 2 {
		r.write(7, next)
		if got := r.has("rewritten", 7, next); got != p {
			t.Fatalf("rewritten at %s, first written at %s", got, p)
		}
		if same, err := r.Holds(p, SeedSpec(7, "web1")); err != nil || same {
			t.Fatalf("the rewritten seed still holds the first spec (%v)", err)
		}
	}
	if n := r.Leftovers(t); n != 0 {
		t.Fatalf("writes left %d leftovers", n)
	}
}

func seedRemove(t *testing.T, r *seedRig) {
	r.write(7, SeedSpec(7, "web1"))
	r.write(8, SeedSpec(8, "web2"))
	for n := range 2 {
		if err := r.Seeds.Remove(r.ctx, 7); err != nil {
			t.Fatalf("remove %d: %v", n+1, err)
		}
		r.absent("removed", 7)
		r.has("the other VM's", 8, SeedSpec(8, "web2"))
	}
	r.sweep("after remove, keeping 8", nil, 8)
	r.write(7, SeedSpec(7, "web3"))
	r.has("written again after remove", 7, SeedSpec(7, "web3"))
}

func seedSweep(t *testing.T, r *seedRig) {
	for _, id := range []int64{7, 8, 9, 10} {
		r.write(id, SeedSpec(id, "web"))
	}
	r.sweep("keeping 8 and 10", []int64{7, 9}, 8, 10)
	r.absent("swept", 7)
	r.absent("swept", 9)
	r.has("kept", 8, SeedSpec(8, "web"))
	r.has("kept", 10, SeedSpec(10, "web"))
	r.sweep("again", nil, 8, 10)
	r.sweep("keeping none", []int64{8, 10})
	r.absent("swept", 8)
}

func seedCrash(t *testing.T, r *seedRig) {
	// A crash in the first write leaves no seed; in a rewrite, the old.
	r.Crash(t, 7)
	r.absent("a first write crashed", 7)
	r.write(8, SeedSpec(8, "old"))
	r.Crash(t, 8)
	r.has("a rewrite crashed", 8, SeedSpec(8, "old"))
	if n := r.Leftovers(t); n != 2 {
		t.Fatalf("two crashes left %d leftovers", n)
	}
	// Leftovers go whatever keep says, unnamed; whole seeds as it says.
	r.sweep("keeping everything", nil, 7, 8)
	if n := r.Leftovers(t); n != 0 {
		t.Fatalf("%d leftovers after a sweep", n)
	}
	r.has("kept through the sweep", 8, SeedSpec(8, "old"))
	r.write(7, SeedSpec(7, "new"))
	r.has("written after its crash", 7, SeedSpec(7, "new"))
}

func seedConcurrent(t *testing.T, r *seedRig) {
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			id := int64(20 + i)
			errs[i] = r.Seeds.Write(r.ctx, id, SeedSpec(id, "par"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writing %d: %v", 20+i, err)
		}
		r.has("written at once", int64(20+i), SeedSpec(int64(20+i), "par"))
	}
	if n := r.Leftovers(t); n != 0 {
		t.Fatalf("writes at once left %d leftovers", n)
	}
}

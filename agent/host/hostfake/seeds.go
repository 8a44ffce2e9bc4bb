package hostfake

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
)

// ErrNoSeed means no whole seed is at a path.
var ErrNoSeed = errors.New("no seed")

// Seeds is an in-memory host.Seeds. It keeps each VM's seed as the spec
// it was written from, at a path named as storage/nocloud names its
// images, and the half-written seeds a crash left (see PutPartial) apart,
// unseen by Path, until Sweep removes them.
type Seeds struct {
	Faults

	mu      sync.Mutex
	dir     string
	seeds   map[int64]host.SeedSpec
	partial []int64 // the VMs of half-written seeds, one per crash
}

var _ host.Seeds = (*Seeds)(nil)

// NewSeeds returns fake seeds with none.
func NewSeeds() *Seeds {
	return &Seeds{dir: "/fake/seeds", seeds: map[int64]host.SeedSpec{}}
}

// lock runs fn under the lock as method on name (a VM id in decimal, or
// "" for Sweep), recorded and failed as the faults say.
func (s *Seeds) lock(ctx context.Context, method, name string, fn func() error) error {
	return s.call(ctx, method, name, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		return fn()
	})
}

func (s *Seeds) path(vmID int64) string {
	return path.Join(s.dir, "xa-seed-"+strconv.FormatInt(vmID, 10)+".iso")
}

// Path is where a domain finds vmID's seed, the same whether or not it
// is there, and whether it is. It is not a call of the port's that can
// fail, so it is neither recorded nor failed.
func (s *Seeds) Path(vmID int64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seeds[vmID]
	return s.path(vmID), ok
}

// Write keeps spec as vmID's seed, replacing any earlier one whole.
func (s *Seeds) Write(ctx context.Context, vmID int64, spec host.SeedSpec) error {
	return s.lock(ctx, "Write", strconv.FormatInt(vmID, 10), func() error {
		s.seeds[vmID] = cloneSeed(spec)
		return nil
	})
}

// Remove deletes vmID's seed; one already gone is no error. A
// half-written one stays for Sweep, as on a host.
func (s *Seeds) Remove(ctx context.Context, vmID int64) error {
	return s.lock(ctx, "Remove", strconv.FormatInt(vmID, 10), func() error {
		delete(s.seeds, vmID)
		return nil
	})
}

// Sweep removes the seeds of VMs keep refuses, named as Path's last
// element, and every half-written one, unnamed.
func (s *Seeds) Sweep(ctx context.Context, keep func(vmID int64) bool) ([]string, error) {
	var removed []string
	err := s.lock(ctx, "Sweep", "", func() error {
		s.partial = nil
		for id := range s.seeds {
			if !keep(id) {
				delete(s.seeds, id)
				removed = append(removed, path.Base(s.path(id)))
			}
		}
		return nil
	})
	sort.Strings(removed)
	return removed, err
}

// PutPartial leaves a half-written seed of vmID, as a crash in the middle
// of Write does: Path does not see it, any whole seed of vmID stays, and
// Sweep removes it.
func (s *Seeds) PutPartial(vmID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, vmID)
}

// Partial is how many half-written seeds are left.
func (s *Seeds) Partial() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.partial)
}

// Read returns the seed at p, as a guest given p reads it.
func (s *Seeds) Read(p string) (host.SeedSpec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, spec := range s.seeds {
		if s.path(id) == p {
			return cloneSeed(spec), nil
		}
	}
	return host.SeedSpec{}, fmt.Errorf("reading %s: %w", p, ErrNoSeed)
}

// cloneSeed copies spec so that neither the caller nor the fake sees
// the other's later changes.
func cloneSeed(spec host.SeedSpec) host.SeedSpec {
	spec.AuthorizedKeys = slices.Clone(spec.AuthorizedKeys)
	spec.Ifaces = slices.Clone(spec.Ifaces)
	for i := range spec.Ifaces {
		spec.Ifaces[i].Addresses = slices.Clone(spec.Ifaces[i].Addresses)
	}
	return spec
}

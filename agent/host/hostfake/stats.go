package hostfake

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
)

// Stats is an in-memory host.Stats: a test sets each domain's counters
// (Set, Update) and removes them (Remove); AllStats answers them sorted
// by name, or Err when set.
type Stats struct {
	mu   sync.Mutex
	doms map[string]host.DomainStats
	err  error
}

var _ host.Stats = (*Stats)(nil)

// NewStats returns a fake with no domains.
func NewStats() *Stats { return &Stats{doms: map[string]host.DomainStats{}} }

// Set replaces a domain's counters.
func (s *Stats) Set(d host.DomainStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doms[d.Name] = clone(d)
}

// Update changes a domain's counters in place (one that was never set
// starts from zero, named).
func (s *Stats) Update(name string, fn func(d *host.DomainStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.doms[name]
	if !ok {
		d = host.DomainStats{Name: name}
	}
	fn(&d)
	s.doms[name] = clone(d)
}

// Remove forgets a domain (undefined).
func (s *Stats) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.doms, name)
}

// Fail makes AllStats fail with err (nil: answer again).
func (s *Stats) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// AllStats returns every domain's counters.
func (s *Stats) AllStats(ctx context.Context) ([]host.DomainStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	out := make([]host.DomainStats, 0, len(s.doms))
	for _, d := range s.doms {
		out = append(out, clone(d))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func clone(d host.DomainStats) host.DomainStats {
	d.VCPUTimeNs = slices.Clone(d.VCPUTimeNs)
	d.Ifaces = slices.Clone(d.Ifaces)
	d.Disks = slices.Clone(d.Disks)
	return d
}

package workflow

import (
	"errors"
	"strings"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
)

// TakenNames are the names of volumes on the storage that no record
// knows: disk ids whose volume name is taken are never allocated (two
// agents sharing a disks dir or VG, legacy volumes). Reconciliation
// fills it from the storage's list; reservations and steps read it.
type TakenNames struct {
	mu    sync.Mutex
	taken map[string]bool
}

// Has reports whether a volume of that name is on the storage unknown.
func (t *TakenNames) Has(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.taken[name]
}

// Set records names as taken; without add, they replace what was known.
func (t *TakenNames) Set(names []string, add bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !add || t.taken == nil {
		t.taken = map[string]bool{}
	}
	for _, n := range names {
		t.taken[strings.TrimSuffix(n, ".tmp")] = true
	}
}

// DiskIDFree is NextID's test for disk ids: no record uses the id and no
// volume on the storage has its name.
func (t *TakenNames) DiskIDFree(tx *store.Tx) func(int64) bool {
	return func(id int64) bool { return tx.HasDisk(id) || t.Has(VolumeName(id)) }
}

// Taken is the set of volume names on the storage no record knows.
func (s *Workflows) Taken() *TakenNames { return &s.taken }

// ownMark is the mark of what operation op makes (0: none).
func (s *Workflows) ownMark(op int64) host.Mark { return host.Mark{Owner: s.st.Instance(), Op: op} }

// notOurs turns a refused delete into nothing to do: what is there was
// not made by us (or by this operation), and stays.
func (s *Workflows) notOurs(opID int64, err error, what string) error {
	if errors.Is(err, host.ErrNotOurs) {
		s.log.Warn("volume left in place: not made by this agent or operation", "op_id", opID, "what", what, "err", err)
		return nil
	}
	return err
}

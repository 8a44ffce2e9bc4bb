package transfer

import (
	"context"
	"sync"
)

// Have is what a receiver holds of a disk, as a resuming sender needs it.
type Have struct {
	// Pass is the pass received or being received ("" before any).
	Pass string `json:"pass"`
	// Extents names the pass's extent list (a digest).
	Extents string `json:"extents"`
	// Done is the bytes of the pass verified and synced: the resume point.
	Done int64 `json:"done"`
	// Total is the bytes the pass's extents cover.
	Total int64 `json:"total"`
	// Complete: every chunk arrived and the end-to-end digests matched.
	Complete bool `json:"complete"`
}

// State is what a receiver persists per disk: Have and its running
// end-to-end digest at Done (a marshalled SHA-256 state).
type State struct {
	Have
	Digest []byte `json:"digest,omitempty"`
}

// Journal keeps a disk's receive state across streams and restarts. The
// target's implementation keeps it in its operation's journal (bbolt), so
// a restarted agent resumes where it stopped; Save must be durable when it
// returns, because the receiver syncs the volume before and trusts it
// after.
type Journal interface {
	// Load returns the saved state, the zero State if none.
	Load(ctx context.Context) (State, error)
	Save(ctx context.Context, s State) error
}

// MemJournal is a Journal in memory (tests, and a receiver that need not
// survive a restart).
type MemJournal struct {
	mu sync.Mutex
	s  State
}

// Load returns the last saved state.
func (j *MemJournal) Load(context.Context) (State, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.s.clone(), nil
}

// Save keeps s.
func (j *MemJournal) Save(_ context.Context, s State) error {
	s = s.clone()
	j.mu.Lock()
	j.s = s
	j.mu.Unlock()
	return nil
}

func (s State) clone() State {
	s.Digest = append([]byte(nil), s.Digest...)
	return s
}

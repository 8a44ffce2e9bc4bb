package gandiv1

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

// SessionTTL is how long a session id is valid after its login: the
// document's 12 hours, fixed, however much it is used.
const SessionTTL = 12 * time.Hour

// Bounds on the sessions kept, so logins cannot grow the agent's memory
// without end: an account's oldest session ends when it opens one more
// than MaxPerAccount; past MaxSessions logins are refused until some
// expire.
const (
	MaxPerAccount = 32
	MaxSessions   = 10000
)

// session is what a session id stands for.
type session struct {
	accountID int64
	stamp     string // service.Login's: a password change ends the session
	// operator: the operator's session (accountID 0, no stamp: its key
	// changes only with the configuration, and a restart ends sessions).
	operator bool
	expires  time.Time
}

// sessions maps session ids to accounts, in memory: a restart of the
// agent ends every session (clients log in again, as after 12 hours).
// Ids are kept only as their SHA-256, so the table's lookups and a
// memory dump give none away.
type sessions struct {
	mu        sync.Mutex
	byHash    map[string]session
	byAccount map[int64][]string // hashes, oldest first
	now       func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	if now == nil {
		now = time.Now
	}
	return &sessions{byHash: map[string]session{}, byAccount: map[int64][]string{}, now: now}
}

// open starts a session for an authenticated caller and returns its id:
// 32 random bytes in hex.
func (s *sessions) open(c *service.Caller, stamp string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw)
	h := service.HashKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.byHash) >= MaxSessions {
		s.pruneLocked(now)
		if len(s.byHash) >= MaxSessions {
			return "", dataFault(ObjSession, CauseRateLimit, "", "login: %d sessions are open on this host; retry when some expire", MaxSessions)
		}
	}
	list := s.byAccount[c.AccountID]
	if len(list) >= MaxPerAccount {
		delete(s.byHash, list[0])
		list = list[1:]
	}
	s.byAccount[c.AccountID] = append(list, h)
	s.byHash[h] = session{accountID: c.AccountID, stamp: stamp, operator: c.Operator, expires: now.Add(SessionTTL)}
	return id, nil
}

// lookup returns the session of id, if it is open.
func (s *sessions) lookup(id string) (session, bool) {
	h := service.HashKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.byHash[h]
	if !ok {
		return session{}, false
	}
	if !s.now().Before(se.expires) {
		s.dropLocked(h, se.accountID)
		return session{}, false
	}
	return se, true
}

// pruneLocked drops every expired session.
func (s *sessions) pruneLocked(now time.Time) {
	for h, se := range s.byHash {
		if !now.Before(se.expires) {
			s.dropLocked(h, se.accountID)
		}
	}
}

func (s *sessions) dropLocked(h string, account int64) {
	delete(s.byHash, h)
	list := slices.DeleteFunc(s.byAccount[account], func(x string) bool { return x == h })
	if len(list) == 0 {
		delete(s.byAccount, account)
	} else {
		s.byAccount[account] = list
	}
}

// count is how many sessions are open (expired ones not yet dropped
// included).
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byHash)
}

// Package token issues the short-lived bearer tokens that stand in for
// an API key in URLs (a console page, a graph): random, bound to one
// purpose, one VM and one account, expiring, optionally single-use. An
// API key never appears in a URL; a token that leaks through a proxy log
// or a browser history opens one thing, briefly.
//
// Tokens live in memory only: a restart revokes them all, which costs a
// client one more vm.info call and spares the state file a write per
// page view.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Errors Redeem and Peek return; classify with errors.Is.
var (
	ErrUnknown = errors.New("token unknown (never issued, revoked, or issued before the agent restarted)")
	ErrExpired = errors.New("token expired")
	ErrUsed    = errors.New("token already used (single-use)")
	ErrPurpose = errors.New("token issued for something else")
)

// Grant is what a token opens.
type Grant struct {
	Purpose   string // "console", "graph"
	VMID      int64
	Account   int64 // 0: the operator
	TTL       time.Duration
	SingleUse bool
	Expires   time.Time // set by Issue
}

// Limits bound the tokens kept, so that a client issuing tokens in a
// loop (every vm.info mints one) cannot grow the agent's memory: past a
// bound, the account's (then anyone's) oldest token is dropped.
type Limits struct {
	PerAccount int // default 256
	Total      int // default 65536
}

type entry struct {
	grant  Grant
	used   bool
	issued uint64 // issue order, for eviction
}

// Issuer issues and redeems tokens; safe for concurrent use.
type Issuer struct {
	lim Limits
	now func() time.Time

	mu        sync.Mutex
	tokens    map[string]*entry
	byAccount map[int64]int
	order     uint64
}

// NewIssuer returns an issuer with the given bounds (zero: defaults).
func NewIssuer(lim Limits) *Issuer {
	if lim.PerAccount <= 0 {
		lim.PerAccount = 256
	}
	if lim.Total <= 0 {
		lim.Total = 65536
	}
	return &Issuer{lim: lim, now: time.Now, tokens: map[string]*entry{}, byAccount: map[int64]int{}}
}

// Issue mints a token for g (g.TTL must be positive) and returns it with
// the grant's expiry filled in.
func (is *Issuer) Issue(g Grant) (string, Grant, error) {
	if g.TTL <= 0 {
		return "", g, errors.New("token: TTL must be positive")
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", g, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	is.mu.Lock()
	defer is.mu.Unlock()
	now := is.now()
	g.Expires = now.Add(g.TTL)
	is.sweepLocked(now)
	// At a bound, the dead go first (the sweep skips small maps): an
	// hour-long reconnect token must not make way for expired links.
	mine := func(e *entry) bool { return e.grant.Account == g.Account }
	if is.byAccount[g.Account] >= is.lim.PerAccount {
		is.dropExpiredLocked(now, mine)
	}
	for is.byAccount[g.Account] >= is.lim.PerAccount {
		is.evictOldestLocked(mine)
	}
	if len(is.tokens) >= is.lim.Total {
		is.dropExpiredLocked(now, func(*entry) bool { return true })
	}
	for len(is.tokens) >= is.lim.Total {
		is.evictOldestLocked(func(*entry) bool { return true })
	}
	is.order++
	is.tokens[tok] = &entry{grant: g, issued: is.order}
	is.byAccount[g.Account]++
	return tok, g, nil
}

// Redeem checks tok for purpose and, for a single-use token, consumes it.
func (is *Issuer) Redeem(purpose, tok string) (Grant, error) { return is.check(purpose, tok, true) }

// Peek checks tok for purpose without consuming it (a page that will
// redeem it from its script).
func (is *Issuer) Peek(purpose, tok string) (Grant, error) { return is.check(purpose, tok, false) }

func (is *Issuer) check(purpose, tok string, consume bool) (Grant, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	e, ok := is.tokens[tok]
	switch {
	case !ok:
		return Grant{}, ErrUnknown
	case e.grant.Purpose != purpose:
		return Grant{}, ErrPurpose
	case !is.now().Before(e.grant.Expires):
		is.dropLocked(tok, e)
		return Grant{}, ErrExpired
	case e.used:
		return Grant{}, ErrUsed
	}
	if consume && e.grant.SingleUse {
		// Kept, marked, until it expires: a second use then says "used",
		// which tells a person more than "unknown".
		e.used = true
	}
	return e.grant, nil
}

// Revoke drops every token of purpose for vm (a console deactivated).
func (is *Issuer) Revoke(purpose string, vm int64) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for tok, e := range is.tokens {
		if e.grant.Purpose == purpose && e.grant.VMID == vm {
			is.dropLocked(tok, e)
		}
	}
}

// Len is the number of tokens kept (for tests and metrics).
func (is *Issuer) Len() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return len(is.tokens)
}

func (is *Issuer) dropLocked(tok string, e *entry) {
	delete(is.tokens, tok)
	if is.byAccount[e.grant.Account]--; is.byAccount[e.grant.Account] <= 0 {
		delete(is.byAccount, e.grant.Account)
	}
}

// sweepLocked drops expired tokens; amortised: at most every 1,024th
// issue walks the map once it holds many.
func (is *Issuer) sweepLocked(now time.Time) {
	if len(is.tokens) < 1024 || is.order%1024 != 0 {
		return
	}
	for tok, e := range is.tokens {
		if !now.Before(e.grant.Expires) {
			is.dropLocked(tok, e)
		}
	}
}

// dropExpiredLocked drops the expired tokens match picks.
func (is *Issuer) dropExpiredLocked(now time.Time, match func(*entry) bool) {
	for tok, e := range is.tokens {
		if match(e) && !now.Before(e.grant.Expires) {
			is.dropLocked(tok, e)
		}
	}
}

func (is *Issuer) evictOldestLocked(match func(*entry) bool) {
	var oldest string
	var oe *entry
	for tok, e := range is.tokens {
		if match(e) && (oe == nil || e.issued < oe.issued) {
			oldest, oe = tok, e
		}
	}
	if oe != nil {
		is.dropLocked(oldest, oe)
	}
}

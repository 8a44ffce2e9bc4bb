package service

import (
	"crypto/subtle"
	"strings"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/store"
)

// ErrBadLogin is the one answer to a login that fails, whatever failed
// (no such account, no password set, a wrong password), so logins cannot
// be probed.
var ErrBadLogin = Errorf(ObjAccount, KindNoRight, "login: invalid login or password")

// MaxPasswordBytes bounds a login's password: SHA-512 crypt hashes the
// whole password again in each of its rounds, so one of a request body's
// size would hold a core for minutes. Longer is refused unhashed, as any
// wrong password (its length is the caller's, it tells nothing of an
// account).
const MaxPasswordBytes = 1024

// decoyHash is checked when the login names no account with a password,
// so a miss costs what a wrong password costs.
var decoyHash = "$6$rounds=100000$xenagentdecoysal$" + strings.Repeat(".", 86)

// CheckPasswordHash refuses what cannot be an account's password hash: a
// SHA-512 crypt ("$6$") of at least passwd.AccountRounds rounds, so a
// configured hash is as slow to guess as one the agent makes.
func CheckPasswordHash(field, hash string) error {
	if hash == "" {
		return nil
	}
	if n := passwd.Rounds(hash); n < passwd.AccountRounds {
		return Invalid(ObjAccount, field, "must be a SHA-512 crypt hash ($6$rounds=N$...) of at least %d rounds, as `mkpasswd -m sha-512 -R %d` makes", passwd.AccountRounds, passwd.AccountRounds)
	}
	return nil
}

// SetAccountPassword sets (or with "" removes) the login password of the
// account handle, given as its hash (CheckPasswordHash's rules).
func (s *Service) SetAccountPassword(handle, hash string) error {
	if err := CheckPasswordHash("password_hash", hash); err != nil {
		return err
	}
	return s.st.Update(func(tx *store.Tx) error {
		var found *store.Account
		tx.EachAccount(func(a *store.Account) bool {
			if a.Handle == handle {
				c := *a
				found = &c
				return false
			}
			return true
		})
		if found == nil {
			return Errorf(ObjAccount, KindNotFound, "handle: account %q does not exist", handle)
		}
		if found.PasswordHash == hash {
			return nil
		}
		found.PasswordHash = hash
		tx.PutAccount(*found)
		return nil
	})
}

// Login maps an account's handle and password to its caller and a stamp
// of the password it checked (CallerOf's). It costs one slow hash
// whether or not the account exists.
func (s *Service) Login(handle, password string) (*Caller, string, error) {
	if len(password) > MaxPasswordBytes {
		return nil, "", ErrBadLogin
	}
	var acct store.Account
	s.st.View(func(tx *store.Tx) {
		tx.EachAccount(func(a *store.Account) bool {
			if subtle.ConstantTimeCompare([]byte(a.Handle), []byte(handle)) == 1 {
				acct = *a
				return false
			}
			return true
		})
	})
	hash := acct.PasswordHash
	if hash == "" {
		hash = decoyHash
	}
	if !passwd.Verify(hash, password) || acct.PasswordHash == "" {
		return nil, "", ErrBadLogin
	}
	if acct.Disabled {
		// After the slow hash, as for any account: the same cost and the
		// same fault as a wrong password, so nothing tells it apart.
		s.log.Warn("v1 login of a disabled account refused (gone from [[accounts]])", "account_id", acct.ID)
		return nil, "", ErrBadLogin
	}
	return &Caller{AccountID: acct.ID, Handle: acct.Handle}, HashKey(acct.PasswordHash), nil
}

// CallerOf reads the caller of account id again, for a session opened by
// Login with stamp: the account may have gone since, been disabled, or
// its password changed, which ends every session it had.
func (s *Service) CallerOf(id int64, stamp string) (*Caller, error) {
	var c *Caller
	s.st.View(func(tx *store.Tx) {
		if a, ok := tx.Account(id); ok && a.PasswordHash != "" && !a.Disabled &&
			subtle.ConstantTimeCompare([]byte(HashKey(a.PasswordHash)), []byte(stamp)) == 1 {
			c = &Caller{AccountID: a.ID, Handle: a.Handle}
		}
	})
	if c == nil {
		return nil, ErrBadLogin
	}
	return c, nil
}

package service

import (
	"context"
	"crypto/rand"
	"slices"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// New credentials on an existing VM (vm.update's password and ssh_key,
// ResetPassword) reach the guest through a new first-boot seed that
// cloud-init applies at the VM's next boot (agent/workflow's
// credentials.go): the operation's "effective" param says so, and the
// VM's RestartPending makes the next reboot a fresh start. An agent that
// writes no seeds refuses them, saying why, rather than record a
// password no guest will ever see.

// EffectiveNextBoot is the "effective" param of an operation whose
// credentials the guest applies at its next boot (a start, or a reboot
// through the agent).
const EffectiveNextBoot = "next_boot"

// Gigas' password rule (reset_password, and the Gigas face's password
// fields): 6 to 32 of these characters.
const (
	GigasPasswordChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	GigasPasswordMin   = 6
	GigasPasswordMax   = 32
)

// PasswordRule is a face's rule for the passwords it is given. The
// service keeps one hash whatever the rule; the rule is the document's
// promise to its clients, so each face keeps its own.
type PasswordRule int

const (
	// PasswordGandi: 8 to 128 characters, any (the Gandi faces'; the
	// default).
	PasswordGandi PasswordRule = iota
	// PasswordGigas: 6 to 32 of GigasPasswordChars (the Gigas document's
	// initial_root_password).
	PasswordGigas
)

// check applies the rule to a password given as "password" ("": none
// given, nothing to check).
func (r PasswordRule) check(p string) error {
	if p == "" {
		return nil
	}
	if r == PasswordGigas {
		return CheckGigasPassword(ObjVM, "password", p)
	}
	return checkPassword(p)
}

// resetPasswordLen is the length of the passwords ResetPassword makes:
// 96 bits of randomness, within Gigas' rule and Gandi's (8 to 128).
const resetPasswordLen = 16

// CheckGigasPassword applies Gigas' password rule to field.
func CheckGigasPassword(obj Object, field, p string) error {
	if len(p) < GigasPasswordMin || len(p) > GigasPasswordMax {
		return Invalid(obj, field, "must be %d to %d characters, got %d", GigasPasswordMin, GigasPasswordMax, len(p))
	}
	for _, r := range p {
		if !containsRune(GigasPasswordChars, r) {
			return Invalid(obj, field, "must be letters, digits, '_' or '-', not %q", r)
		}
	}
	return nil
}

func containsRune(s string, r rune) bool {
	for _, x := range s {
		if x == r {
			return true
		}
	}
	return false
}

// newPassword makes a random password that passes both rules. The 64
// characters take 6 bits of a random byte each, so every one is equally
// likely.
func newPassword() (string, error) {
	b := make([]byte, resetPasswordLen)
	if _, err := rand.Read(b); err != nil {
		return "", Errorf(ObjVM, KindInternal, "password: %v", err)
	}
	for i := range b {
		b[i] = GigasPasswordChars[b[i]&63]
	}
	return string(b), nil
}

// ResetPassword gives one of the caller's VMs a new random password
// (root's, and the login user's), as vm.update's password does: it
// reaches the guest at its next boot. The password is returned once, in
// clear, and kept nowhere but as its hash; a retry answered from the
// idempotency key returns the operation and no password.
func (s *Service) ResetPassword(ctx context.Context, c *Caller, vmID int64, opts CallOptions) (Operation, string, error) {
	pw, err := newPassword()
	if err != nil {
		return Operation{}, "", err
	}
	fresh := false
	op, err := s.updateVM(c, vmID, VMUpdate{Password: &pw, Options: opts}, func() { fresh = true })
	if err != nil || !fresh {
		return op, "", err
	}
	return op, pw, nil
}

// changesCredentials reports whether req brings credentials for the guest.
func changesCredentials(req VMUpdate) bool {
	return req.Password != nil || req.SSHKey != nil && *req.SSHKey != ""
}

// checkCredentials refuses new credentials for VM v that could not reach
// its guest, naming the field and why.
func (s *Service) checkCredentials(v store.VM, req VMUpdate) error {
	if !changesCredentials(req) {
		return nil
	}
	field := "password"
	if req.Password == nil {
		field = "ssh_key"
	}
	if s.wf == nil || !s.wf.HasSeeds() {
		return Errorf(ObjVM, KindConflict, "%s: cannot reach vm %d's guest: %v, and new credentials are only ever given to a guest in one", field, v.ID, workflow.ErrNoSeeds)
	}
	return checkKeyCount(v, req)
}

// MaxVMAuthorizedKeys bounds the keys a VM's guest authorizes, as at
// creation (MaxVMKeys and ssh_key): each vm.update ssh_key adds one to
// the VM's record, read at every list, and to its seed.
const MaxVMAuthorizedKeys = MaxVMKeys + 1

// checkKeyCount refuses a new key for a VM that authorizes the most.
// (Updates queued together are checked against the record as it is.)
func checkKeyCount(v store.VM, req VMUpdate) error {
	if req.SSHKey == nil || *req.SSHKey == "" || v.Provision == nil {
		return nil
	}
	keys := v.Provision.AuthorizedKeys
	if len(keys) >= MaxVMAuthorizedKeys && !slices.Contains(keys, *req.SSHKey) {
		return Invalid(ObjVM, "ssh_key", "vm %d authorizes %d keys already, at most %d", v.ID, len(keys), MaxVMAuthorizedKeys)
	}
	return nil
}

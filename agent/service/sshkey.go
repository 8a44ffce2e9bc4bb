package service

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
)

// parseAuthorizedKey checks an OpenSSH public key line ("type base64
// [comment]") and returns its MD5 fingerprint, as Gandi shows it.
func parseAuthorizedKey(obj Object, field, line string) (string, error) {
	if len(line) > MaxSSHKeyBytes {
		return "", Invalid(obj, field, "must be at most %d bytes, got %d", MaxSSHKeyBytes, len(line))
	}
	fields := strings.Fields(line)
	if len(fields) < 2 || strings.ContainsAny(line, "\r\n") {
		return "", Invalid(obj, field, "must be one OpenSSH public key line: type, base64 key, optional comment")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 4 {
		return "", Invalid(obj, field, "the key is not valid base64")
	}
	n := binary.BigEndian.Uint32(blob)
	if int(n) > len(blob)-4 || string(blob[4:4+n]) != fields[0] {
		return "", Invalid(obj, field, "the key's data does not match its type %q", fields[0])
	}
	switch {
	case fields[0] == "ssh-rsa", fields[0] == "ssh-ed25519", strings.HasPrefix(fields[0], "ecdsa-sha2-"), strings.HasPrefix(fields[0], "sk-"):
	default:
		return "", Invalid(obj, field, "unsupported key type %q", fields[0])
	}
	sum := md5.Sum(blob)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(hexes, ":"), nil
}

// SSHKey is a public key an account keeps for its VMs.
type SSHKey struct {
	ID          int64
	Name        string
	Fingerprint string
	Value       string
}

func sshKeyOf(k store.SSHKey) SSHKey {
	return SSHKey{ID: k.ID, Name: k.Name, Fingerprint: k.Fingerprint, Value: k.Value}
}

func sshKeyFor(tx *store.Tx, c *Caller, id int64) (store.SSHKey, error) {
	k, ok := tx.SSHKey(id)
	if !ok || !c.owns(k.AccountID) {
		return k, notFound(ObjSSHKey, "ssh key", id)
	}
	return k, nil
}

// SSHKeyFilter selects keys: each list, when not empty, is a match.
type SSHKeyFilter struct {
	IDs          []int64
	Names        []string
	Fingerprints []string
}

func (f SSHKeyFilter) match(k *store.SSHKey) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, k.ID)) && (len(f.Names) == 0 || slices.Contains(f.Names, k.Name)) &&
		(len(f.Fingerprints) == 0 || slices.Contains(f.Fingerprints, k.Fingerprint))
}

var sshKeys = lister[store.SSHKey]{
	obj:   ObjSSHKey,
	each:  (*store.Tx).EachSSHKey,
	owner: func(k *store.SSHKey) int64 { return k.AccountID },
	sortKeys: map[string]func(a, b *store.SSHKey) int{
		"id":   func(a, b *store.SSHKey) int { return cmp64(a.ID, b.ID) },
		"name": func(a, b *store.SSHKey) int { return strings.Compare(a.Name, b.Name) },
	},
}

// SSHKeys lists the caller's keys that match f.
func (s *Service) SSHKeys(c *Caller, f SSHKeyFilter, p Page) ([]SSHKey, error) {
	return list(s.st, sshKeys, c, f.match, p, func(_ *store.Tx, k store.SSHKey) SSHKey { return sshKeyOf(k) })
}

// CountSSHKeys counts the caller's keys that match f.
func (s *Service) CountSSHKeys(c *Caller, f SSHKeyFilter) int {
	return count(s.st, sshKeys, c, f.match)
}

// SSHKey reads one of the caller's keys.
func (s *Service) SSHKey(c *Caller, id int64) (SSHKey, error) {
	var k store.SSHKey
	var err error
	s.st.View(func(tx *store.Tx) { k, err = sshKeyFor(tx, c, id) })
	return sshKeyOf(k), err
}

// NewSSHKey is a key to store.
type NewSSHKey struct {
	Name, Value string
	Options     CallOptions
}

// CreateSSHKey stores a key at once: there is nothing to do on the host,
// so it returns the key, as Gandi's hosting.ssh.create does, not an
// operation.
func (s *Service) CreateSSHKey(c *Caller, req NewSSHKey) (SSHKey, error) {
	_, acct, err := s.creatorOf(c, req.Options, ObjSSHKey)
	if err != nil {
		return SSHKey{}, err
	}
	name, value := req.Name, req.Value
	if !diskNameRE.MatchString(name) {
		return SSHKey{}, Invalid(ObjSSHKey, "name", "must be 1-64 letters, digits, '.', '_' or '-'")
	}
	fp, err := parseAuthorizedKey(ObjSSHKey, "value", value)
	if err != nil {
		return SSHKey{}, err
	}
	var k store.SSHKey
	err = s.st.Update(func(tx *store.Tx) error {
		dup := false
		tx.EachSSHKey(func(x *store.SSHKey) bool {
			dup = x.AccountID == acct && (x.Name == name || x.Fingerprint == fp)
			return !dup
		})
		if dup {
			return Errorf(ObjSSHKey, KindDuplicate, "name/value: the account already has a key named %q or with fingerprint %s", name, fp)
		}
		k = store.SSHKey{ID: tx.NextID("sshkey", tx.HasSSHKey), AccountID: acct, Name: name, Value: strings.TrimSpace(value), Fingerprint: fp, DateCreated: now()}
		tx.PutSSHKey(k)
		return nil
	})
	return sshKeyOf(k), err
}

// DeleteSSHKey forgets one of the caller's keys (VMs made with it keep it).
func (s *Service) DeleteSSHKey(c *Caller, id int64) error {
	return s.st.Update(func(tx *store.Tx) error {
		if _, err := sshKeyFor(tx, c, id); err != nil {
			return err
		}
		tx.DeleteSSHKey(id)
		return nil
	})
}

package service

import (
	"context"
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
		return "", invalid(obj, field, "must be at most %d bytes, got %d", MaxSSHKeyBytes, len(line))
	}
	fields := strings.Fields(line)
	if len(fields) < 2 || strings.ContainsAny(line, "\r\n") {
		return "", invalid(obj, field, "must be one OpenSSH public key line: type, base64 key, optional comment")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 4 {
		return "", invalid(obj, field, "the key is not valid base64")
	}
	n := binary.BigEndian.Uint32(blob)
	if int(n) > len(blob)-4 || string(blob[4:4+n]) != fields[0] {
		return "", invalid(obj, field, "the key's data does not match its type %q", fields[0])
	}
	switch {
	case fields[0] == "ssh-rsa", fields[0] == "ssh-ed25519", strings.HasPrefix(fields[0], "ecdsa-sha2-"), strings.HasPrefix(fields[0], "sk-"):
	default:
		return "", invalid(obj, field, "unsupported key type %q", fields[0])
	}
	sum := md5.Sum(blob)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(hexes, ":"), nil
}

func renderSSHKey(k store.SSHKey, withValue bool) map[string]any {
	out := map[string]any{"id": k.ID, "name": k.Name, "fingerprint": k.Fingerprint}
	if withValue {
		out["value"] = k.Value
	}
	return out
}

func sshKeyFor(tx *store.Tx, c *Caller, id int64) (store.SSHKey, error) {
	k, ok := tx.SSHKey(id)
	if !ok || !c.owns(k.AccountID) {
		return k, notFound(ObjSSHKey, "ssh key", id)
	}
	return k, nil
}

var sshKeyQuery = query[store.SSHKey]{
	obj:   ObjSSHKey,
	each:  (*store.Tx).EachSSHKey,
	owner: func(k *store.SSHKey) int64 { return k.AccountID },
	filter: func(sp *spec) (func(*store.SSHKey) bool, error) {
		ids, err := sp.ints("id")
		if err != nil {
			return nil, err
		}
		names, err := sp.strs("name")
		if err != nil {
			return nil, err
		}
		fps, err := sp.strs("fingerprint")
		return func(k *store.SSHKey) bool {
			return (len(ids) == 0 || slices.Contains(ids, k.ID)) && (len(names) == 0 || slices.Contains(names, k.Name)) &&
				(len(fps) == 0 || slices.Contains(fps, k.Fingerprint))
		}, err
	},
	sortKeys: map[string]func(a, b *store.SSHKey) int{
		"id":   func(a, b *store.SSHKey) int { return cmp64(a.ID, b.ID) },
		"name": func(a, b *store.SSHKey) int { return strings.Compare(a.Name, b.Name) },
	},
	render: func(tx *store.Tx, k store.SSHKey) any { return renderSSHKey(k, false) },
}

func (s *Service) sshInfo(ctx context.Context, c *Caller, a args) (any, error) {
	render := func(tx *store.Tx, k store.SSHKey) map[string]any { return renderSSHKey(k, true) }
	return lookupInfo(s.st, c, a, ObjSSHKey, "key_id", sshKeyFor, render)
}

// sshCreate stores a key at once: there is nothing to do on the host, so
// it returns the key, as Gandi's hosting.ssh.create does, not an operation.
func (s *Service) sshCreate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjSSHKey
	_, acct, err := s.creator(c, a, 1, ObjSSHKey)
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "params", false)
	if err != nil {
		return nil, err
	}
	name, err := sp.str("name", "", true)
	if err != nil {
		return nil, err
	}
	if !diskNameRE.MatchString(name) {
		return nil, invalid(ObjSSHKey, "name", "must be 1-64 letters, digits, '.', '_' or '-'")
	}
	value, err := sp.str("value", "", true)
	if err != nil {
		return nil, err
	}
	fp, err := parseAuthorizedKey(ObjSSHKey, "value", value)
	if err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	var k store.SSHKey
	err = s.st.Update(func(tx *store.Tx) error {
		dup := false
		tx.EachSSHKey(func(x *store.SSHKey) bool {
			dup = x.AccountID == acct && (x.Name == name || x.Fingerprint == fp)
			return !dup
		})
		if dup {
			return fault(ObjSSHKey, KindDuplicate, "name/value: the account already has a key named %q or with fingerprint %s", name, fp)
		}
		k = store.SSHKey{ID: tx.NextID("sshkey", tx.HasSSHKey), AccountID: acct, Name: name, Value: strings.TrimSpace(value), Fingerprint: fp, DateCreated: now()}
		tx.PutSSHKey(k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return renderSSHKey(k, true), nil
}

func (s *Service) sshDelete(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjSSHKey
	id, err := a.int(0, "key_id")
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	err = s.st.Update(func(tx *store.Tx) error {
		if _, err := sshKeyFor(tx, c, id); err != nil {
			return err
		}
		tx.DeleteSSHKey(id)
		return nil
	})
	return err == nil, err
}

package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 1

// buckets are the file's top-level buckets, made at every open; doc.go
// draws what each holds.
var buckets = []string{"meta", "accounts", "vms", "disks", "ifaces", "ips", "images", "operations", "idempotency", "released", "sshkeys"}

// migrations[i] upgrades a file from schema i+1 to i+2. Each runs inside
// the opening transaction, so a failed migration leaves the file as it was.
var migrations = []func(tx *bolt.Tx) error{}

// migrate brings a file to SchemaVersion inside the opening transaction:
// it makes missing buckets, runs the migrations a file older than this
// code needs, and gives a new file its instance id.
func (s *Store) migrate(tx *bolt.Tx) error {
	for _, b := range buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return err
		}
	}
	meta := tx.Bucket([]byte("meta"))
	version := SchemaVersion
	if raw := meta.Get([]byte("schema")); raw != nil {
		version = int(binary.BigEndian.Uint64(raw))
	}
	if version > SchemaVersion {
		return fmt.Errorf("state schema %d is newer than this agent's %d", version, SchemaVersion)
	}
	for ; version < SchemaVersion; version++ {
		if err := migrations[version-1](tx); err != nil {
			return fmt.Errorf("migrating schema %d: %w", version, err)
		}
	}
	if meta.Get([]byte("instance")) == nil {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		if err := meta.Put([]byte("instance"), []byte(hex.EncodeToString(b[:]))); err != nil {
			return err
		}
	}
	return meta.Put([]byte("schema"), u64(SchemaVersion))
}

func loadTable[T any](tx *bolt.Tx, t *table[T]) error {
	return tx.Bucket([]byte(t.bucket)).ForEach(func(k, v []byte) error {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decoding %s/%d: %w", t.bucket, binary.BigEndian.Uint64(k), err)
		}
		t.rows[int64(binary.BigEndian.Uint64(k))] = &rec
		return nil
	})
}

func (s *Store) load(tx *bolt.Tx) error {
	for _, err := range []error{
		loadTable(tx, &s.accounts), loadTable(tx, &s.vms), loadTable(tx, &s.disks),
		loadTable(tx, &s.ifaces), loadTable(tx, &s.ips), loadTable(tx, &s.images),
		loadTable(tx, &s.operations), loadTable(tx, &s.sshKeys),
	} {
		if err != nil {
			return err
		}
	}
	if err := tx.Bucket([]byte("idempotency")).ForEach(func(k, v []byte) error {
		var e IdemEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		s.idem[string(k)] = e
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket([]byte("released")).ForEach(func(k, v []byte) error {
		var l []string
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		s.released[string(k)] = l
		return nil
	}); err != nil {
		return err
	}
	s.instance = string(tx.Bucket([]byte("meta")).Get([]byte("instance")))
	return tx.Bucket([]byte("meta")).ForEach(func(k, v []byte) error {
		if len(k) > 4 && string(k[:4]) == "seq/" {
			s.seq[string(k[4:])] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
}

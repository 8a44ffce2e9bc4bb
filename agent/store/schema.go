package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes.
//
//  1. the first: operations' step inputs in Params and step data in Data,
//     string maps.
//  2. typed step data: Params hold only what a client reads back; what
//     the steps read is Input, what they journal is Progress (JSON of
//     agent/workflow's types). Data is gone.
const SchemaVersion = 2

// buckets are the file's top-level buckets, made at every open; doc.go
// draws what each holds. A bucket added later (locks, isos, tickets) needs no migration:
// opening an older file makes it empty, which is what that file meant.
var buckets = []string{"meta", "accounts", "vms", "disks", "ifaces", "ips", "images", "operations", "idempotency", "released", "sshkeys", "events", "locks", "isos", "tickets"}

// A migration upgrades a file from schema to-1 to schema to. Each runs
// inside the opening transaction, so a failed one leaves the file as it
// was; each has a test on an old file in testdata/.
type migration struct {
	to   int
	what string
	run  func(s *Store, tx *bolt.Tx, o options) error
}

// migrations are in order: migrations[i] brings schema i+1 to i+2.
var migrations = []migration{
	{to: 2, what: "typed operation input and progress", run: upgradeOperations},
}

// Option tunes Open.
type Option func(*options)

type options struct {
	upgradeOp UpgradeOperation
}

// UpgradeOperation converts an operation stored by schema 1 into this
// schema's shape: what its steps read from Params and Data into typed
// Input and Progress, Params left with what a client may read back. The
// mapping is per operation type, and lives with the types (agent/workflow).
// It must be idempotent: given an operation it already converted (no
// Data), it returns it unchanged.
type UpgradeOperation func(old OperationV1) (Operation, error)

// WithOperationUpgrade gives Open the conversion that schema 2 needs for
// the operations of an older file. Opening a schema-1 file that holds
// operations without it fails, and leaves the file as it was.
func WithOperationUpgrade(fn UpgradeOperation) Option {
	return func(o *options) { o.upgradeOp = fn }
}

// OperationV1 is an operation as schema 1 stored it: step inputs among
// its Params, step data in Data, all strings.
type OperationV1 struct {
	Operation
	Data map[string]string `json:"data,omitempty"`
}

// migrate brings a file to SchemaVersion inside the opening transaction:
// it makes missing buckets, runs the migrations a file older than this
// code needs, and gives a new file its instance id. It returns the
// migrations it ran.
func (s *Store) migrate(tx *bolt.Tx, o options) ([]migration, error) {
	fresh := true
	for _, b := range buckets {
		if tx.Bucket([]byte(b)) != nil {
			fresh = false
		}
	}
	for _, b := range buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return nil, err
		}
	}
	meta := tx.Bucket([]byte("meta"))
	version := SchemaVersion // a new file
	if !fresh {
		version = 1 // records, and no schema key: before schema 2 that meant 1
	}
	if raw := meta.Get([]byte("schema")); raw != nil {
		if len(raw) != 8 {
			return nil, fmt.Errorf("the file's schema key holds %d bytes, not 8: not a state file this agent wrote", len(raw))
		}
		version = int(binary.BigEndian.Uint64(raw))
	}
	if version < 1 {
		return nil, fmt.Errorf("the file says schema %d, which no agent wrote", version)
	}
	if version > SchemaVersion {
		return nil, fmt.Errorf("%w: the file is schema %d, this agent knows up to %d; run the agent that wrote it, or restore a state file this one wrote", ErrNewerSchema, version, SchemaVersion)
	}
	ran := migrations[version-1:]
	for _, m := range ran {
		if err := m.run(s, tx, o); err != nil {
			return nil, fmt.Errorf("upgrading the state from schema %d to %d (%s): %w", m.to-1, m.to, m.what, err)
		}
	}
	if meta.Get([]byte("instance")) == nil {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		if err := meta.Put([]byte("instance"), []byte(hex.EncodeToString(b[:]))); err != nil {
			return nil, err
		}
	}
	return ran, meta.Put([]byte("schema"), u64(SchemaVersion))
}

// upgradeOperations is migration 2: every operation, finished or not,
// through o.upgradeOp. An unfinished one is resumed from what it gives.
func upgradeOperations(s *Store, tx *bolt.Tx, o options) error {
	b := tx.Bucket([]byte("operations"))
	type rec struct {
		key []byte
		old OperationV1
	}
	var all []rec
	// bbolt forbids writing a bucket while ForEach walks it: read first.
	if err := b.ForEach(func(k, v []byte) error {
		var old OperationV1
		if err := json.Unmarshal(v, &old); err != nil {
			return fmt.Errorf("decoding operations/%d: %w", binary.BigEndian.Uint64(k), err)
		}
		all = append(all, rec{key: slices.Clone(k), old: old})
		return nil
	}); err != nil {
		return err
	}
	if len(all) > 0 && o.upgradeOp == nil {
		return errors.New("schema 1 keeps operations' step data as strings, and no conversion was given to open it (agent/workflow's OpenState opens the agent's state)")
	}
	unfinished := 0
	for _, r := range all {
		op, err := o.upgradeOp(r.old)
		if err != nil {
			return fmt.Errorf("operation %d (%s, %s): %w", r.old.ID, r.old.Type, r.old.Step, err)
		}
		raw, err := json.Marshal(&op)
		if err != nil {
			return fmt.Errorf("encoding operation %d: %w", op.ID, err)
		}
		if err := b.Put(r.key, raw); err != nil {
			return err
		}
		log := s.log.Debug
		if !op.Finished() {
			// What a resumed operation will run from: worth the log.
			unfinished++
			log = s.log.Info
		}
		log("operation upgraded", "op_id", op.ID, "op", op.Type, "step", op.Step,
			"params_before", r.old.Params, "data_before", r.old.Data,
			"params", op.Params, "input", string(op.Input), "progress", string(op.Progress))
	}
	s.log.Info("operations upgraded to typed input and progress", "operations", len(all), "unfinished", unfinished)
	return nil
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
		loadTable(tx, &s.operations), loadTable(tx, &s.sshKeys), loadTable(tx, &s.locks), loadTable(tx, &s.isos), loadTable(tx, &s.tickets),
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

package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The schema-1 file in testdata is opened on a copy only: opening writes.
func copyV1(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "state-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawFile is what a state file holds, read with bbolt alone: its schema
// and its operations as stored.
func rawFile(t *testing.T, path string) (schema uint64, ops map[uint64]map[string]any) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ops = map[uint64]map[string]any{}
	err = db.View(func(tx *bolt.Tx) error {
		schema = binary.BigEndian.Uint64(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		return tx.Bucket([]byte("operations")).ForEach(func(k, v []byte) error {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			ops[binary.BigEndian.Uint64(k)] = m
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema, ops
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Opening refuses a failed migration as a whole: the file stays schema
// 1, every operation as it was, whatever the conversion got through.
func TestFailedUpgradeLeavesTheFileAsItWas(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []Option
		want string
	}{
		{"no conversion given", nil, "no conversion was given"},
		{"a conversion fails half way", []Option{WithOperationUpgrade(func(old OperationV1) (Operation, error) {
			if old.ID == 26 {
				return old.Operation, errors.New(`params["old_disk_id"] = "x": want an integer`)
			}
			return old.Operation, nil
		})}, `operation 26 (disk_rollback, RUN): params["old_disk_id"] = "x"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := copyV1(t)
			_, before := rawFile(t, path)
			_, err := Open(path, quiet(), tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "from schema 1 to 2") {
				t.Fatalf("open = %v, want an error saying %q", err, tt.want)
			}
			schema, after := rawFile(t, path)
			if schema != 1 || fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("after a failed upgrade: schema %d, operations changed: %v", schema, fmt.Sprint(after) != fmt.Sprint(before))
			}
		})
	}
}

// Every operation goes through the conversion once, in one transaction;
// what it returns is what the file holds, schema 1's data is gone, and a
// second open converts nothing.
func TestUpgradeConvertsEveryOperationOnce(t *testing.T) {
	path := copyV1(t)
	_, before := rawFile(t, path)
	seen := map[int64]bool{}
	s, err := Open(path, quiet(), WithOperationUpgrade(func(old OperationV1) (Operation, error) {
		seen[old.ID] = true
		op := old.Operation
		if len(old.Data) > 0 {
			op.Progress, _ = json.Marshal(old.Data)
		}
		return op, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) {
		if o, _ := tx.Operation(30); string(o.Progress) == "" || o.Step != StepRun || !o.InStep {
			t.Errorf("in-flight vm_stop after the upgrade = %+v", o)
		}
	})
	s.Close()
	if len(seen) != len(before) || len(before) != 30 {
		t.Fatalf("converted %d operations of %d", len(seen), len(before))
	}
	schema, after := rawFile(t, path)
	if schema != SchemaVersion {
		t.Fatalf("schema after upgrade = %d", schema)
	}
	for id, o := range after {
		if _, ok := o["data"]; ok {
			t.Errorf("operation %d keeps schema 1's data: %v", id, o)
		}
		if d, ok := before[id]["data"]; ok && fmt.Sprint(o["progress"]) != fmt.Sprint(d) {
			t.Errorf("operation %d: progress %v, want the conversion's %v", id, o["progress"], d)
		}
	}
	s, err = Open(path, quiet(), WithOperationUpgrade(func(old OperationV1) (Operation, error) {
		t.Errorf("operation %d converted again", old.ID)
		return old.Operation, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, again := rawFile(t, path); fmt.Sprint(again) != fmt.Sprint(after) {
		t.Fatal("a second open changed the operations")
	}
}

// A file of a newer schema is refused, and left alone: this agent would
// misread it, and writing its own schema number would hide that.
func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openTemp(t, path).Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), u64(SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(path, quiet())
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), fmt.Sprintf("schema %d, this agent knows up to %d", SchemaVersion+1, SchemaVersion)) {
		t.Fatalf("open of a newer file = %v", err)
	}
	if schema, _ := rawFile(t, path); schema != SchemaVersion+1 {
		t.Fatalf("schema after the refusal = %d", schema)
	}
}

// A new file starts at the current schema: it has nothing to convert and
// needs no conversion.
func TestNewFileNeedsNoUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openTemp(t, path).Close()
	if schema, _ := rawFile(t, path); schema != SchemaVersion {
		t.Fatalf("schema of a new file = %d", schema)
	}
}

// A file with records and no schema key is schema 1 (the key came with
// schema 2's bump): it is upgraded, not taken for a new file. A schema
// key that is not 8 bytes is refused, the file as it was.
func TestSchemaKeyMissingOrDamaged(t *testing.T) {
	for _, tt := range []struct {
		name   string
		value  []byte // nil: deleted
		refuse string
	}{
		{"missing", nil, "from schema 1 to 2"},
		{"four bytes", []byte{0, 0, 0, 1}, "holds 4 bytes, not 8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := copyV1(t)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				meta := tx.Bucket([]byte("meta"))
				if tt.value == nil {
					return meta.Delete([]byte("schema"))
				}
				return meta.Put([]byte("schema"), tt.value)
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			before, _ := os.ReadFile(path)
			// Without the operation upgrade a schema-1 file with
			// operations is refused: proof it was read as schema 1.
			st, err := Open(path, quiet())
			if err == nil {
				st.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tt.refuse) {
				t.Errorf("err = %v, want one saying %q", err, tt.refuse)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Error("the refused open changed the file")
			}
		})
	}
}

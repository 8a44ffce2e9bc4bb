package workflow_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// v1Dump is agent/store/testdata/state-v1.json: what the schema-1 file
// holds, as the schema-1 agent read it. Records stay raw JSON, compared
// with what this agent reads field for field.
type v1Dump struct {
	Schema      uint64                     `json:"schema"`
	Instance    string                     `json:"instance"`
	Seq         map[string]uint64          `json:"seq"`
	Accounts    []json.RawMessage          `json:"accounts"`
	SSHKeys     []json.RawMessage          `json:"sshkeys"`
	Images      []json.RawMessage          `json:"images"`
	VMs         []json.RawMessage          `json:"vms"`
	Disks       []json.RawMessage          `json:"disks"`
	Ifaces      []json.RawMessage          `json:"ifaces"`
	IPs         []json.RawMessage          `json:"ips"`
	Operations  []json.RawMessage          `json:"operations"`
	Idempotency map[string]json.RawMessage `json:"idempotency"`
	Released    map[string][]string        `json:"released"`
}

const fixtureDir = "../store/testdata"

// TestUpgradeOfARealV1State opens the state file the schema-1 agent left
// with four operations in flight (agent/store/testdata/README.md) the way
// the agent opens its state, checks that the upgrade kept everything and
// typed what the steps read, then resumes the operations with the real
// workflows on libvirt's test driver and the file backend, to the end.
func TestUpgradeOfARealV1State(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "state-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want v1Dump
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if want.Schema != 1 {
		t.Fatalf("the fixture is schema %d", want.Schema)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	db, err := os.ReadFile(filepath.Join(fixtureDir, "state-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}

	var logged bytes.Buffer
	st, err := workflow.OpenState(path, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Logf("the upgrade logged:\n%s", logged.String())
	}
	checkRecordsKept(t, st, want)
	checkOperationsUpgraded(t, st, want)
	checkInFlight(t, st)
	for _, id := range []string{"26", "27", "28", "30"} {
		if !strings.Contains(logged.String(), "msg=\"operation upgraded\" op_id="+id+" ") {
			t.Errorf("the upgrade did not log in-flight operation %s:\n%s", id, logged.String())
		}
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	schema, seq, upgraded := readFile(t, path)
	if schema != store.SchemaVersion {
		t.Fatalf("schema after the upgrade = %d, want %d", schema, store.SchemaVersion)
	}
	if !reflect.DeepEqual(seq, want.Seq) {
		t.Errorf("id sequences = %v, want %v", seq, want.Seq)
	}

	// Upgrading again changes nothing: opening converts nothing more,
	// and the conversion itself gives back what it converted.
	st, err = workflow.OpenState(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, _, again := readFile(t, path); !reflect.DeepEqual(again, upgraded) {
		t.Fatal("a second open changed the file")
	}
	for id, raw := range upgraded {
		var op store.Operation
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatal(err)
		}
		if again, err := workflow.UpgradeOperation(store.OperationV1{Operation: op}); err != nil || !reflect.DeepEqual(again, op) {
			t.Errorf("operation %d upgraded twice: %+v, %v", id, again, err)
		}
	}

	resume(t, dir, path)
}

// checkRecordsKept compares every record but the operations with the
// fixture's dump: the upgrade touches none of them.
func checkRecordsKept(t *testing.T, st *store.Store, want v1Dump) {
	t.Helper()
	got := v1Dump{Idempotency: map[string]json.RawMessage{}, Released: map[string][]string{}}
	add := func(list *[]json.RawMessage, v any) {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		*list = append(*list, raw)
	}
	st.View(func(tx *store.Tx) {
		tx.EachAccount(func(x *store.Account) bool { add(&got.Accounts, x); return true })
		tx.EachSSHKey(func(x *store.SSHKey) bool { add(&got.SSHKeys, x); return true })
		tx.EachImage(func(x *store.Image) bool { add(&got.Images, x); return true })
		tx.EachVM(func(x *store.VM) bool { add(&got.VMs, x); return true })
		tx.EachDisk(func(x *store.Disk) bool { add(&got.Disks, x); return true })
		tx.EachIface(func(x *store.Iface) bool { add(&got.Ifaces, x); return true })
		tx.EachIP(func(x *store.IP) bool { add(&got.IPs, x); return true })
		tx.EachIdem(func(k string, e store.IdemEntry) bool {
			raw, _ := json.Marshal(e)
			got.Idempotency[k] = raw
			return true
		})
		tx.EachReleased(func(k string, addrs []string) { got.Released[k] = addrs })
	})
	if st.Instance() != want.Instance {
		t.Errorf("instance = %s, want %s", st.Instance(), want.Instance)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"accounts", got.Accounts, want.Accounts}, {"sshkeys", got.SSHKeys, want.SSHKeys}, {"images", got.Images, want.Images},
		{"vms", got.VMs, want.VMs}, {"disks", got.Disks, want.Disks}, {"ifaces", got.Ifaces, want.Ifaces}, {"ips", got.IPs, want.IPs},
		{"idempotency", got.Idempotency, want.Idempotency}, {"released", got.Released, want.Released},
	} {
		if g, w := generic(t, c.got), generic(t, c.want); !reflect.DeepEqual(g, w) {
			t.Errorf("%s changed:\n got %v\nwant %v", c.name, g, w)
		}
	}
	if len(want.VMs) != 3 || len(want.Idempotency) != 17 {
		t.Errorf("the fixture holds %d VMs and %d idempotency entries, the README says 3 and 17", len(want.VMs), len(want.Idempotency))
	}
}

// checkOperationsUpgraded compares every operation with the fixture: all
// it was, with params reduced to what a client reads and schema 1's
// strings typed, each value the same as the string said.
func checkOperationsUpgraded(t *testing.T, st *store.Store, want v1Dump) {
	t.Helper()
	ops := map[int64]store.Operation{}
	st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool { ops[o.ID], _ = tx.Operation(o.ID); return true })
	})
	if len(ops) != len(want.Operations) {
		t.Fatalf("%d operations, the fixture has %d", len(ops), len(want.Operations))
	}
	for _, raw := range want.Operations {
		var old map[string]any
		json.Unmarshal(raw, &old)
		id := int64(old["id"].(float64))
		op := ops[id]
		params, _ := old["params"].(map[string]any)
		data, _ := old["data"].(map[string]any)
		t.Run(fmt.Sprintf("op %d %s", id, op.Type), func(t *testing.T) {
			// Everything but the step data is as it was.
			got := generic(t, op).(map[string]any)
			typed := map[string]any{"input": got["input"], "progress": got["progress"]}
			delete(got, "input")
			delete(got, "progress")
			delete(old, "data")
			if !reflect.DeepEqual(got, old) {
				t.Errorf("operation changed:\n got %v\nwant %v", got, old)
			}
			for k := range params {
				if !workflow.IsClientParam(k) {
					t.Errorf("param %q is not for clients, and stays", k)
				}
			}
			sameStrings(t, "input", typed["input"], params)
			sameStrings(t, "progress", typed["progress"], data)
			if len(data) > 0 && typed["progress"] == nil {
				t.Errorf("data %v was not typed", data)
			}
		})
	}
}

// sameStrings checks that each field of a typed document says what
// schema 1's string of the same name said (access: read_only).
func sameStrings(t *testing.T, what string, doc any, old map[string]any) {
	t.Helper()
	fields, _ := doc.(map[string]any)
	for k, v := range fields {
		var s string
		switch x := v.(type) {
		case bool:
			s = map[bool]string{true: "1", false: "0"}[x]
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case string:
			s = x
		}
		key := k
		if k == "read_only" {
			key, s = "access", map[string]string{"1": "read", "0": "read/write"}[s]
		}
		if o, ok := old[key]; !ok || o != s {
			t.Errorf("%s %s = %v, schema 1 said %v", what, k, v, old[key])
		}
	}
	for k, v := range old {
		if _, typed := fields[k]; !typed && what == "progress" && v != "0" && v != "" {
			t.Errorf("data %s = %v is not in the progress %v", k, v, fields)
		}
	}
}

// checkInFlight spells out what the four operations in flight resume
// from (README.md's table).
func checkInFlight(t *testing.T, st *store.Store) {
	t.Helper()
	get := func(id int64) store.Operation {
		var o store.Operation
		st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
		return o
	}
	must := func(v any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	deadline, _ := time.Parse(time.RFC3339Nano, "2026-12-03T02:15:42.961406323Z")
	memory := int64(512)
	for _, c := range []struct {
		op        store.Operation
		step      string
		cursor    int
		inStep    bool
		got, want any
	}{
		{get(26), store.StepRun, 0, true, must(ops.InputOf[workflow.DiskRollback](get(26))), workflow.DiskRollback{OldDiskID: 4243, SnapshotID: 6}},
		{get(27), store.StepWait, 0, false, must(ops.InputOf[workflow.DiskAttach](get(27))), workflow.DiskAttach{Position: 0, Insert: true, RestoreDiskID: 4243}},
		{get(28), store.StepWait, 0, false, must(ops.InputOf[workflow.VMUpdate](get(28))), workflow.VMUpdate{Memory: &memory}},
		{get(30), store.StepRun, 0, true, must(ops.ProgressOf[workflow.StopProgress](get(30))), workflow.StopProgress{Deadline: deadline, Messages: 1}},
	} {
		if c.op.Step != c.step || c.op.Cursor != c.cursor || c.op.InStep != c.inStep || !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("operation %d (%s) = %s cursor %d in_step %v %+v, want %s %d %v %+v",
				c.op.ID, c.op.Type, c.op.Step, c.op.Cursor, c.op.InStep, c.got, c.step, c.cursor, c.inStep, c.want)
		}
	}
	if o := get(28); o.Secrets["password_hash"] == "" {
		t.Error("the waiting vm_update lost its password's hash")
	}
}

// resume runs the agent's engine and workflows over the upgraded file, as
// serve would, until the four operations in flight are finished. The
// volumes are not part of the fixture: those of its disks are made first.
func resume(t *testing.T, dir, path string) {
	t.Helper()
	log := quiet()
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := workflow.OpenState(path, log)
	if err != nil {
		t.Fatal(err)
	}
	nodeXML := filepath.Join(dir, "node.xml")
	if err := os.WriteFile(nodeXML, []byte("<node/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	hv, err := hypervisor.Open(context.Background(), hypervisor.Config{URI: "test://" + nodeXML}, log)
	if err != nil {
		t.Fatal(err)
	}
	vols, err := file.New(filepath.Join(dir, "disks"), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var hash string
	var disks []store.Disk
	st.View(func(tx *store.Tx) {
		o, _ := tx.Operation(28)
		hash = o.Secrets["password_hash"]
		tx.EachDisk(func(d *store.Disk) bool { disks = append(disks, *d); return true })
	})
	for _, d := range disks {
		if d.State == store.DiskBeingCreated {
			continue // the operation in flight makes it
		}
		if err := vols.Create(ctx, d.Volume, d.SizeMB, host.Mark{Owner: st.Instance()}); err != nil {
			t.Fatal(err)
		}
	}
	v4, _ := ipam.Parse("10.77.0.0/24", "10.77.0.1", "", "")
	v6, _ := ipam.Parse("2001:db8:77::/64", "2001:db8:77::1", "", "")
	eng := ops.New(st, log, ops.Config{RetryFor: 5 * time.Second})
	workflow.New(workflow.Config{DatacenterID: 1, Seeds: nocloud.New(filepath.Join(dir, "seeds")),
		Timeouts: workflow.Timeouts{Stop: 2 * time.Second, StopMessages: 2, Reboot: 2 * time.Second},
		Network:  workflow.Network{V4: &v4, V6: &v6, ReverseDomain: "fixture.example"}}, st, eng, hv, vols, log)
	eng.Start(ctx)
	defer func() {
		cancel()
		eng.Wait()
		if err := st.Check(); err != nil {
			t.Error(err)
		}
		st.Close()
		hv.Close()
	}()
	for _, id := range []int64{26, 27, 28, 30} {
		select {
		case <-eng.Done(id):
		case <-time.After(60 * time.Second):
			t.Fatalf("operation %d did not finish", id)
		}
	}

	st.View(func(tx *store.Tx) {
		for _, id := range []int64{26, 27, 28, 30} {
			o, _ := tx.Operation(id)
			if o.Step != store.StepDone {
				t.Errorf("operation %d (%s) ended %s: %s", id, o.Type, o.Step, o.LastError)
			}
			if len(o.Secrets) != 0 {
				t.Errorf("operation %d keeps secrets after it finished", id)
			}
		}
		// disk_rollback: disk 8 replaces 4243, and owns its snapshot.
		if d, ok := tx.Disk(8); !ok || d.State != store.DiskCreated || d.VMID != 4242 {
			t.Errorf("disk 8 after the rollback = %+v, %v", d, ok)
		}
		if _, ok := tx.Disk(4243); ok {
			t.Error("disk 4243, rolled back, is still recorded")
		}
		if s, _ := tx.Disk(6); s.Source != 8 {
			t.Errorf("snapshot 6's source = %d, want the new disk 8", s.Source)
		}
		// disk_attach at 0, and vm_update with memory and password.
		v, _ := tx.VM(4242)
		if !reflect.DeepEqual(v.DiskIDs, []int64{8}) || v.Memory != 512 || v.Provision == nil || v.Provision.Password != hash {
			t.Errorf("vm 4242 = disks %v memory %d provision %+v, want disk 8, 512 MB and the password", v.DiskIDs, v.Memory, v.Provision)
		}
		// vm_stop of db.
		if v, _ := tx.VM(2); v.State != store.VMHalted {
			t.Errorf("vm 2 after its stop = %s", v.State)
		}
	})
	if ok, _ := vols.Exists(ctx, "xa-disk-4243"); ok {
		t.Error("the rolled-back disk's volume is left")
	}
	if ok, _ := vols.Exists(ctx, "xa-disk-8"); !ok {
		t.Error("the rollback's volume was not made")
	}
}

// readFile reads, with bbolt alone, a closed state file's schema, id
// sequences and operations as stored.
func readFile(t *testing.T, path string) (schema uint64, seq map[string]uint64, ops map[int64][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seq, ops = map[string]uint64{}, map[int64][]byte{}
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		schema = binary.BigEndian.Uint64(meta.Get([]byte("schema")))
		meta.ForEach(func(k, v []byte) error {
			if name, ok := strings.CutPrefix(string(k), "seq/"); ok {
				seq[name] = binary.BigEndian.Uint64(v)
			}
			return nil
		})
		return tx.Bucket([]byte("operations")).ForEach(func(k, v []byte) error {
			ops[int64(binary.BigEndian.Uint64(k))] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema, seq, ops
}

// generic is v through JSON, to compare records whatever their Go types.
func generic(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

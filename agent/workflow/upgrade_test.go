package workflow

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

func ptr[T any](v T) *T { return &v }

func TestUpgradeOperation(t *testing.T) {
	deadline := time.Date(2026, 12, 3, 2, 15, 42, 961406323, time.UTC)
	for _, tt := range []struct {
		name         string
		typ, step    string
		params, data map[string]string
		secrets      map[string]string
		input        any // what Input decodes to; nil: none
		progress     any
		wantParams   map[string]string
		wantSecrets  map[string]string
		err          string
	}{
		{name: "stop in flight", typ: "vm_stop", step: store.StepRun,
			data:     map[string]string{"deadline": "2026-12-03T02:15:42.961406323Z", "messages": "1"},
			progress: StopProgress{Deadline: deadline, Messages: 1}},
		{name: "forced stop", typ: "vm_stop", step: store.StepDone,
			data:     map[string]string{"deadline": "2026-12-03T02:15:42.961406323Z", "messages": "2", "forced": "1"},
			progress: StopProgress{Deadline: deadline, Messages: 2, Forced: true}},
		{name: "reboot", typ: "vm_reboot", step: store.StepDone,
			data:     map[string]string{"before_id": "2", "deadline": "2026-12-03T02:15:42.961406323Z", "sent": "1", "fresh_start": "1"},
			progress: RebootProgress{Deadline: deadline, BeforeID: 2, Sent: true, FreshStart: true}},
		{name: "update", typ: "vm_update", step: store.StepDone,
			params:     map[string]string{"cores": "2", "memory": "512", "console": "0", "ssh_key": "ssh-ed25519 AAAA x"},
			data:       map[string]string{"old_max": "2048"},
			input:      VMUpdate{Memory: ptr[int64](512), Cores: ptr[int64](2), Console: ptr(false), SSHKey: ptr("ssh-ed25519 AAAA x")},
			progress:   VMUpdateProgress{OldMax: ptr[int64](2048)},
			wantParams: map[string]string{"cores": "2", "memory": "512", "console": "0", "ssh_key": "ssh-ed25519 AAAA x"}},
		{name: "an old update's password becomes a secret", typ: "vm_update", step: store.StepWait,
			params:      map[string]string{"memory": "512", "password": "$6$salt$hash"},
			input:       VMUpdate{Memory: ptr[int64](512)},
			wantParams:  map[string]string{"memory": "512"},
			wantSecrets: map[string]string{"password_hash": "$6$salt$hash"}},
		{name: "a finished update's password goes", typ: "vm_update", step: store.StepDone,
			params:     map[string]string{"vm_max_memory": "4096", "password": "$6$salt$hash"},
			input:      VMUpdate{MaxMemory: ptr[int64](4096)},
			wantParams: map[string]string{"vm_max_memory": "4096"}},
		{name: "chain's attach", typ: "disk_attach", step: store.StepWait,
			params:     map[string]string{"access": "read/write", "insert": "1", "position": "0", "restore_disk_id": "4243"},
			input:      DiskAttach{Position: 0, Insert: true, RestoreDiskID: 4243},
			wantParams: map[string]string{"access": "read/write", "insert": "1", "position": "0", "restore_disk_id": "4243"}},
		{name: "read-only attach", typ: "disk_attach", step: store.StepDone,
			params:     map[string]string{"access": "read", "position": "1"},
			input:      DiskAttach{Position: 1, ReadOnly: true},
			wantParams: map[string]string{"access": "read", "position": "1"}},
		{name: "rollback", typ: "disk_rollback", step: store.StepRun,
			params:     map[string]string{"old_disk_id": "4243", "snapshot_id": "6"},
			input:      DiskRollback{OldDiskID: 4243, SnapshotID: 6},
			wantParams: map[string]string{"old_disk_id": "4243", "snapshot_id": "6"}},
		{name: "chain's start", typ: "vm_start", step: store.StepWait,
			params: map[string]string{"restore": "1"}, input: VMStart{Restore: true}, wantParams: map[string]string{"restore": "1"}},
		{name: "disk update with a reboot", typ: "disk_update", step: store.StepRun,
			params:     map[string]string{"size": "20", "name": "d", "reboot": "1"},
			data:       map[string]string{"deadline": "2026-12-03T02:15:42.961406323Z", "fresh_start": "1"},
			input:      DiskUpdate{SizeMB: ptr[int64](20), Name: ptr("d"), Reboot: true},
			progress:   RebootProgress{Deadline: deadline, FreshStart: true},
			wantParams: map[string]string{"size": "20", "name": "d", "reboot": "1"}},
		{name: "iface update", typ: "iface_update", step: store.StepDone,
			params: map[string]string{"bandwidth": "204800.5"}, input: IfaceUpdate{Bandwidth: 204800.5}, wantParams: map[string]string{"bandwidth": "204800.5"}},
		{name: "ip update", typ: "ip_update", step: store.StepDone,
			params: map[string]string{"reverse": "a.example"}, input: IPUpdate{Reverse: "a.example"}, wantParams: map[string]string{"reverse": "a.example"}},
		{name: "create's deleted volumes", typ: "vm_create", step: store.StepError,
			params: map[string]string{"hostname": "web"}, data: map[string]string{"made_volumes_deleted": "1"},
			progress: VMCreateProgress{MadeVolumesDeleted: true}, wantParams: map[string]string{"hostname": "web"}},
		{name: "params only a client reads", typ: "disk_create", step: store.StepDone,
			params: map[string]string{"source": "1", "profile": "2"}, wantParams: map[string]string{"source": "1", "profile": "2"}},

		{name: "a number that is not", typ: "disk_rollback", step: store.StepRun,
			params: map[string]string{"old_disk_id": "forty"}, err: `params["old_disk_id"] = "forty": want an integer`},
		{name: "a finished one's value that is not: kept, without step data", typ: "disk_rollback", step: store.StepDone,
			params: map[string]string{"old_disk_id": "forty", "snapshot_id": "6"}, wantParams: map[string]string{"old_disk_id": "forty", "snapshot_id": "6"}},
		{name: "a finished one's unknown data: dropped", typ: "vm_stop", step: store.StepError,
			data: map[string]string{"deadline": "soon"}},
		{name: "a time that is not", typ: "vm_stop", step: store.StepRun,
			data: map[string]string{"deadline": "soon"}, err: `data["deadline"] = "soon": want an RFC 3339 time`},
		{name: "a flag that is not", typ: "vm_reboot", step: store.StepRun,
			data: map[string]string{"sent": "yes"}, err: `data["sent"] = "yes": want "1" or "0"`},
		{name: "data the type never journalled", typ: "vm_stop", step: store.StepRun,
			data: map[string]string{"deadline": "2026-12-03T02:15:42.961406323Z", "old_max": "1"}, err: `data["old_max"] = "1": unknown to this operation type`},
		{name: "data of a type that journals none", typ: "disk_delete", step: store.StepRun,
			data: map[string]string{"x": "1"}, err: "a disk_delete journals none"},
		{name: "access that is not", typ: "disk_attach", step: store.StepWait,
			params: map[string]string{"access": "write"}, err: `params["access"] = "write": want read or read/write`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := store.OperationV1{Operation: store.Operation{ID: 9, Type: tt.typ, Step: tt.step, Params: tt.params, Secrets: tt.secrets}, Data: tt.data}
			op, err := UpgradeOperation(old)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkDoc(t, "input", op.Input, tt.input)
			checkDoc(t, "progress", op.Progress, tt.progress)
			if len(op.Params)+len(tt.wantParams) > 0 && !reflect.DeepEqual(op.Params, tt.wantParams) {
				t.Errorf("params = %v, want %v", op.Params, tt.wantParams)
			}
			if len(op.Secrets)+len(tt.wantSecrets) > 0 && !reflect.DeepEqual(op.Secrets, tt.wantSecrets) {
				t.Errorf("secrets = %v, want %v", op.Secrets, tt.wantSecrets)
			}
			again, err := UpgradeOperation(store.OperationV1{Operation: op})
			if err != nil || !reflect.DeepEqual(again, op) {
				t.Errorf("a second upgrade changed the operation: %+v, %v\nwas %+v", again, err, op)
			}
		})
	}
}

// checkDoc compares a journalled document with the typed value it should
// hold, decoded as that value's type.
func checkDoc(t *testing.T, what string, raw json.RawMessage, want any) {
	t.Helper()
	if want == nil {
		if raw != nil {
			t.Errorf("%s = %s, want none", what, raw)
		}
		return
	}
	got := reflect.New(reflect.TypeOf(want))
	if err := json.Unmarshal(raw, got.Interface()); err != nil {
		t.Fatalf("%s %s: %v", what, raw, err)
	}
	if !reflect.DeepEqual(got.Elem().Interface(), want) {
		t.Errorf("%s = %s, want %+v", what, raw, want)
	}
}

package workflow

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// OpenState opens the agent's state file. One written by an older agent
// is upgraded in place first, in one transaction: the operations' step
// data of schema 1 (strings in Params and Data) become the typed Input
// and Progress of this package (UpgradeOperation), so that operations in
// flight resume from them. Every command that opens the agent's state
// opens it here.
func OpenState(path string, log *slog.Logger) (*store.Store, error) {
	return store.Open(path, log, store.WithOperationUpgrade(UpgradeOperation))
}

// UpgradeOperation converts an operation stored by schema 1: what its
// steps read among its params becomes its typed input, its data its
// typed progress, and its params keep only what a client may read back.
// In an unfinished operation, a value that does not parse, or step data
// its type never journalled, is an error naming it: the upgrade then
// fails as a whole and the file stays as it was (the operation will run
// again: guessing would be worse). A finished one keeps its record
// without step data instead. It is idempotent: an operation already converted
// comes back unchanged.
func UpgradeOperation(old store.OperationV1) (store.Operation, error) {
	op, err := upgradeOperation(old)
	if err != nil && op.Finished() {
		// A finished operation never runs again and nothing reads its step
		// data: a value an older agent journalled that does not parse must
		// not keep the agent from starting. It keeps what a client reads.
		op = old.Operation
		op.Input, op.Progress, op.Secrets = nil, nil, nil
		op.Params = maps.Clone(op.Params)
		maps.DeleteFunc(op.Params, func(k, _ string) bool { return !IsClientParam(k) })
		return op, nil
	}
	return op, err
}

func upgradeOperation(old store.OperationV1) (store.Operation, error) {
	op := old.Operation
	op.Params = maps.Clone(op.Params)
	op.Secrets = maps.Clone(op.Secrets)
	shape := v1Shapes[op.Type]
	if op.Input == nil && shape.input != nil {
		f := &v1Fields{what: "params", m: op.Params}
		in, err := ops.Encode(shape.input(f))
		if f.err != nil {
			return op, f.err
		}
		if err != nil {
			return op, fmt.Errorf("encoding the input: %w", err)
		}
		op.Input = in
	}
	if len(old.Data) > 0 {
		if op.Progress != nil {
			return op, fmt.Errorf("both data %v and progress %s", old.Data, op.Progress)
		}
		if shape.progress == nil {
			return op, fmt.Errorf("data %v: a %s journals none", old.Data, op.Type)
		}
		f := &v1Fields{what: "data", m: old.Data}
		p := shape.progress(f)
		if err := f.allRead(); err != nil {
			return op, err
		}
		progress, err := ops.Encode(p)
		if err != nil {
			return op, fmt.Errorf("encoding the progress: %w", err)
		}
		op.Progress = progress
	}
	// Until 2026-12 vm_update journalled the password's hash as a param;
	// it is a secret, which goes with the operation once it finishes.
	if pw, ok := op.Params["password"]; ok && !op.Finished() {
		if op.Secrets == nil {
			op.Secrets = map[string]string{}
		}
		if _, has := op.Secrets["password_hash"]; !has {
			op.Secrets["password_hash"] = pw
		}
	}
	maps.DeleteFunc(op.Params, func(k, _ string) bool { return !IsClientParam(k) })
	return op, nil
}

// v1Shape reads one operation type's input and progress from schema 1's
// strings.
type v1Shape struct {
	input    func(f *v1Fields) any
	progress func(f *v1Fields) any
}

// v1Shapes are the operation types whose steps read params or journalled
// data in schema 1; the others had neither.
var v1Shapes = map[string]v1Shape{
	"vm_create": {progress: func(f *v1Fields) any {
		return VMCreateProgress{MadeVolumesDeleted: f.flag("made_volumes_deleted")}
	}},
	"vm_start": {input: func(f *v1Fields) any { return VMStart{Restore: f.flag("restore")} }},
	"vm_stop": {progress: func(f *v1Fields) any {
		return StopProgress{Deadline: f.time("deadline"), Messages: int(f.int("messages")), Forced: f.flag("forced")}
	}},
	"vm_reboot": {progress: rebootProgressV1},
	"vm_update": {
		input: func(f *v1Fields) any {
			return VMUpdate{Memory: f.intp("memory"), MaxMemory: f.intp("vm_max_memory"), Cores: f.intp("cores"),
				Console: f.flagp("console"), SSHKey: f.strp("ssh_key")}
		},
		progress: func(f *v1Fields) any { return VMUpdateProgress{OldMax: f.intp("old_max")} },
	},
	"disk_update": {
		input: func(f *v1Fields) any {
			return DiskUpdate{Name: f.strp("name"), SizeMB: f.intp("size"), Kernel: f.strp("kernel"), Cmdline: f.strp("cmdline"),
				SnapshotProfile: f.intp("snapshot_profile"), Reboot: f.flag("reboot")}
		},
		progress: rebootProgressV1,
	},
	"disk_attach": {input: func(f *v1Fields) any {
		access := f.str("access")
		if access != "" && access != "read" && access != "read/write" {
			f.fail("access", access, "read or read/write")
		}
		return DiskAttach{Position: int(f.int("position")), Insert: f.flag("insert"), ReadOnly: access == "read",
			RestoreDiskID: f.int("restore_disk_id")}
	}},
	"disk_rollback": {input: func(f *v1Fields) any {
		return DiskRollback{OldDiskID: f.int("old_disk_id"), SnapshotID: f.int("snapshot_id")}
	}},
	"iface_update": {input: func(f *v1Fields) any { return IfaceUpdate{Bandwidth: f.float("bandwidth")} }},
	"ip_update":    {input: func(f *v1Fields) any { return IPUpdate{Reverse: f.str("reverse")} }},
}

func rebootProgressV1(f *v1Fields) any {
	return RebootProgress{Deadline: f.time("deadline"), BeforeID: f.uint("before_id"), Sent: f.flag("sent"),
		FreshStart: f.flag("fresh_start"), Forced: f.flag("forced")}
}

// v1Fields reads schema 1's strings; the first value that does not parse
// is kept as err, naming the map and the key.
type v1Fields struct {
	what string // "params" or "data"
	m    map[string]string
	read []string
	err  error
}

func (f *v1Fields) get(key string) (string, bool) {
	f.read = append(f.read, key)
	v, ok := f.m[key]
	return v, ok
}

func (f *v1Fields) fail(key, v, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("%s[%q] = %q: want %s", f.what, key, v, want)
	}
}

// allRead refuses a key no reader asked for: schema 1 never wrote one,
// so what it means is unknown.
func (f *v1Fields) allRead() error {
	if f.err != nil {
		return f.err
	}
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		if !slices.Contains(f.read, k) {
			return fmt.Errorf("%s[%q] = %q: unknown to this operation type", f.what, k, f.m[k])
		}
	}
	return nil
}

func (f *v1Fields) str(key string) string {
	v, _ := f.get(key)
	return v
}

func (f *v1Fields) strp(key string) *string {
	if v, ok := f.get(key); ok {
		return &v
	}
	return nil
}

func (f *v1Fields) int(key string) int64 {
	if p := f.intp(key); p != nil {
		return *p
	}
	return 0
}

func (f *v1Fields) intp(key string) *int64 {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f.fail(key, v, "an integer")
		return nil
	}
	return &n
}

func (f *v1Fields) uint(key string) uint64 {
	v, ok := f.get(key)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		f.fail(key, v, "an unsigned integer")
	}
	return n
}

func (f *v1Fields) float(key string) float64 {
	v, _ := f.get(key)
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		f.fail(key, v, "a number")
	}
	return n
}

// flag reads schema 1's booleans: "1" set, "0" or nothing unset.
func (f *v1Fields) flag(key string) bool {
	p := f.flagp(key)
	return p != nil && *p
}

func (f *v1Fields) flagp(key string) *bool {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	var b bool
	switch v {
	case "1":
		b = true
	case "0", "":
	default:
		f.fail(key, v, `"1" or "0"`)
	}
	return &b
}

func (f *v1Fields) time(key string) time.Time {
	v, ok := f.get(key)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		f.fail(key, v, "an RFC 3339 time")
	}
	return t
}

package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The rules below refuse before the store is read, so a Service with
// only its configuration is enough.
func ruleService(t *testing.T) *Service {
	dir := t.TempDir()
	for _, k := range []string{"6.1-amd64", "freebsd-13"} {
		if err := os.MkdirAll(filepath.Join(dir, k), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, k, "vmlinuz"), []byte("k"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Service{cfg: Config{
		Datacenter:       Datacenter{ID: 1},
		Limits:           Limits{MaxDiskMB: 1 << 20},
		KernelsDir:       dir,
		SnapshotProfiles: []SnapshotProfile{{ID: 9, Name: "test", Every: time.Hour, KeptTotal: 2, QuotaFactor: 150}},
	}}
}

// wantRefusal checks err is the service's refusal of kind, naming saying
// ("" for no error).
func wantRefusal(t *testing.T, err error, kind Kind, saying string) {
	t.Helper()
	if saying == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || !strings.Contains(e.Msg, saying) {
		t.Fatalf("err = %v, want a %s saying %q", err, kind, saying)
	}
}

func TestDiskCopyRules(t *testing.T) {
	s := ruleService(t)
	snap := refTo("snapshot")
	tests := []struct {
		name   string
		cp     VMDiskSpec
		saying string
		want   diskReq
	}{
		{"defaults", VMDiskSpec{}, "", diskReq{obj: ObjDisk, dc: 7, typ: "data"}},
		{"all given", VMDiskSpec{DatacenterID: refTo(int64(1)), Name: "c", Size: refTo(int64(64)), SnapshotProfile: refTo(int64(9))}, "",
			diskReq{obj: ObjDisk, dc: 1, name: "c", sizeMB: 64, typ: "data", profile: 9}},
		{"profile none", VMDiskSpec{SnapshotProfile: refTo(int64(0))}, "", diskReq{obj: ObjDisk, dc: 7, typ: "data"}},
		{"snapshot", VMDiskSpec{Type: snap}, "", diskReq{obj: ObjDisk, dc: 7, typ: "snapshot"}},
		{"zero size", VMDiskSpec{Size: refTo(int64(0))}, "size: must be a positive number of MB", diskReq{}},
		{"negative size", VMDiskSpec{Size: refTo(int64(-1))}, "size: must be a positive number of MB", diskReq{}},
		{"snapshot with size", VMDiskSpec{Type: snap, Size: refTo(int64(64))}, "size: a snapshot has its source disk's size", diskReq{}},
		{"snapshot with a profile, even none", VMDiskSpec{Type: snap, SnapshotProfile: refTo(int64(0))}, "snapshot_profile: a snapshot takes no snapshots", diskReq{}},
		{"empty type", VMDiskSpec{Type: refTo("")}, "type: must be data or snapshot", diskReq{}},
		{"snapshot_auto", VMDiskSpec{Type: refTo("snapshot_auto")}, "type: must be data or snapshot", diskReq{}},
		{"unknown profile", VMDiskSpec{SnapshotProfile: refTo(int64(77))}, "snapshot_profile: unknown snapshot profile 77", diskReq{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.diskCopyReq(tt.cp, 7)
			wantRefusal(t, err, KindInvalid, tt.saying)
			if tt.saying == "" && got != tt.want {
				t.Fatalf("request = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCreateDiskRefusesOtherTypes(t *testing.T) {
	s := ruleService(t)
	alice := &Caller{AccountID: 1}
	_, err := s.CreateDisk(t.Context(), alice, NewDisk{DatacenterID: 1, Type: refTo("snapshot")})
	wantRefusal(t, err, KindInvalid, "type: only data disks can be created here")
	_, err = s.CreateDisk(t.Context(), alice, NewDisk{DatacenterID: 1, SnapshotProfile: 77})
	wantRefusal(t, err, KindInvalid, "snapshot_profile: unknown snapshot profile 77")
	_, err = s.CreateDisk(t.Context(), alice, NewDisk{DatacenterID: 1, Options: CallOptions{DiskID: 3}})
	wantRefusal(t, err, KindNoRight, "may be chosen by the operator key only")
}

func TestCmdline(t *testing.T) {
	on, off := CmdlineOption{On: true}, CmdlineOption{}
	str := func(v string) CmdlineOption { return CmdlineOption{IsString: true, Value: v} }
	tests := []struct {
		name   string
		opts   map[string]CmdlineOption
		want   string
		saying string
	}{
		{"none", map[string]CmdlineOption{}, "", ""},
		{"in option order", map[string]CmdlineOption{"root": str("/dev/xvda"), "ro": on, "console": str("hvc0"), "quiet": off}, "console=hvc0 ro root=/dev/xvda", ""},
		{"unknown", map[string]CmdlineOption{"evil": str("1")}, "", "cmdline_options.evil: unknown option"},
		{"string for a flag", map[string]CmdlineOption{"ro": str("1")}, "", "cmdline_options.ro: must be a boolean, got a string"},
		{"flag for a string", map[string]CmdlineOption{"root": on}, "", "cmdline_options.root: must be a string, got a boolean"},
		{"empty value", map[string]CmdlineOption{"init": str("")}, "", "cmdline_options.init: must be a non-empty value"},
		{"spaces", map[string]CmdlineOption{"init": str("/bin/sh -x")}, "", "cmdline_options.init: must be a non-empty value without spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cmdlineOf(ObjDisk, tt.opts)
			wantRefusal(t, err, KindInvalid, tt.saying)
			if got != tt.want {
				t.Fatalf("cmdline = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiskUpdateRules(t *testing.T) {
	s := ruleService(t)
	tests := []struct {
		name   string
		req    DiskUpdate
		want   map[string]string
		kind   Kind
		saying string
	}{
		{"all", DiskUpdate{Name: refTo("big"), SizeMB: refTo(int64(128)), Kernel: refTo("6.1-amd64"), Cmdline: refTo("ro"), SnapshotProfile: refTo(int64(9))},
			map[string]string{"name": "big", "size": "128", "kernel": "6.1-amd64", "cmdline": "ro", "snapshot_profile": "9"}, 0, ""},
		{"options", DiskUpdate{CmdlineOptions: map[string]CmdlineOption{"ro": {On: true}}}, map[string]string{"cmdline": "ro"}, 0, ""},
		{"options all off is an empty line", DiskUpdate{CmdlineOptions: map[string]CmdlineOption{}}, map[string]string{"cmdline": ""}, 0, ""},
		{"profile none", DiskUpdate{SnapshotProfile: refTo(int64(0))}, map[string]string{"snapshot_profile": "0"}, 0, ""},
		{"empty name", DiskUpdate{Name: refTo("")}, nil, KindInvalid, "name: must be 1-64 letters"},
		{"bad name", DiskUpdate{Name: refTo("a b")}, nil, KindInvalid, "name: must be 1-64 letters"},
		{"unknown kernel", DiskUpdate{Kernel: refTo("2.6.32")}, nil, KindInvalid, `kernel: unknown kernel "2.6.32"`},
		{"both cmdlines", DiskUpdate{Cmdline: refTo("ro"), CmdlineOptions: map[string]CmdlineOption{}}, nil, KindInvalid, "cmdline: give cmdline or cmdline_options, not both"},
		{"long cmdline", DiskUpdate{Cmdline: refTo(strings.Repeat("x", 1025))}, nil, KindInvalid, "cmdline: must be one line of at most 1024 characters"},
		{"two lines", DiskUpdate{Cmdline: refTo("ro\nquiet")}, nil, KindInvalid, "cmdline: must be one line"},
		{"unknown profile", DiskUpdate{SnapshotProfile: refTo(int64(77))}, nil, KindInvalid, "snapshot_profile: unknown snapshot profile 77"},
		{"nothing", DiskUpdate{}, nil, KindMissing, "disk_spec (one of name, size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.diskUpdateParams(tt.req)
			wantRefusal(t, err, tt.kind, tt.saying)
			if len(got) != len(tt.want) {
				t.Fatalf("params = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("params = %v, want %v", got, tt.want)
				}
			}
		})
	}
	// The typed method checks the same, before it looks the disk up.
	_, err := s.UpdateDisk(t.Context(), &Caller{AccountID: 1}, 42, DiskUpdate{})
	wantRefusal(t, err, KindMissing, "disk_spec")
}

func TestKernelsAndProfiles(t *testing.T) {
	s := ruleService(t)
	k, err := s.Kernels(1)
	if err != nil || len(k.Linux) != 1 || k.Linux[0] != "6.1-amd64" || len(k.BSD) != 1 || k.BSD[0] != "freebsd-13" {
		t.Fatalf("Kernels = %+v, %v", k, err)
	}
	_, err = s.Kernels(2)
	wantRefusal(t, err, KindInvalid, "datacenter_id: datacenter 2 is not served here")
	if opts, err := s.KernelOptions("6.1-amd64"); err != nil || opts["ro"].Type != "boolean" || opts["root"].Type != "string" {
		t.Fatalf("KernelOptions = %v, %v", opts, err)
	}
	_, err = s.KernelOptions("nope")
	wantRefusal(t, err, KindInvalid, `kernel_version: unknown kernel "nope"`)

	if l := s.SnapshotProfiles(SnapshotProfileFilter{Names: []string{"test"}}); len(l) != 1 || l[0].ID != 9 {
		t.Fatalf("SnapshotProfiles = %v", l)
	}
	if l := s.SnapshotProfiles(SnapshotProfileFilter{IDs: []int64{1}}); l == nil || len(l) != 0 {
		t.Fatalf("SnapshotProfiles of an unknown id = %#v, want an empty list", l)
	}
	_, err = s.SnapshotProfile(77)
	wantRefusal(t, err, KindNotFound, "snapshot profile 77 does not exist")
}

package service

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

func testVMService() *Service {
	return &Service{cfg: Config{
		Datacenter:       Datacenter{ID: 1},
		Limits:           Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxBandwidth: 1e10},
		SnapshotProfiles: []SnapshotProfile{{ID: 9, Name: "test"}},
	}}
}

func refTo[T any](v T) *T { return &v }

// ed25519Key is a well-formed public key line (its key bytes are zeros).
func ed25519Key() string {
	var blob []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), make([]byte, 32)} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " test"
}

// wantVMErr checks err against want: "" is no error, else the start of the
// message (the field and the rule).
func wantVMErr(t *testing.T, err error, want string) {
	t.Helper()
	var e *Error
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error %v", err)
	case want == "":
	case !errors.As(err, &e):
		t.Fatalf("error %v, want a *Error %q", err, want)
	case !strings.HasPrefix(e.Msg, want):
		t.Fatalf("error %q, want %q", e.Msg, want)
	}
}

// Absent fields get the seed's defaults; an explicit zero is a value and
// is refused like any other out of bounds.
func TestVMReqOf(t *testing.T) {
	base := func() VMSpec { return VMSpec{DatacenterID: 1, Hostname: "web-1"} }
	tests := []struct {
		name     string
		edit     func(*VMSpec)
		err      string
		mem, max int64
		cores    int64
		ipv      int64
	}{
		{name: "defaults", edit: func(*VMSpec) {}, mem: 512, max: 2048, cores: 1, ipv: 4},
		{name: "max follows a big memory", edit: func(v *VMSpec) { v.Memory = refTo[int64](4096) }, mem: 4096, max: 4096, cores: 1, ipv: 4},
		{name: "explicit sizes", edit: func(v *VMSpec) {
			v.Memory, v.MaxMemory, v.Cores, v.IPVersion = refTo[int64](256), refTo[int64](512), refTo[int64](2), refTo[int64](6)
		}, mem: 256, max: 512, cores: 2, ipv: 6},
		{name: "other datacenter", edit: func(v *VMSpec) { v.DatacenterID = 2 }, err: "datacenter_id: datacenter 2 is not served here"},
		{name: "bad hostname", edit: func(v *VMSpec) { v.Hostname = "-web" }, err: "hostname: must be 1-63"},
		{name: "memory 0", edit: func(v *VMSpec) { v.Memory = refTo[int64](0) }, err: "memory: must be between 128 and 65536 MB"},
		{name: "memory not a multiple", edit: func(v *VMSpec) { v.Memory = refTo[int64](500) }, err: "memory: must be a multiple of 64 (MB)"},
		{name: "max below memory", edit: func(v *VMSpec) { v.MaxMemory = refTo[int64](256) }, err: "vm_max_memory: must be at least memory (512 MB)"},
		{name: "cores 0", edit: func(v *VMSpec) { v.Cores = refTo[int64](0) }, err: "cores: must be between 1 and 16"},
		{name: "ai_active 2", edit: func(v *VMSpec) { v.AIActive = 2 }, err: "ai_active: must be 0 or 1"},
		{name: "bandwidth -1 (0 is unlimited)", edit: func(v *VMSpec) { v.Bandwidth = refTo[float64](-1) }, err: "bandwidth: must be from"},
		{name: "ip_version 0", edit: func(v *VMSpec) { v.IPVersion = refTo[int64](0) }, err: "ip_version: must be 4 or 6"},
		{name: "run too long", edit: func(v *VMSpec) { v.Run = strings.Repeat("x", MaxRunBytes+1) }, err: "run: must be at most"},
		{name: "bad login", edit: func(v *VMSpec) { v.Login = "ro ot" }, err: "login: must be letters"},
		{name: "short password", edit: func(v *VMSpec) { v.Password = "short-é" }, err: "password: must be 8 to 128 characters"},
		{name: "gigas password of 6", edit: func(v *VMSpec) { v.Password, v.PasswordRule = "abc_-6", PasswordGigas }, mem: 512, max: 2048, cores: 1, ipv: 4},
		{name: "gigas password of 5", edit: func(v *VMSpec) { v.Password, v.PasswordRule = "abc-5", PasswordGigas }, err: "password: must be 6 to 32 characters, got 5"},
		{name: "gigas password of 33", edit: func(v *VMSpec) { v.Password, v.PasswordRule = strings.Repeat("a", 33), PasswordGigas }, err: "password: must be 6 to 32 characters, got 33"},
		{name: "gigas password bad character", edit: func(v *VMSpec) { v.Password, v.PasswordRule = "abcdef!", PasswordGigas }, err: "password: must be letters, digits, '_' or '-', not '!'"},
		{name: "bad ssh key", edit: func(v *VMSpec) { v.SSHKey = "ssh-rsa nope" }, err: "ssh_key: the key is not valid base64"},
		{name: "good ssh key", edit: func(v *VMSpec) { v.SSHKey = ed25519Key() }, mem: 512, max: 2048, cores: 1, ipv: 4},
	}
	s := testVMService()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := base()
			tt.edit(&spec)
			r, err := s.vmReqOf(spec)
			wantVMErr(t, err, tt.err)
			if err != nil {
				return
			}
			if r.memory != tt.mem || r.maxMem != tt.max || r.cores != tt.cores || r.ipVersion != tt.ipv || r.bandwidth != 102400 {
				t.Errorf("memory %d, vm_max_memory %d, cores %d, ip_version %d, bandwidth %v; want %d, %d, %d, %d, 102400",
					r.memory, r.maxMem, r.cores, r.ipVersion, r.bandwidth, tt.mem, tt.max, tt.cores, tt.ipv)
			}
		})
	}
}

// The password is kept only as a hash, and a VM with nothing to provision
// carries no provision at all.
func TestVMReqOfProvision(t *testing.T) {
	s := testVMService()
	r, err := s.vmReqOf(VMSpec{DatacenterID: 1, Hostname: "web"})
	if err != nil || r.provision() != nil {
		t.Fatalf("provision %+v, %v; want none", r.provision(), err)
	}
	r, err = s.vmReqOf(VMSpec{DatacenterID: 1, Hostname: "web", Password: "password_to_change"})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.provision(); p == nil || !strings.HasPrefix(p.Password, "$6$") {
		t.Fatalf("provision %+v, want a SHA-512 crypt hash", p)
	}
}

func TestSysDiskReq(t *testing.T) {
	tests := []struct {
		name string
		spec VMDiskSpec
		err  string
		dc   int64
		size int64
	}{
		{name: "defaults", dc: 1},
		{name: "explicit", spec: VMDiskSpec{DatacenterID: refTo[int64](3), Size: refTo[int64](2048), Type: refTo("data"), SnapshotProfile: refTo[int64](9)}, dc: 3, size: 2048},
		{name: "no profile", spec: VMDiskSpec{SnapshotProfile: refTo[int64](0)}, dc: 1},
		{name: "size 0", spec: VMDiskSpec{Size: refTo[int64](0)}, err: "size: must be a positive number of MB"},
		{name: "snapshot with size", spec: VMDiskSpec{Type: refTo("snapshot"), Size: refTo[int64](10)}, err: "size: a snapshot has its source disk's size"},
		{name: "snapshot with profile", spec: VMDiskSpec{Type: refTo("snapshot"), SnapshotProfile: refTo[int64](0)}, err: "snapshot_profile: a snapshot takes no snapshots"},
		{name: "snapshot", spec: VMDiskSpec{Type: refTo("snapshot")}, err: "type: a VM's system disk is a data disk"},
		{name: "empty type", spec: VMDiskSpec{Type: refTo("")}, err: "type: must be data or snapshot"},
		{name: "unknown profile", spec: VMDiskSpec{SnapshotProfile: refTo[int64](7)}, err: "snapshot_profile: unknown snapshot profile 7"},
	}
	s := testVMService()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.sysDiskReq(tt.spec, 1)
			wantVMErr(t, err, tt.err)
			if err == nil && (r.dc != tt.dc || r.sizeMB != tt.size || r.typ != store.DiskTypeData) {
				t.Errorf("dc %d, size %d, type %q; want %d, %d, data", r.dc, r.sizeMB, r.typ, tt.dc, tt.size)
			}
		})
	}
}

// What vm.update asks is checked first without the VM, then against it.
func TestVMUpdate(t *testing.T) {
	vm := store.VM{Memory: 512, MaxMemory: 2048, Cores: 1}
	tests := []struct {
		name    string
		req     VMUpdate
		err     string
		params  map[string]string
		secrets bool
	}{
		{name: "nothing", err: "update_spec: nothing to change"},
		{name: "memory", req: VMUpdate{Memory: refTo[int64](1024)}, params: map[string]string{"memory": "1024"}},
		{name: "console off", req: VMUpdate{Console: refTo(false)}, params: map[string]string{"console": "0"}},
		{name: "empty ssh key", req: VMUpdate{SSHKey: refTo("")}, err: "update_spec: nothing to change"},
		{name: "ssh key", req: VMUpdate{SSHKey: refTo("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJemSO4cJYnMqTYNq8aP104yPPUl0HGk3+1VQ69OpS5 test@x")},
			params: map[string]string{"ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJemSO4cJYnMqTYNq8aP104yPPUl0HGk3+1VQ69OpS5 test@x", "effective": "next_boot"}},
		{name: "bad ssh key", req: VMUpdate{SSHKey: refTo("nope")}, err: "ssh_key: must be one OpenSSH public key line"},
		{name: "no password", req: VMUpdate{Password: refTo("")}, params: map[string]string{"effective": "next_boot"}, secrets: true},
		{name: "short password", req: VMUpdate{Password: refTo("short")}, err: "password: must be 8 to 128 characters"},
		{name: "over max", req: VMUpdate{Memory: refTo[int64](4096)}, err: "memory: 4096 MB exceeds vm_max_memory (2048 MB)"},
		{name: "with max", req: VMUpdate{Memory: refTo[int64](4096), MaxMemory: refTo[int64](4096)},
			params: map[string]string{"memory": "4096", "vm_max_memory": "4096"}},
		{name: "max not a multiple", req: VMUpdate{MaxMemory: refTo[int64](3000)}, err: "vm_max_memory: must be a multiple of 64 (MB)"},
		{name: "cores 0", req: VMUpdate{Cores: refTo[int64](0)}, err: "cores: must be between 1 and 16"},
	}
	s := testVMService()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, secrets, err := vmUpdateParams(tt.req)
			if err == nil {
				err = s.checkVMUpdate(vm, tt.req)
			}
			wantVMErr(t, err, tt.err)
			if err != nil {
				return
			}
			if len(params) != len(tt.params) || (secrets != nil) != tt.secrets {
				t.Fatalf("params %v, secrets %v; want %v, secrets %v", params, secrets, tt.params, tt.secrets)
			}
			for k, v := range tt.params {
				if params[k] != v {
					t.Errorf("params[%s] = %q, want %q", k, params[k], v)
				}
			}
		})
	}
}

func TestVMFilterCheck(t *testing.T) {
	for state, want := range map[string]string{"": "", "running": "", "being_created": "", "up": "state: must be one of"} {
		wantVMErr(t, VMFilter{State: state}.check(), want)
	}
}

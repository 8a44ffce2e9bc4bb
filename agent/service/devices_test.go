package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/store"
)

// An absent position or access takes the seed's default (after the other
// disks, read/write); an explicit one is checked, even when it is the
// value "absent" stands for.
func TestAttachDiskPositionAndAccess(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	str := func(s string) *string { return &s }
	tests := []struct {
		name       string
		pos        *int64
		access     *string
		wantPos    string
		wantAccess string
		wantKind   Kind
		wantErrMsg string
	}{
		{name: "defaults", wantPos: "-1", wantAccess: "read/write"},
		{name: "system disk of a halted vm", pos: i64(0), wantPos: "0", wantAccess: "read/write"},
		{name: "second, read only", pos: i64(1), access: str("read"), wantPos: "1", wantAccess: "read"},
		{name: "explicit -1", pos: i64(-1), wantKind: KindInvalid, wantErrMsg: "position: must be 0 or more"},
		{name: "explicit empty access", access: str(""), wantKind: KindInvalid, wantErrMsg: "access: must be read or read/write"},
		{name: "unknown access", access: str("rw"), wantKind: KindInvalid, wantErrMsg: "access: must be read or read/write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := bareService(t)
			if err := s.st.Update(func(tx *store.Tx) error {
				tx.PutVM(store.VM{ID: 1, AccountID: 1, DatacenterID: 1, State: store.VMHalted})
				tx.PutDisk(store.Disk{ID: 2, AccountID: 1, DatacenterID: 1, State: store.DiskCreated, Type: store.DiskTypeData})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			op, err := s.AttachDisk(context.Background(), &Caller{AccountID: 1}, DiskAttach{VMID: 1, DiskID: 2, Position: tt.pos, Access: tt.access})
			if tt.wantErrMsg != "" {
				var e *Error
				if !errors.As(err, &e) || e.Kind != tt.wantKind || e.Object != ObjVM || e.Msg != tt.wantErrMsg {
					t.Fatalf("err = %v, want vm: %v: %s", err, tt.wantKind, tt.wantErrMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if op.Type != "disk_attach" || op.Params["position"] != tt.wantPos || op.Params["access"] != tt.wantAccess {
				t.Errorf("operation %s with params %v, want disk_attach with position %s, access %s", op.Type, op.Params, tt.wantPos, tt.wantAccess)
			}
		})
	}
}

// An iface goes first (First) only on a halted VM, new or free; its
// attach says position 0. A running VM's refusal names the field.
func TestIfaceFirst(t *testing.T) {
	for _, state := range []string{store.VMHalted, store.VMRunning} {
		for _, existing := range []bool{false, true} {
			t.Run(state+map[bool]string{false: " new", true: " free"}[existing], func(t *testing.T) {
				s := bareService(t)
				v4, _ := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
				s.cfg.Network.V4, s.cfg.Limits.MaxBandwidth = &v4, 1e10
				if err := s.st.Update(func(tx *store.Tx) error {
					tx.PutVM(store.VM{ID: 1, AccountID: 1, DatacenterID: 1, State: state})
					tx.PutIface(store.Iface{ID: 2, AccountID: 1, DatacenterID: 1, State: store.IfaceFree})
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				c := &Caller{AccountID: 1}
				var op Operation
				var err error
				if existing {
					op, err = s.AttachIface(context.Background(), c, IfaceAttach{VMID: 1, IfaceID: 2, First: true})
				} else {
					var ops []Operation
					if ops, err = s.AddIface(context.Background(), c, 1, NewIface{First: true}); err == nil {
						op = ops[len(ops)-1]
					}
				}
				if state == store.VMRunning {
					var e *Error
					if !errors.As(err, &e) || e.Kind != KindConflict || !strings.HasPrefix(e.Msg, "primary: vm 1 is running") {
						t.Fatalf("err = %v, want a conflict naming primary", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if op.Type != "iface_attach" || op.Params["position"] != "0" {
					t.Errorf("operation %s with params %v, want iface_attach at position 0", op.Type, op.Params)
				}
			})
		}
	}
}

// Sole refuses a VM that has an iface (Error.HasIface), for a new iface
// and a free one alike, and lets one without through.
func TestIfaceSole(t *testing.T) {
	for _, has := range []bool{false, true} {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("has %v, free %v", has, existing), func(t *testing.T) {
				s := bareService(t)
				v4, _ := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
				s.cfg.Network.V4, s.cfg.Limits.MaxBandwidth = &v4, 1e10
				vm := store.VM{ID: 1, AccountID: 1, DatacenterID: 1, State: store.VMHalted}
				if has {
					vm.IfaceIDs = []int64{3}
				}
				if err := s.st.Update(func(tx *store.Tx) error {
					tx.PutVM(vm)
					tx.PutIface(store.Iface{ID: 2, AccountID: 1, DatacenterID: 1, State: store.IfaceFree})
					if has {
						tx.PutIface(store.Iface{ID: 3, AccountID: 1, DatacenterID: 1, VMID: 1, State: store.IfaceUsed})
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				c := &Caller{AccountID: 1}
				var err error
				if existing {
					_, err = s.AttachIface(context.Background(), c, IfaceAttach{VMID: 1, IfaceID: 2, Sole: true})
				} else {
					_, err = s.AddIface(context.Background(), c, 1, NewIface{Sole: true})
				}
				var e *Error
				switch {
				case !has && err != nil:
					t.Fatal(err)
				case has && (!errors.As(err, &e) || e.Kind != KindConflict || !e.HasIface):
					t.Fatalf("err = %v, want a conflict with HasIface", err)
				}
			})
		}
	}
}

package service

import (
	"context"
	"errors"
	"testing"

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

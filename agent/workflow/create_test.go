package workflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/store"
)

// vm.create_from is disk_create (clone the image) then vm_create. When
// the domain cannot be defined or started, vm_create rolls back: no
// domain is left, the volume its call made is deleted (the image stays),
// and the VM and disk records go. A define whose answer was lost (it did
// define) is undone too.
func TestCreateRollsBack(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		method string
		fault  hostfake.Fault
		failed bool
	}{
		{"no fault: running and wired", "", hostfake.Fault{}, false},
		{"define refused", "Define", hostfake.Fault{Err: boom}, true},
		{"define's answer lost", "Define", hostfake.Fault{Err: boom, After: true}, true},
		{"start refused", "Start", hostfake.Fault{Err: boom}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBench(t, longTimeouts)
			b.records(store.VMBeingCreated, store.DiskBeingCreated)
			if tt.method != "" {
				b.hv.Fail(tt.method, tt.fault)
			}
			ops := b.run(
				store.Operation{Type: "disk_create", DiskID: sysDisk, Keys: []string{DiskKey(sysDisk)}},
				store.Operation{Type: "vm_create", VMID: vmID, Keys: []string{VMKey(vmID), DiskKey(sysDisk), IfaceKey(ifaceID)}},
			)
			if ops[0].Step != store.StepDone {
				t.Fatalf("disk_create ended %s: %s", ops[0].Step, ops[0].LastError)
			}
			if !tt.failed {
				checkCreated(t, b, ops[0].ID)
				return
			}
			if ops[1].Step != store.StepError || !strings.Contains(ops[1].LastError, "boom") {
				t.Fatalf("vm_create ended %s: %q", ops[1].Step, ops[1].LastError)
			}
			if _, ok := b.hv.Domain(DomainName(vmID)); ok {
				t.Error("the domain is left")
			}
			if ok, _ := b.vols.Exists(b.ctx, VolumeName(sysDisk)); ok {
				t.Error("the volume the call made is left")
			}
			if ok, _ := b.vols.Exists(b.ctx, VolumeName(imageDisk)); !ok {
				t.Error("the image went with it")
			}
			if _, ok := b.vm(); ok {
				t.Error("the VM record is left")
			}
			b.st.View(func(tx *store.Tx) {
				if tx.HasDisk(sysDisk) {
					t.Error("the disk record is left")
				}
				if i, _ := tx.Iface(ifaceID); i.VMID != 0 || i.State != store.IfaceFree {
					t.Errorf("the iface it was given: %+v", i)
				}
			})
		})
	}
}

func checkCreated(t *testing.T, b *bench, diskOp int64) {
	t.Helper()
	v, _ := b.vm()
	info, ok := b.vols.Volume(VolumeName(sysDisk))
	if v.State != store.VMRunning || !b.state().Running || !ok || info.Mark != b.wf.ownMark(diskOp) || info.SizeMB != 128 {
		t.Fatalf("vm %s, domain %+v, volume %+v", v.State, b.state(), info)
	}
	if data, _ := b.vols.ReadAt(VolumeName(sysDisk), 0, 6); string(data) != "debian" {
		t.Fatalf("the volume holds %q, not the image's data", data)
	}
	if w := b.net.Wired(ifaceID); w.Filter == nil || w.Shaping == nil {
		t.Fatalf("not wired: %+v", w)
	}
}

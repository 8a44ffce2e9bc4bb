package workflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// The CD-ROM operations on a running VM: each records the change, defines
// the domain with it and leaves a fresh start pending; a definition the
// hypervisor refuses fails the operation and puts the record back (the
// record step's Undo).
func TestISOOperations(t *testing.T) {
	const isoID = int64(5)
	boom := errors.New("boom")
	type vmCD struct {
		iso  int64
		boot string
	}
	tests := []struct {
		name   string
		typ    string
		in     ISOChange
		before vmCD
		after  vmCD
		fail   bool
	}{
		{"attach", OpISOAttach, ISOChange{ISOID: isoID}, vmCD{}, vmCD{iso: isoID}, false},
		{"attach, define refused", OpISOAttach, ISOChange{ISOID: isoID}, vmCD{}, vmCD{}, true},
		{"boot from the CD", OpBootType, ISOChange{BootType: store.BootCDROM}, vmCD{iso: isoID}, vmCD{iso: isoID, boot: store.BootCDROM}, false},
		{"boot from the CD, define refused", OpBootType, ISOChange{BootType: store.BootCDROM}, vmCD{iso: isoID}, vmCD{iso: isoID}, true},
		{"boot from the disk", OpBootType, ISOChange{}, vmCD{iso: isoID, boot: store.BootCDROM}, vmCD{iso: isoID}, false},
		{"detach", OpISODetach, ISOChange{}, vmCD{iso: isoID, boot: store.BootCDROM}, vmCD{}, false},
		{"detach, define refused", OpISODetach, ISOChange{}, vmCD{iso: isoID, boot: store.BootCDROM}, vmCD{iso: isoID, boot: store.BootCDROM}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBench(t, longTimeouts)
			b.runningVM()
			b.st.Update(func(tx *store.Tx) error {
				tx.PutISO(store.ISO{ID: isoID, Label: "rescue", Path: "/srv/isos/rescue.iso", SizeMB: 1})
				v, _ := tx.VM(vmID)
				v.ISOID, v.BootType = tt.before.iso, tt.before.boot
				tx.PutVM(v)
				return nil
			})
			if tt.fail {
				b.hv.Fail("Define", hostfake.Fault{Err: boom})
			}
			op := vmOp(tt.typ)
			in, err := ops.Encode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			op.Input = in
			got := b.run(op)[0]
			v, _ := b.vm()
			if (vmCD{v.ISOID, v.BootType}) != tt.after {
				t.Errorf("vm iso %d boot %q, want %+v", v.ISOID, v.BootType, tt.after)
			}
			if tt.fail {
				if got.Step != store.StepError || !strings.Contains(got.LastError, "boom") {
					t.Fatalf("ended %s: %q, want ERROR saying boom", got.Step, got.LastError)
				}
				return
			}
			if got.Step != store.StepDone {
				t.Fatalf("ended %s: %s", got.Step, got.LastError)
			}
			if !v.RestartPending {
				t.Error("a running VM's CD-ROM changed without a fresh start pending")
			}
			d, _ := b.hv.Domain(DomainName(vmID))
			wantPath := map[bool]string{true: "/srv/isos/rescue.iso", false: ""}[tt.after.iso != 0]
			if d.Spec.CDROM != wantPath || d.Spec.BootCDROM != (tt.after.boot == store.BootCDROM) {
				t.Errorf("defined with CD-ROM %q boot from it %v, want %q %v", d.Spec.CDROM, d.Spec.BootCDROM, wantPath, tt.after.boot == store.BootCDROM)
			}
			if !d.State.Running {
				t.Error("the running domain stopped")
			}
		})
	}
}

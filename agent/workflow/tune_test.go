package workflow

import (
	"encoding/json"
	"testing"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/store"
)

// lostAnswer is a failure worth retrying (ops.Transient), as a libvirt
// connection lost after the call acted.
type lostAnswer struct{}

func (lostAnswer) Error() string   { return "connection lost" }
func (lostAnswer) Transient() bool { return true }

func vmUpdateOp(t *testing.T, in VMUpdate) store.Operation {
	t.Helper()
	op := vmOp("vm_update")
	var err error
	if op.Input, err = json.Marshal(in); err != nil {
		t.Fatal(err)
	}
	return op
}

// vm_update's cpu_shares goes into the definition and, on a running VM,
// live where the hypervisor allows; where it does not, the VM's next
// reboot is a fresh start that applies it. The texts are kept. A step
// re-run after a lost answer ends the same.
func TestVMUpdateCPUShares(t *testing.T) {
	shares, label, note := int64(700), "Web 1", "ticket 42"
	tests := []struct {
		name     string
		running  bool
		opts     []hostfake.HypervisorOption
		lost     bool // SetCPUShares acts, then its answer is lost once
		live     int64
		restart  bool
		setCalls int
	}{
		{"running: live", true, nil, false, 700, false, 1},
		{"running: live, answer lost and step re-run", true, nil, true, 700, false, 2},
		{"running, no live change: at the next start", true, []hostfake.HypervisorOption{hostfake.WithoutLiveCPUShares()}, false, 0, true, 1},
		{"halted: the definition only", false, nil, false, 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBench(t, longTimeouts, tt.opts...)
			b.runningVM()
			if !tt.running {
				b.run(vmOp("vm_stop"))
				b.hv.Clear()
			}
			if tt.lost {
				b.hv.Fail("SetCPUShares", hostfake.Fault{Err: lostAnswer{}, After: true, Times: 1})
			}
			op := b.run(vmUpdateOp(t, VMUpdate{CPUShares: &shares, Label: &label, Note: &note}))[0]
			if op.Step != store.StepDone {
				t.Fatalf("vm_update ended %s: %s", op.Step, op.LastError)
			}
			d, _ := b.hv.Domain(DomainName(vmID))
			if d.Spec.CPUShares != shares || d.CPUShares != tt.live {
				t.Errorf("definition's cpu shares %d, live %d; want %d, %d", d.Spec.CPUShares, d.CPUShares, shares, tt.live)
			}
			if n := b.hv.Count("SetCPUShares"); n != tt.setCalls {
				t.Errorf("%d SetCPUShares calls, want %d", n, tt.setCalls)
			}
			v, _ := b.vm()
			if v.CPUShares != shares || v.Label != label || v.Note != note || v.RestartPending != tt.restart {
				t.Errorf("record: cpu_shares %d, label %q, note %q, restart pending %v; want %d, %q, %q, %v",
					v.CPUShares, v.Label, v.Note, v.RestartPending, shares, label, note, tt.restart)
			}
			if tt.restart {
				// The reboot that applies it is a stop and a start.
				if op := b.run(vmOp("vm_reboot"))[0]; op.Step != store.StepDone {
					t.Fatalf("vm_reboot ended %s: %s", op.Step, op.LastError)
				}
				if d, _ := b.hv.Domain(DomainName(vmID)); d.CPUShares != shares {
					t.Errorf("after the reboot: live cpu shares %d, want %d", d.CPUShares, shares)
				}
			}
		})
	}
}

// iface_update to unlimited (0) rewires the running VM's device without
// shaping, its filter kept; a rate shapes it again; a stop and a start
// of an unlimited VM leave it unshaped.
func TestIfaceUpdateUnlimited(t *testing.T) {
	b := newBench(t, longTimeouts)
	b.runningVM()
	update := func(bw float64) {
		t.Helper()
		op := store.Operation{Type: "iface_update", IfaceID: ifaceID, VMID: vmID, Keys: []string{IfaceKey(ifaceID)}}
		op.Input, _ = json.Marshal(IfaceUpdate{Bandwidth: bw})
		if op := b.run(op)[0]; op.Step != store.StepDone {
			t.Fatalf("iface_update to %v ended %s: %s", bw, op.Step, op.LastError)
		}
	}
	unshaped := func(what string) {
		t.Helper()
		if w := b.net.Wired(ifaceID); w.Filter == nil || w.Shaping != nil {
			t.Fatalf("%s: filter %+v, shaping %+v; want filtered, not shaped", what, w.Filter, w.Shaping)
		}
	}
	update(0)
	unshaped("unlimited")
	update(2e6)
	if w := b.net.Wired(ifaceID); w.Shaping == nil || w.Shaping.ToVM != 2e6 || w.Shaping.FromVM != 2e6 {
		t.Fatalf("limited again: shaping %+v", w.Shaping)
	}
	update(0)
	for _, typ := range []string{"vm_stop", "vm_start"} {
		if op := b.run(vmOp(typ))[0]; op.Step != store.StepDone {
			t.Fatalf("%s ended %s: %s", typ, op.Step, op.LastError)
		}
	}
	unshaped("unlimited after a stop and a start")
}

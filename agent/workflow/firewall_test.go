package workflow

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// crashable is an engine of the bench's host and store that dies (its
// goroutine ends, nothing more is journalled) at boundary crashAt of an
// iface_firewall operation, as a killed agent would.
func (b *bench) crashable(crashAt string) (eng *ops.Engine, died chan struct{}, stop func()) {
	died = make(chan struct{})
	hook := func(o store.Operation, boundary string) {
		if o.Type == "iface_firewall" && boundary == crashAt {
			close(died)
			runtime.Goexit()
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng = ops.New(b.st, log, ops.Config{RetryFor: time.Second, OnBoundary: hook})
	v4, _ := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	New(Config{DatacenterID: 1, Timeouts: longTimeouts, Seeds: b.seeds, Network: Network{Bridge: "xabr0", V4: &v4, Wiring: b.net}},
		b.st, eng, b.hv, b.vols, log)
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	return eng, died, func() { cancel(); eng.Wait() }
}

func firewallOp(t *testing.T, fw *store.Firewall) store.Operation {
	in, err := ops.Encode(IfaceFirewall{Firewall: fw})
	if err != nil {
		t.Fatal(err)
	}
	return store.Operation{Type: "iface_firewall", IfaceID: ifaceID, VMID: vmID, Keys: []string{IfaceKey(ifaceID)}, Input: in}
}

func sshFrom(port int) *store.Firewall {
	return &store.Firewall{Policy: store.FirewallDrop, Rules: []store.FirewallRule{
		{Protocol: "tcp", PortMin: port, PortMax: port, Source: "192.0.2.0/24", Action: store.FirewallAccept}}}
}

// wiredFirewall is the firewall in place for the bench's iface, and the
// device it is on.
func (b *bench) wiredFirewall() (*host.Firewall, string) {
	f := b.net.Wired(ifaceID).Filter
	if f == nil {
		b.t.Fatal("the iface has no filter")
	}
	return f.Firewall, f.Dev
}

func (b *bench) recordedFirewall() *store.Firewall {
	var i store.Iface
	b.st.View(func(tx *store.Tx) { i, _ = tx.Iface(ifaceID) })
	return i.Firewall
}

// An agent killed at every boundary of iface_firewall, started again,
// ends the operation with the rules recorded and in place on the
// running VM's device.
func TestFirewallCrashAtEveryBoundary(t *testing.T) {
	b := newBench(t, longTimeouts)
	b.runningVM()
	for n, at := range []string{"begin:record", "done:record", "begin:apply", "done:apply"} {
		port := 1000 + n
		dead, died, stop := b.crashable(at)
		var id int64
		b.st.Update(func(tx *store.Tx) error {
			o := firewallOp(t, sshFrom(port))
			o.ID = tx.NextID("operation", tx.HasOperation)
			o.AccountID, o.Step, o.DateCreated, o.DateUpdated = 1, store.StepWait, now(), now()
			dead.Create(tx, o)
			id = o.ID
			return nil
		})
		dead.Enqueue(id)
		select {
		case <-died:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the agent never reached the boundary", at)
		}
		stop()
		// The next agent resumes it.
		next, _, stopNext := b.crashable("")
		select {
		case <-next.Done(id):
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: operation %d not resumed to its end", at, id)
		}
		stopNext()
		var o store.Operation
		b.st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
		if o.Step != store.StepDone {
			t.Fatalf("%s: operation ended %s (%s)", at, o.Step, o.LastError)
		}
		if fw := b.recordedFirewall(); fw == nil || fw.Rules[0].PortMin != port {
			t.Errorf("%s: recorded %+v, want the rule of port %d", at, fw, port)
		}
		fw, dev := b.wiredFirewall()
		if fw == nil || !fw.DropByDefault || len(fw.Rules) != 1 || fw.Rules[0].PortMin != uint16(port) || fw.Rules[0].Source.String() != "192.0.2.0/24" {
			t.Errorf("%s: in place on %s: %+v, want the rule of port %d", at, dev, fw, port)
		}
	}
}

// The rules stay with the iface: a stop keeps them with its filter, the
// next start's new device (Xen names it anew) gets them, and setting
// none takes them away.
func TestFirewallFollowsTheIface(t *testing.T) {
	b := newBench(t, longTimeouts)
	b.runningVM()
	if o := b.run(firewallOp(t, sshFrom(22)))[0]; o.Step != store.StepDone {
		t.Fatalf("iface_firewall ended %s: %s", o.Step, o.LastError)
	}
	_, before := b.wiredFirewall()
	for _, typ := range []string{"vm_stop", "vm_start"} {
		if o := b.run(vmOp(typ))[0]; o.Step != store.StepDone {
			t.Fatalf("%s ended %s: %s", typ, o.Step, o.LastError)
		}
		fw, dev := b.wiredFirewall()
		if fw == nil || len(fw.Rules) != 1 || fw.Rules[0].PortMin != 22 {
			t.Errorf("after %s: firewall %+v on %s", typ, fw, dev)
		}
	}
	if _, after := b.wiredFirewall(); after == before || !slices.Contains(b.net.Devices(), after) {
		t.Errorf("device %s before the restart, %s after (devices %v): want a new one", before, after, b.net.Devices())
	}
	if o := b.run(firewallOp(t, nil))[0]; o.Step != store.StepDone {
		t.Fatalf("removing the firewall ended %s: %s", o.Step, o.LastError)
	}
	if fw, _ := b.wiredFirewall(); fw != nil || b.recordedFirewall() != nil {
		t.Errorf("after removal: in place %+v, recorded %+v", fw, b.recordedFirewall())
	}
	// One that cannot be wired fails before it is recorded.
	bad := &store.Firewall{Policy: "reject"}
	if o := b.run(firewallOp(t, bad))[0]; o.Step == store.StepDone || b.recordedFirewall() != nil {
		t.Errorf("a bad firewall ended %s and recorded %+v", o.Step, b.recordedFirewall())
	}
}

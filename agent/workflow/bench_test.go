package workflow

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// bench is the workflows on the host fakes: a real store in a temp dir
// and the real engine, so a step's journal, rollback and abandon run as
// in the agent, with a host that does what the test says. Operations are
// submitted straight into the store, as the service would.
type bench struct {
	t    *testing.T
	ctx  context.Context
	st   *store.Store
	eng  *ops.Engine
	wf   *Workflows
	hv   *hostfake.Hypervisor
	vols *hostfake.Volumes
	net  *hostfake.Wiring
	// seeds stay untouched unless a VM has something to provision.
	seeds *hostfake.Seeds
	// log, timeouts, cancel and onBoundary let a test crash the engine
	// and start another on the same store and host (force_test.go).
	log        *slog.Logger
	timeouts   Timeouts
	cancel     context.CancelFunc
	onBoundary func(op store.Operation, boundary string)
}

// The timeouts of a graceful stop (two messages, then power off) and a
// reboot (then reset). Short ones make the hard paths take milliseconds;
// long ones make sure the graceful paths never reach them, however
// loaded the machine (a journal write's fsync counts against them).
var (
	shortTimeouts = Timeouts{Stop: 80 * time.Millisecond, StopMessages: 2, Reboot: 50 * time.Millisecond}
	longTimeouts  = Timeouts{Stop: time.Minute, StopMessages: 2, Reboot: time.Minute}
)

func newBench(t *testing.T, timeouts Timeouts, opts ...hostfake.HypervisorOption) *bench {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, st: st, net: hostfake.NewWiring(), vols: hostfake.NewVolumes(), seeds: hostfake.NewSeeds()}
	b.hv = hostfake.NewHypervisor(append([]hostfake.HypervisorOption{hostfake.WithLinks(b.net)}, opts...)...)
	b.log, b.timeouts = log, timeouts
	b.startEngine()
	t.Cleanup(func() {
		b.cancel()
		b.eng.Wait()
		if err := st.Check(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return b
}

// startEngine starts an engine and the workflows over the bench's store
// and host, as an agent (re)starting does.
func (b *bench) startEngine() {
	v4, err := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	if err != nil {
		b.t.Fatal(err)
	}
	b.eng = ops.New(b.st, b.log, ops.Config{RetryFor: time.Second, OnBoundary: func(op store.Operation, boundary string) {
		if b.onBoundary != nil {
			b.onBoundary(op, boundary)
		}
	}})
	b.wf = New(Config{DatacenterID: 1, Timeouts: b.timeouts, Seeds: b.seeds,
		Network: Network{Bridge: "xabr0", V4: &v4, Wiring: b.net}}, b.st, b.eng, b.hv, b.vols, b.log)
	ctx, cancel := context.WithCancel(context.Background())
	b.ctx, b.cancel = ctx, cancel
	b.eng.Start(ctx)
}

// The records of the bench's VM: its system disk cloned from an image,
// one iface with one address.
const (
	imageDisk = int64(1)
	sysDisk   = int64(2)
	ifaceID   = int64(3)
	ipID      = int64(4)
	vmID      = int64(10)
)

// records puts the image (record and volume), the VM in state, its disk,
// iface and address.
func (b *bench) records(state, diskState string) {
	b.t.Helper()
	b.vols.Put(VolumeName(imageDisk), 64, b.wf.ownMark(0))
	b.vols.WriteAt(VolumeName(imageDisk), 0, []byte("debian"))
	err := b.st.Update(func(tx *store.Tx) error {
		tx.PutDisk(store.Disk{ID: imageDisk, AccountID: 1, DatacenterID: 1, Name: "debian", SizeMB: 64, State: store.DiskCreated,
			Type: store.DiskTypeImage, Volume: VolumeName(imageDisk), Cmdline: "root=/dev/xvda ro"})
		tx.PutDisk(store.Disk{ID: sysDisk, AccountID: 1, DatacenterID: 1, Name: "sys", SizeMB: 128, State: diskState,
			Type: store.DiskTypeData, Source: imageDisk, VMID: vmID, Volume: VolumeName(sysDisk)})
		tx.PutIP(store.IP{ID: ipID, AccountID: 1, DatacenterID: 1, IfaceID: ifaceID, Addr: "10.0.0.10", Version: 4, State: "used"})
		tx.PutIface(store.Iface{ID: ifaceID, AccountID: 1, DatacenterID: 1, Bandwidth: 102400, VMID: vmID, IPIDs: []int64{ipID},
			State: store.IfaceUsed, Type: "public", MAC: MAC(ifaceID)})
		tx.PutVM(store.VM{ID: vmID, AccountID: 1, DatacenterID: 1, Hostname: "vm10", Memory: 256, MaxMemory: 512, Cores: 1,
			State: state, DiskIDs: []int64{sysDisk}, IfaceIDs: []int64{ifaceID}, Domain: DomainName(vmID)})
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

// runningVM is the bench's VM as a finished vm.create_from leaves it:
// its volume cloned, its domain defined, running and wired.
func (b *bench) runningVM() {
	b.t.Helper()
	b.records(store.VMRunning, store.DiskCreated)
	if err := b.vols.Clone(b.ctx, VolumeName(imageDisk), VolumeName(sysDisk), 128, b.wf.ownMark(1)); err != nil {
		b.t.Fatal(err)
	}
	spec, err := b.wf.DomainSpec(vmID)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return b.hv.Define(b.ctx, spec) },
		func() error { return b.hv.Start(b.ctx, spec.Name) },
		func() error { _, err := b.wf.WireVM(b.ctx, vmID); return err },
	} {
		if err := step(); err != nil {
			b.t.Fatal(err)
		}
	}
	b.hv.Clear() // what the setup called is not the test's
}

// run submits operations as one call would, each following those before
// it (as vm_create follows its disk_create), waits for the last, and
// returns them as they ended.
func (b *bench) run(ops ...store.Operation) []store.Operation {
	b.t.Helper()
	var ids []int64
	err := b.st.Update(func(tx *store.Tx) error {
		for _, o := range ops {
			o.ID = tx.NextID("operation", tx.HasOperation)
			o.AccountID, o.Step, o.DateCreated, o.DateUpdated = 1, store.StepWait, now(), now()
			o.After = append([]int64(nil), ids...)
			b.eng.Create(tx, o)
			ids = append(ids, o.ID)
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.eng.Enqueue(ids...)
	select {
	case <-b.eng.Done(ids[len(ids)-1]):
	case <-time.After(10 * time.Second):
		b.t.Fatalf("operations %v still running", ids)
	}
	out := make([]store.Operation, len(ids))
	b.st.View(func(tx *store.Tx) {
		for i, id := range ids {
			out[i], _ = tx.Operation(id)
		}
	})
	return out
}

// vmOp is an operation on the bench's VM.
func vmOp(typ string) store.Operation {
	return store.Operation{Type: typ, VMID: vmID, Keys: []string{VMKey(vmID)}}
}

func (b *bench) vm() (store.VM, bool) {
	var v store.VM
	var ok bool
	b.st.View(func(tx *store.Tx) { v, ok = tx.VM(vmID) })
	return v, ok
}

func (b *bench) state() host.State {
	st, err := b.hv.State(b.ctx, DomainName(vmID))
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

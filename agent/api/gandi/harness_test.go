package gandi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// agent is a whole service on real parts: a bbolt file, the engine, a
// private libvirt test driver and the file backend, in a temp dir.
type agent struct {
	t     *testing.T
	dir   string
	st    *store.Store
	eng   *ops.Engine
	hv    *hypervisor.Driver
	vols  *file.Backend
	svc   *service.Service
	log   *slog.Logger
	api   *Face
	wf    *workflow.Workflows
	rec   *reconcile.Reconciler
	alice *service.Caller
	bob   *service.Caller
	op    *service.Caller
	image int64 // disk id of the registered image
	stop  context.CancelFunc
	hook  *boundaryHook
}

// boundaryHook lets a test watch the engine's journal boundaries.
type boundaryHook struct {
	mu sync.Mutex
	fn func(op store.Operation, boundary string)
}

func (h *boundaryHook) set(fn func(op store.Operation, boundary string)) {
	h.mu.Lock()
	h.fn = fn
	h.mu.Unlock()
}

func (h *boundaryHook) call(op store.Operation, boundary string) {
	h.mu.Lock()
	fn := h.fn
	h.mu.Unlock()
	if fn != nil {
		fn(op, boundary)
	}
}

// agentConfig is the service's, the workflows' and the reconciler's
// configuration, as cmd/xenagent makes them.
type agentConfig struct {
	service.Config
	Timeouts      workflow.Timeouts
	SeedDir       string
	QuarantineFor time.Duration
}

type agentOpt func(*agentConfig)

func newAgent(t *testing.T, start bool, opts ...agentOpt) *agent {
	t.Helper()
	dir := t.TempDir()
	nodeXML := filepath.Join(dir, "node.xml")
	os.WriteFile(nodeXML, []byte("<node/>"), 0o644)
	return openAgent(t, dir, hypervisor.Config{URI: "test://" + nodeXML}, start, opts...)
}

func openAgent(t *testing.T, dir string, hvCfg hypervisor.Config, start bool, opts ...agentOpt) *agent {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if logTo != nil {
		log = slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	hvCfg.CommandTimeout = 60 * time.Second
	hv, err := hypervisor.Open(context.Background(), hvCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	vols, err := file.New(filepath.Join(dir, "disks"), log)
	if err != nil {
		t.Fatal(err)
	}
	v4, _ := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	v6, _ := ipam.Parse("fd00::/64", "fd00::1", "", "")
	cfg := agentConfig{Config: service.Config{
		Version:    "test",
		Datacenter: service.Datacenter{ID: 1, Name: "Test", Country: "France", ISO: "FR", Code: "FR-T1"},
		Limits:     service.Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxDiskMB: 1 << 20, MaxBandwidth: 1e10, DefaultQuotaMB: 100000, AllowUnlimited: true},
		Network:    workflow.Network{Bridge: "xabr0", V4: &v4, V6: &v6, ReverseDomain: "example.net"},
		SnapshotProfiles: append([]service.SnapshotProfile{{ID: 9, Name: "test", Every: time.Hour, KeptTotal: 2, QuotaFactor: 150}},
			service.DefaultSnapshotProfiles...),
	},
		Timeouts: workflow.Timeouts{Stop: 2 * time.Second, StopMessages: 2, Reboot: 2 * time.Second},
		SeedDir:  filepath.Join(dir, "seeds"),
	}
	for _, o := range opts {
		o(&cfg)
	}
	hook := &boundaryHook{}
	eng := ops.New(st, log, ops.Config{RetryFor: 5 * time.Second, OnBoundary: hook.call})
	var seeds host.Seeds // none when a test empties SeedDir
	if cfg.SeedDir != "" {
		seeds = nocloud.New(cfg.SeedDir)
	}
	wf := workflow.New(workflow.Config{DatacenterID: cfg.Datacenter.ID, Timeouts: cfg.Timeouts, Network: cfg.Network,
		KernelsDir: cfg.KernelsDir, Seeds: seeds}, st, eng, hv, vols, log)
	rec := reconcile.New(reconcile.Config{Network: cfg.Network, QuarantineFor: cfg.QuarantineFor}, st, eng, hv, vols, wf, log)
	svc := service.New(cfg.Config, st, eng, wf, log)
	a := &agent{t: t, dir: dir, st: st, eng: eng, hv: hv, vols: vols, svc: svc, api: NewFace(svc), log: log, wf: wf, rec: rec, hook: hook}
	aliceID, _ := svc.EnsureAccount("ALICE-GANDI", "Alice", service.HashKey("alice-key-0123456789abcd"), 0)
	bobID, _ := svc.EnsureAccount("BOB-GANDI", "Bob", service.HashKey("bob-key-0123456789abcdef"), 0)
	a.alice, a.bob = &service.Caller{AccountID: aliceID, Handle: "ALICE-GANDI"}, &service.Caller{AccountID: bobID, Handle: "BOB-GANDI"}
	a.op = &service.Caller{Operator: true, Handle: "OPERATOR"}
	if err := wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "Debian 12", OSArch: "x86-64", SizeMB: 64, Cmdline: "root=/dev/xvda ro"}); err != nil {
		t.Fatal(err)
	}
	st.View(func(tx *store.Tx) {
		tx.EachImage(func(i *store.Image) bool { a.image = i.DiskID; return false })
	})
	if err := rec.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	if start {
		a.start(ctx)
	}
	t.Cleanup(a.close)
	return a
}

// reopen restarts the agent on the same state file and volumes. The test
// driver keeps domains per connection, so only tests without domains use it.
func (a *agent) reopen(start bool) *agent {
	a.t.Helper()
	a.close()
	return openAgent(a.t, a.dir, hypervisor.Config{URI: "test://" + filepath.Join(a.dir, "node.xml")}, start)
}

func (a *agent) start(ctx context.Context) {
	a.eng.Start(ctx)
	go a.rec.WatchDomains(ctx)
}

func (a *agent) close() {
	if a.st == nil {
		return
	}
	a.stop()
	a.eng.Wait()
	if err := a.st.Check(); err != nil {
		a.t.Error(err)
	}
	a.st.Close()
	a.hv.Close()
	a.st = nil
}

// call invokes a method; a fault is returned as *Fault.
func (a *agent) call(c *service.Caller, method string, params ...any) (any, *Fault) {
	a.t.Helper()
	v, err := a.api.Call(context.Background(), c, method, params)
	if err != nil {
		var f *Fault
		if !errors.As(err, &f) {
			a.t.Fatalf("%s: non-fault error %v", method, err)
		}
		return nil, f
	}
	return v, nil
}

func (a *agent) mustCall(c *service.Caller, method string, params ...any) any {
	a.t.Helper()
	v, f := a.call(c, method, params...)
	if f != nil {
		a.t.Fatalf("%s: %v", method, f)
	}
	return v
}

// wait polls operation.info like a client until the ops finish.
func (a *agent) wait(c *service.Caller, opsAny any) []map[string]any {
	a.t.Helper()
	var list []any
	switch x := opsAny.(type) {
	case []any:
		list = x
	default:
		list = []any{x}
	}
	var out []map[string]any
	for _, o := range list {
		id := o.(map[string]any)["id"].(int64)
		deadline := time.Now().Add(60 * time.Second)
		for {
			info := a.mustCall(c, "operation.info", id).(map[string]any)
			step := info["step"]
			if step == "DONE" || step == "ERROR" || step == "CANCEL" {
				out = append(out, info)
				break
			}
			if time.Now().After(deadline) {
				a.t.Fatalf("operation %d still %s", id, step)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return out
}

func (a *agent) mustDone(c *service.Caller, opsAny any) []map[string]any {
	a.t.Helper()
	out := a.wait(c, opsAny)
	for _, o := range out {
		if o["step"] != "DONE" {
			a.t.Fatalf("operation %v (%v) ended %v: %v", o["id"], o["type"], o["step"], o["last_error"])
		}
	}
	return out
}

func vmSpec(hostname string) map[string]any {
	return map[string]any{"datacenter_id": int64(1), "hostname": hostname, "memory": int64(512), "password": "password_to_change"}
}

// createVM runs vm.create_from to DONE and returns the VM id.
func (a *agent) createVM(c *service.Caller, hostname string) int64 {
	a.t.Helper()
	ops := a.mustCall(c, "hosting.vm.create_from", vmSpec(hostname), map[string]any{"name": "sys-" + hostname}, a.image)
	done := a.mustDone(c, ops)
	return done[2]["params"].(map[string]any)["vm_id"].(int64)
}

// snapshot counts every kind of record, to prove a refused call changed nothing.
func (a *agent) snapshot() [6]int {
	var n [6]int
	a.st.View(func(tx *store.Tx) {
		tx.EachVM(func(*store.VM) bool { n[0]++; return true })
		tx.EachDisk(func(*store.Disk) bool { n[1]++; return true })
		tx.EachIface(func(*store.Iface) bool { n[2]++; return true })
		tx.EachIP(func(*store.IP) bool { n[3]++; return true })
		tx.EachOperation(func(*store.Operation) bool { n[4]++; return true })
	})
	vols, _ := a.vols.List(context.Background())
	n[5] = len(vols)
	return n
}

// disk reads disk id's record.
func (a *agent) disk(id int64) store.Disk {
	var d store.Disk
	a.st.View(func(tx *store.Tx) { d, _ = tx.Disk(id) })
	return d
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package agenttest

import (
	"context"
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
	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/mkfs"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// Config is the service's, the workflows' and the reconciler's
// configuration, as cmd/xenagent makes them.
type Config struct {
	service.Config
	Timeouts      workflow.Timeouts
	SeedDir       string // "" runs without seeds
	QuarantineFor time.Duration
	// Peer and Sender reach other agents for vm_migrate; nil fails it.
	Peer   workflow.Peer
	Sender workflow.DiskSender
}

// Account is one account the rig registers before the engine starts.
type Account struct {
	Handle, Name string
	Key          string // the API key; its hash is stored
	Password     string // the login password (Gandi v1); "" sets none
}

// Alice and Bob are the default accounts: two, so that a test can show
// one account cannot reach the other's resources.
var (
	Alice = Account{Handle: "ALICE-GANDI", Name: "Alice", Key: "alice-key-0123456789abcd"}
	Bob   = Account{Handle: "BOB-GANDI", Name: "Bob", Key: "bob-key-0123456789abcdef"}
)

// Options say how the rig differs from the default agent.
type Options struct {
	// Dir holds the state file, volumes and seeds; "" is a new t.TempDir.
	// Reopening a rig on its Dir finds its state again.
	Dir string
	// Hypervisor is the driver's configuration; an empty URI is a private
	// test driver on Dir/node.xml. CommandTimeout is always a minute.
	Hypervisor hypervisor.Config
	// Accounts are registered in order, one Caller each; nil is Alice and Bob.
	Accounts []Account
	// Configure changes the default configuration, in order.
	Configure []func(*Config)
	// Mkfs formats disks with the real mkfs tools and serves the
	// filesystems they make.
	Mkfs bool
	// NoStart leaves the engine and the domain watch stopped: the test
	// calls Start when it wants work to run.
	NoStart bool
	// LogTo receives every log line, debug and up; nil discards them, or
	// sends them to stderr under go test -v.
	LogTo io.Writer
}

// Rig is a whole agent on real parts. Its fields are the parts the faces
// and their tests reach into.
type Rig struct {
	Dir        string
	Config     Config
	Log        *slog.Logger
	Store      *store.Store
	Engine     *ops.Engine
	Hypervisor *hypervisor.Driver
	Volumes    *file.Backend
	Workflows  *workflow.Workflows
	Reconciler *reconcile.Reconciler
	Service    *service.Service
	Image      service.Image     // the registered image: ID is os_id/template_id, DiskID its disk
	Callers    []*service.Caller // one per Options.Accounts, in order
	Operator   *service.Caller

	t        testing.TB
	boundary boundaryHook
	ctx      context.Context // the engine's and the domain watch's; Stop ends it
	stop     context.CancelFunc
	closed   bool
}

// New builds and reconciles a rig, starts it unless o.NoStart, and
// closes it on t.Cleanup.
func New(t testing.TB, o Options) *Rig {
	t.Helper()
	r := &Rig{t: t, Dir: o.Dir, Log: logger(o.LogTo)}
	if r.Dir == "" {
		r.Dir = t.TempDir()
	}
	r.Config = defaultConfig(t, r.Dir)
	for _, c := range o.Configure {
		c(&r.Config)
	}
	r.open(o)
	r.ctx, r.stop = context.WithCancel(context.Background())
	t.Cleanup(r.Close)
	r.register(o.Accounts)
	if err := r.Reconciler.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !o.NoStart {
		r.Start()
	}
	return r
}

func logger(to io.Writer) *slog.Logger {
	switch {
	case to != nil:
		return slog.New(slog.NewTextHandler(to, &slog.HandlerOptions{Level: slog.LevelDebug}))
	case testing.Verbose():
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// defaultConfig is one datacenter, generous limits, an IPv4 and an IPv6
// pool on bridge xabr0, and short stop and reboot timeouts.
func defaultConfig(t testing.TB, dir string) Config {
	t.Helper()
	v4, err := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	if err != nil {
		t.Fatal(err)
	}
	v6, err := ipam.Parse("fd00::/64", "fd00::1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Config: service.Config{
			Version:    "test",
			Datacenter: service.Datacenter{ID: 1, Name: "Test", Country: "France", ISO: "FR", Code: "FR-T1"},
			Limits:     service.Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxDiskMB: 1 << 20, MaxBandwidth: 1e10, DefaultQuotaMB: 100000, AllowUnlimited: true},
			Network:    workflow.Network{Bridge: "xabr0", V4: &v4, V6: &v6, ReverseDomain: "example.net"},
		},
		Timeouts: workflow.Timeouts{Stop: 2 * time.Second, StopMessages: 2, Reboot: 2 * time.Second},
		SeedDir:  filepath.Join(dir, "seeds"),
	}
}

// open opens the store, the driver and the volumes and wires the engine,
// the workflows, the reconciler and the service over them.
func (r *Rig) open(o Options) {
	t := r.t
	t.Helper()
	st, err := store.Open(filepath.Join(r.Dir, "state.db"), r.Log)
	if err != nil {
		t.Fatal(err)
	}
	r.Store = st
	hvCfg := o.Hypervisor
	if hvCfg.URI == "" {
		node := filepath.Join(r.Dir, "node.xml")
		if err := os.WriteFile(node, []byte("<node/>"), 0o644); err != nil {
			t.Fatal(err)
		}
		hvCfg.URI = "test://" + node
	}
	hvCfg.CommandTimeout = time.Minute
	if r.Hypervisor, err = hypervisor.Open(context.Background(), hvCfg, r.Log); err != nil {
		t.Fatal(err)
	}
	if r.Volumes, err = file.New(filepath.Join(r.Dir, "disks"), r.Log); err != nil {
		t.Fatal(err)
	}
	cfg := &r.Config
	var formatter host.Formatter // nil: disks get no filesystem
	if o.Mkfs {
		f := mkfs.New(nil, nil, r.Log)
		cfg.FSTypes, cfg.FSMinMB = f.FSTypes(), f.MinSizesMB()
		formatter = f
	}
	var seeds host.Seeds // nil when a test empties SeedDir
	if cfg.SeedDir != "" {
		seeds = nocloud.New(cfg.SeedDir)
	}
	r.Engine = ops.New(st, r.Log, ops.Config{RetryFor: 5 * time.Second, OnBoundary: r.boundary.call})
	r.Workflows = workflow.New(workflow.Config{DatacenterID: cfg.Datacenter.ID, Timeouts: cfg.Timeouts, Network: cfg.Network,
		KernelsDir: cfg.KernelsDir, Seeds: seeds, Formatter: formatter, Peer: cfg.Peer, Sender: cfg.Sender},
		st, r.Engine, r.Hypervisor, r.Volumes, r.Log)
	r.Reconciler = reconcile.New(reconcile.Config{Network: cfg.Network, QuarantineFor: cfg.QuarantineFor},
		st, r.Engine, r.Hypervisor, r.Volumes, r.Workflows, r.Log)
	r.Service = service.New(cfg.Config, st, r.Engine, r.Workflows, r.Log)
}

// register makes the accounts and their callers, the operator's caller,
// and the image every test creates VMs from.
func (r *Rig) register(accounts []Account) {
	t := r.t
	t.Helper()
	if accounts == nil {
		accounts = []Account{Alice, Bob}
	}
	for _, a := range accounts {
		id, err := r.Service.EnsureAccount(a.Handle, a.Name, service.HashKey(a.Key), 0)
		if err != nil {
			t.Fatalf("registering account %s: %v", a.Handle, err)
		}
		if a.Password != "" {
			h, err := passwd.HashRounds(a.Password, passwd.AccountRounds)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Service.SetAccountPassword(a.Handle, h); err != nil {
				t.Fatalf("setting the password of %s: %v", a.Handle, err)
			}
		}
		r.Callers = append(r.Callers, &service.Caller{AccountID: id, Handle: a.Handle})
	}
	r.Operator = &service.Caller{Operator: true, Handle: "OPERATOR"}
	if err := r.Workflows.EnsureImage(context.Background(), workflow.ImageSpec{Label: "Debian 12", OSArch: "x86-64", SizeMB: 64, Cmdline: "root=/dev/xvda ro"}); err != nil {
		t.Fatal(err)
	}
	images := r.Service.Images(service.ImageFilter{})
	if len(images) == 0 {
		t.Fatal("the registered image is not listed")
	}
	r.Image = images[0]
}

// Start runs the engine, resuming unfinished operations, and the domain
// watch, until Stop or Close.
func (r *Rig) Start() {
	r.Engine.Start(r.ctx)
	go r.Reconciler.WatchDomains(r.ctx)
}

// Stop ends the engine's and the domain watch's context, as a dying agent
// would: operations stop where they are, the records stay. Close still
// closes the rig.
func (r *Rig) Stop() { r.stop() }

// Close stops the engine, checks the state file and closes the store and
// the driver. It runs on t.Cleanup; calling it sooner (to reopen the rig
// on its Dir) is allowed, and a second call does nothing.
func (r *Rig) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.stop()
	r.Engine.Wait()
	if err := r.Store.Check(); err != nil {
		r.t.Error(err)
	}
	r.Store.Close()
	r.Hypervisor.Close()
}

// OnBoundary has the engine call fn at every journal boundary, from then
// on; nil stops it.
func (r *Rig) OnBoundary(fn func(op store.Operation, boundary string)) {
	r.boundary.set(fn)
}

// boundaryHook lets a test swap the engine's boundary callback while the
// engine runs.
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

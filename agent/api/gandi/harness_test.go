package gandi

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/agenttest"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
)

// agent is a whole service on real parts (agenttest's rig: a bbolt file,
// the engine, a private libvirt test driver and the file backend, in a
// temp dir) and the face over it.
type agent struct {
	t     *testing.T
	rig   *agenttest.Rig // Start, Stop, OnBoundary
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
}

// agentConfig is the service's, the workflows' and the reconciler's
// configuration, as cmd/xenagent makes them.
type agentConfig = agenttest.Config

type agentOpt func(*agentConfig)

// testProfile is a snapshot profile served beside the defaults, hourly
// and short, for the snapshot tests.
var testProfile = service.SnapshotProfile{ID: 9, Name: "test", Every: time.Hour, KeptTotal: 2, QuotaFactor: 150}

func newAgent(t *testing.T, start bool, opts ...agentOpt) *agent {
	t.Helper()
	return openAgent(t, t.TempDir(), hypervisor.Config{}, start, opts...)
}

// openAgent opens an agent on dir, its state and volumes included; an
// empty hvCfg.URI is a test driver on dir/node.xml.
func openAgent(t *testing.T, dir string, hvCfg hypervisor.Config, start bool, opts ...agentOpt) *agent {
	t.Helper()
	o := agenttest.Options{Dir: dir, Hypervisor: hvCfg, NoStart: !start, LogTo: logTo,
		Configure: []func(*agentConfig){func(c *agentConfig) {
			c.SnapshotProfiles = append([]service.SnapshotProfile{testProfile}, service.DefaultSnapshotProfiles...)
		}}}
	for _, opt := range opts {
		o.Configure = append(o.Configure, opt)
	}
	r := agenttest.New(t, o)
	return &agent{t: t, rig: r, dir: r.Dir, st: r.Store, eng: r.Engine, hv: r.Hypervisor, vols: r.Volumes, svc: r.Service,
		log: r.Log, api: NewFace(r.Service), wf: r.Workflows, rec: r.Reconciler,
		alice: r.Callers[0], bob: r.Callers[1], op: r.Operator, image: r.Image.DiskID}
}

// reopen restarts the agent on the same state file and volumes. The test
// driver keeps domains per connection, so only tests without domains use it.
func (a *agent) reopen(start bool) *agent {
	a.t.Helper()
	a.close()
	return openAgent(a.t, a.dir, hypervisor.Config{}, start)
}

func (a *agent) close() { a.rig.Close() }

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

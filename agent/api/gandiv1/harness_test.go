package gandiv1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/agent/xmlrpc"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/mkfs"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// The accounts every test agent has: two with a password, one without.
const (
	aliceLogin, alicePassword = "AA1234-GANDI", "mypassword"
	bobLogin, bobPassword     = "BB1234-GANDI", "bobpassword"
	carolLogin                = "CC1234-GANDI"
)

// agent is a whole service on real parts (a bbolt file, the engine,
// libvirt's in-process test driver, the file volume backend) in a temp
// dir, and the face served over HTTP.
type agent struct {
	t     *testing.T
	st    *store.Store
	eng   *ops.Engine
	hv    *hypervisor.Driver
	svc   *service.Service
	vols  *file.Backend
	srv   *Server
	http  *httptest.Server
	url   string
	image int64 // the os_id of the registered image
	stop  context.CancelFunc
}

// newAgent starts a test agent; opts change the service's configuration
// (quotas, limits) before it starts.
func newAgent(t *testing.T, opts ...func(*service.Config)) *agent {
	t.Helper()
	dir := t.TempDir()
	nodeXML := filepath.Join(dir, "node.xml")
	os.WriteFile(nodeXML, []byte("<node/>"), 0o644)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	hv, err := hypervisor.Open(context.Background(), hypervisor.Config{URI: "test://" + nodeXML, CommandTimeout: 60 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	vols, err := file.New(filepath.Join(dir, "disks"), log)
	if err != nil {
		t.Fatal(err)
	}
	v4, _ := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	v6, _ := ipam.Parse("fd00::/64", "fd00::1", "", "")
	cfg := service.Config{
		Version:    "test",
		Datacenter: service.Datacenter{ID: 1, Name: "Test", Country: "France", ISO: "FR", Code: "FR-T1"},
		Limits:     service.Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxDiskMB: 1 << 20, MaxBandwidth: 1e10, DefaultQuotaMB: 100000, AllowUnlimited: true},
		Network:    workflow.Network{Bridge: "xabr0", V4: &v4, V6: &v6, ReverseDomain: "example.net"},
	}
	for _, o := range opts {
		o(&cfg)
	}
	eng := ops.New(st, log, ops.Config{RetryFor: 5 * time.Second})
	formatter := mkfs.New(nil, nil, log) // the real mkfs tools, on the file volumes
	cfg.FSTypes, cfg.FSMinMB = formatter.FSTypes(), formatter.MinSizesMB()
	wf := workflow.New(workflow.Config{DatacenterID: 1, Network: cfg.Network, Seeds: nocloud.New(filepath.Join(dir, "seeds")), Formatter: formatter,
		Timeouts: workflow.Timeouts{Stop: 2 * time.Second, StopMessages: 2, Reboot: 2 * time.Second}}, st, eng, hv, vols, log)
	rec := reconcile.New(reconcile.Config{Network: cfg.Network}, st, eng, hv, vols, wf, log)
	svc := service.New(cfg, st, eng, wf, log)
	for _, acct := range []struct{ login, password string }{{aliceLogin, alicePassword}, {bobLogin, bobPassword}, {carolLogin, ""}} {
		if _, err := svc.EnsureAccount(acct.login, acct.login, service.HashKey("key-"+acct.login), 0); err != nil {
			t.Fatal(err)
		}
		if acct.password == "" {
			continue
		}
		h, err := passwd.HashRounds(acct.password, passwd.AccountRounds)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SetAccountPassword(acct.login, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "Debian 12", OSArch: "x86-64", SizeMB: 64, Cmdline: "root=/dev/xvda ro"}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	go rec.WatchDomains(ctx)
	a := &agent{t: t, st: st, eng: eng, hv: hv, svc: svc, vols: vols, srv: New(svc, 0, log), stop: cancel}
	a.image = svc.Images(service.ImageFilter{})[0].ID
	mux := http.NewServeMux()
	mux.Handle(Path, a.srv)
	a.http = httptest.NewServer(mux)
	a.url = a.http.URL + Path
	t.Cleanup(a.close)
	return a
}

func (a *agent) close() {
	a.http.Close()
	a.stop()
	a.eng.Wait()
	if err := a.st.Check(); err != nil {
		a.t.Error(err)
	}
	a.st.Close()
	a.hv.Close()
}

// call posts one XML-RPC call; a fault is returned as *xmlrpc.Fault.
func (a *agent) call(method string, params ...any) (any, *xmlrpc.Fault) {
	a.t.Helper()
	body, err := xmlrpc.EncodeCall(method, params...)
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.Post(a.url, "text/xml", bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	v, err := xmlrpc.DecodeResponse(resp.Body)
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return nil, f
	}
	if err != nil {
		a.t.Fatalf("%s: %v", method, err)
	}
	return v, nil
}

func (a *agent) mustCall(method string, params ...any) any {
	a.t.Helper()
	v, f := a.call(method, params...)
	if f != nil {
		a.t.Fatalf("%s: fault %d: %s", method, f.Code, f.Message)
	}
	return v
}

func (a *agent) login(login, password string) string {
	a.t.Helper()
	return a.mustCall("login", login, password, true).(string)
}

// wait polls operation_details like a client until the operation ends,
// and answers its final details.
func (a *agent) wait(session string, opid int64) map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d := a.mustCall("operation_details", session, opid).(map[string]any)
		switch d["state"] {
		case "DONE", "ERROR", "CANCEL":
			return d
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("operation %d still %v", opid, d["state"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (a *agent) mustDone(session string, opid int64) {
	a.t.Helper()
	if d := a.wait(session, opid); d["state"] != "DONE" {
		a.t.Fatalf("operation %d (%v) ended %v: %v", opid, d["type"], d["state"], d["comment"])
	}
}

// lastOp is the newest operation of a type, from operation_list.
func (a *agent) lastOp(session, typ string) int64 {
	a.t.Helper()
	ids := a.mustCall("operation_list", session, map[string]any{"type": typ}).([]any)
	if len(ids) == 0 {
		a.t.Fatalf("no %s operation", typ)
	}
	return ids[0].(int64)
}

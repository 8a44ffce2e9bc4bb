package gandiv1

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/agenttest"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/xmlrpc"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
)

// The accounts every test agent has: two with a password, one without.
const (
	aliceLogin, alicePassword = "AA1234-GANDI", "mypassword"
	bobLogin, bobPassword     = "BB1234-GANDI", "bobpassword"
	carolLogin                = "CC1234-GANDI"
)

// agent is a whole service on real parts (agenttest's rig) with the
// face served over HTTP.
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
}

// newAgent starts a test agent; opts change the service's configuration
// (quotas, limits) before it starts. Disks are formatted by the real mkfs
// tools, as disk_create's fstype needs.
func newAgent(t *testing.T, opts ...func(*service.Config)) *agent {
	t.Helper()
	o := agenttest.Options{Mkfs: true, Accounts: []agenttest.Account{
		{Handle: aliceLogin, Name: aliceLogin, Key: "key-" + aliceLogin, Password: alicePassword},
		{Handle: bobLogin, Name: bobLogin, Key: "key-" + bobLogin, Password: bobPassword},
		{Handle: carolLogin, Name: carolLogin, Key: "key-" + carolLogin},
	}}
	for _, opt := range opts {
		o.Configure = append(o.Configure, func(c *agenttest.Config) { opt(&c.Config) })
	}
	r := agenttest.New(t, o)
	a := &agent{t: t, st: r.Store, eng: r.Engine, hv: r.Hypervisor, svc: r.Service, vols: r.Volumes,
		srv: New(r.Service, 0, r.Log), image: r.Image.ID}
	mux := http.NewServeMux()
	mux.Handle(Path, a.srv)
	a.http = httptest.NewServer(mux)
	a.url = a.http.URL + Path
	t.Cleanup(a.http.Close) // before the rig closes
	return a
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

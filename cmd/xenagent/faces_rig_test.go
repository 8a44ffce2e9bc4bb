package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/agenttest"
	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/xmlrpc"
	"github.com/xenagent/xenagent/storage/file"
)

// The one account every face speaks for: its API key (Gandi v3, Gigas)
// and its login password (Gandi v1).
const (
	faceHandle   = "FACES-GANDI"
	faceKey      = "faces-key-0123456789abcdef"
	facePassword = "faces-password"
	faceOperator = "faces-operator-0123456789"
)

// faceRig is one in-process agent on real parts (agenttest's rig) with all three
// faces mounted on one handler the way serve mounts them (mountGandiV1,
// mountGigas over the v3 face's handler), served by httptest. The suite
// acts over HTTP and checks through svc and st.
type faceRig struct {
	t     *testing.T
	st    *store.Store
	svc   *service.Service
	vols  *file.Backend
	url   string // the server's base URL, no trailing slash
	acct  int64
	image service.Image // os_id and template_id are its ID, v3's src_disk_id its DiskID
	as    *service.Caller
}

func newFaceRig(t *testing.T) *faceRig {
	t.Helper()
	rig := agenttest.New(t, agenttest.Options{Accounts: []agenttest.Account{
		{Handle: faceHandle, Name: "Faces", Key: faceKey, Password: facePassword},
	}})
	svc, log := rig.Service, rig.Log

	// The composition of serve, less the listener's limits, consoles,
	// graphs and events: the v3 face, v1 ahead of it, Gigas ahead of both.
	var cfg config.Config
	cfg.Operator.KeySHA256 = service.HashKey(faceOperator)
	api := gandi.New(svc, cfg.Operator.KeySHA256, 0, log)
	reg := metrics.NewRegistry()
	var handler http.Handler = api.Handler()
	handler = mountGandiV1(handler, svc, 0, cfg.Operator.KeySHA256, api.LoginCheck, reg, log)
	handler = mountGigas(handler, cfg, svc, api, reg, log)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close) // before the rig closes

	return &faceRig{t: t, st: rig.Store, svc: svc, vols: rig.Volumes, url: srv.URL, acct: rig.Callers[0].AccountID,
		image: rig.Image, as: rig.Callers[0]}
}

// xmlCall posts one XML-RPC call to path; a fault is returned as the
// error (*xmlrpc.Fault), anything else wrong with the exchange fails t.
func (r *faceRig) xmlCall(path, method string, params ...any) (any, error) {
	r.t.Helper()
	body, err := xmlrpc.EncodeCall(method, params...)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := http.Post(r.url+path, "text/xml", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	v, err := xmlrpc.DecodeResponse(resp.Body)
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return nil, f
	}
	if err != nil {
		r.t.Fatalf("%s %s: %v", path, method, err)
	}
	return v, nil
}

// settle waits until no operation of the account is left to run: a face
// answers before its work is done, and some (v1's vm_create) name only
// one of the operations they start.
func (r *faceRig) settle() {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var busy []string
		r.st.View(func(tx *store.Tx) {
			tx.EachOperation(func(o *store.Operation) bool {
				if o.AccountID == r.acct && o.Step != store.StepDone && o.Step != store.StepError && o.Step != store.StepCancel {
					busy = append(busy, fmt.Sprintf("%d %s %s", o.ID, o.Type, o.Step))
				}
				return true
			})
		})
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("operations still running: %v", busy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counts is every kind of record and the volumes, to prove that a
// refused call changed nothing.
type counts struct{ VMs, Disks, Ifaces, IPs, Ops, Volumes int }

func (r *faceRig) counts() counts {
	r.t.Helper()
	var n counts
	r.st.View(func(tx *store.Tx) {
		tx.EachVM(func(*store.VM) bool { n.VMs++; return true })
		tx.EachDisk(func(*store.Disk) bool { n.Disks++; return true })
		tx.EachIface(func(*store.Iface) bool { n.Ifaces++; return true })
		tx.EachIP(func(*store.IP) bool { n.IPs++; return true })
		tx.EachOperation(func(*store.Operation) bool { n.Ops++; return true })
	})
	vols, err := r.vols.List(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	n.Volumes = len(vols)
	return n
}

package gandi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/metrics/metricstest"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/agent/xmlrpc"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
)

const aliceKey = "alice-key-0123456789abcd"

// testService is the service every test here serves: a real store,
// libvirt's test driver and the file backend in a temporary directory,
// and an engine the caller starts (or not).
func testService(tb testing.TB, log *slog.Logger) (*service.Service, *ops.Engine, *store.Store, *reconcile.Reconciler) {
	tb.Helper()
	dir := tb.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		tb.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "node.xml"), []byte("<node/>"), 0o644)
	hv, err := hypervisor.Open(context.Background(), hypervisor.Config{URI: "test://" + filepath.Join(dir, "node.xml")}, log)
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	// Registered first, so it runs after the callers' cleanups have
	// stopped their servers and engines.
	tb.Cleanup(func() { st.Close(); hv.Close() })
	vols, _ := file.New(filepath.Join(dir, "disks"), log)
	eng := ops.New(st, log, ops.Config{})
	wf := workflow.New(workflow.Config{DatacenterID: 1, Timeouts: workflow.Timeouts{Stop: time.Second, StopMessages: 2, Reboot: time.Second}},
		st, eng, hv, vols, log)
	rec := reconcile.New(reconcile.Config{}, st, eng, hv, vols, wf, log)
	svc := service.New(service.Config{Datacenter: service.Datacenter{ID: 1, Name: "T"}, Limits: service.Limits{MaxMemoryMB: 4096, MaxCores: 4, MaxDiskMB: 1000, MaxBandwidth: 1e9, DefaultQuotaMB: 1000}},
		st, eng, wf, log)
	return svc, eng, st, rec
}

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, eng, _, _ := testService(t, log)
	svc.EnsureAccount("ALICE", "Alice", service.HashKey(aliceKey), 0)
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	srv := httptest.NewServer(New(svc, service.HashKey("operator-key-0123456789ab"), 4096, log).Handler())
	t.Cleanup(func() { srv.Close(); cancel(); eng.Wait() })
	return srv
}

func post(t *testing.T, url, body string) (any, error) {
	t.Helper()
	resp, err := http.Post(url+"/xmlrpc/", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	return xmlrpc.DecodeResponse(resp.Body)
}

func call(t *testing.T, url, method string, params ...any) (any, error) {
	doc, _ := xmlrpc.EncodeCall(method, params...)
	return post(t, url, string(doc))
}

func faultOf(t *testing.T, err error) *xmlrpc.Fault {
	t.Helper()
	var f *xmlrpc.Fault
	if !errors.As(err, &f) {
		t.Fatalf("want a fault, got %v", err)
	}
	return f
}

func TestServesCalls(t *testing.T) {
	srv := newServer(t)
	v, err := call(t, srv.URL, "hosting.datacenter.list", aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	if dcs := v.([]any); len(dcs) != 1 || dcs[0].(map[string]any)["id"] != int64(1) {
		t.Fatalf("datacenters = %v", v)
	}
	// The operator key works for reads across accounts.
	if _, err := call(t, srv.URL, "hosting.vm.list", "operator-key-0123456789ab"); err != nil {
		t.Fatal(err)
	}
}

func TestFaults(t *testing.T) {
	srv := newServer(t)
	big := `<?xml version="1.0"?><methodCall><methodName>version.info</methodName><params><param><value><string>` + strings.Repeat("x", 5000) + `</string></value></param></params></methodCall>`
	tests := []struct {
		name string
		body string
		code int
		msg  string
	}{
		{"malformed", "<methodCall><oops>", 518020, "request"},
		{"too big", big, 518020, "larger than 4096 bytes"},
		{"no key", `<methodCall><methodName>version.info</methodName></methodCall>`, 510010, "apikey"},
		{"key not a string", `<methodCall><methodName>version.info</methodName><params><param><value><int>1</int></value></param></params></methodCall>`, 510030, "invalid API key"},
		{"unknown key on a vm", `<methodCall><methodName>hosting.vm.info</methodName><params><param><value>nope</value></param><param><value><int>1</int></value></param></params></methodCall>`, 510030, "invalid API key"},
		{"unknown key on a method that does not exist", `<methodCall><methodName>hosting.nothing</methodName><params><param><value>nope</value></param></params></methodCall>`, 510030, "invalid API key"},
		{"unknown method", `<methodCall><methodName>hosting.nothing</methodName><params><param><value>` + aliceKey + `</value></param></params></methodCall>`, 518040, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := post(t, srv.URL, tt.body)
			f := faultOf(t, err)
			if f.Code != tt.code || !strings.Contains(f.Message, tt.msg) {
				t.Fatalf("fault %d %q, want %d containing %q", f.Code, f.Message, tt.code, tt.msg)
			}
		})
	}
}

func TestOnlyPost(t *testing.T) {
	srv := newServer(t)
	resp, err := http.Get(srv.URL + "/xmlrpc/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET status = %d", resp.StatusCode)
	}
}

// The face counts its calls by method and fault code for the
// composition's /metrics, and serves no /metrics itself.
func TestMetrics(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, eng, _, _ := testService(t, log)
	svc.EnsureAccount("ALICE", "Alice", service.HashKey(aliceKey), 0)
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	api := New(svc, service.HashKey("operator-key-0123456789ab"), 4096, log)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); eng.Wait() })
	call(t, srv.URL, "version.info", aliceKey)
	call(t, srv.URL, "version.info", "bad")
	call(t, srv.URL, "no.such.method", aliceKey)
	reg := metrics.NewRegistry()
	reg.Register(api.WriteMetrics)
	var b strings.Builder
	if err := reg.Write(&b); err != nil {
		t.Fatal(err)
	}
	p := metricstest.Check(t, []byte(b.String()))
	for _, want := range []string{`xenagent_rpc_requests_total{method="version.info",fault="0"} 1`, `xenagent_rpc_requests_total{method="version.info",fault="510030"} 1`,
		`xenagent_rpc_requests_total{method="unknown",fault=`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, b.String())
		}
	}
	if s := p.Find("xenagent_rpc_seconds_total", "method", "version.info"); len(s) != 1 || s[0].Value <= 0 {
		t.Errorf("time spent on version.info: %v", s)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the face serves /metrics itself: %d", resp.StatusCode)
	}
}

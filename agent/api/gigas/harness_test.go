package gigas

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/agenttest"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/storage/file"
)

const (
	aliceKey    = "alice-key-0123456789abcd"
	bobKey      = "bob-key-0123456789abcdef"
	operatorKey = "operator-key-0123456789ab"
)

// agent is the whole service on real parts (agenttest's rig) behind the
// face, served by httptest.
type agent struct {
	t          *testing.T
	st         *store.Store
	svc        *service.Service
	wf         *workflow.Workflows
	vols       *file.Backend
	srv        *httptest.Server
	alice, bob int64
	template   int64 // the image's id (template_id)
	// seen is every answer, for the OpenAPI check.
	seen []observed
}

type observed struct {
	method, path string
	reply
}

// agentOpt changes the service's configuration of a test agent.
type agentOpt func(*service.Config)

func newAgent(t *testing.T, opts ...agentOpt) *agent {
	t.Helper()
	o := agenttest.Options{NoStart: true, Accounts: []agenttest.Account{
		{Handle: "ALICE", Name: "Alice", Key: aliceKey},
		{Handle: "BOB", Name: "Bob", Key: bobKey},
	}}
	for _, opt := range opts {
		o.Configure = append(o.Configure, func(c *agenttest.Config) { opt(&c.Config) })
	}
	r := agenttest.New(t, o)
	// Consoles and graphs are set before the engine starts, as serve does.
	tokens := token.NewIssuer(token.Limits{})
	if err := r.Service.SetConsole(tokens, "http://agent.test:8080"); err != nil {
		t.Fatal(err)
	}
	if err := r.Service.SetStats(fakeStats{}, tokens, "http://agent.test:8080"); err != nil {
		t.Fatal(err)
	}
	r.Start()
	a := &agent{t: t, st: r.Store, svc: r.Service, wf: r.Workflows, vols: r.Volumes,
		alice: r.Callers[0].AccountID, bob: r.Callers[1].AccountID, template: r.Image.ID}
	face := New(r.Service, Config{OperatorHash: service.HashKey(operatorKey), MaxBodyBytes: 64 << 10}, r.Log)
	a.srv = httptest.NewServer(face.Handler())
	t.Cleanup(func() { a.checkSeen(t) })
	t.Cleanup(a.srv.Close) // before the rig closes
	return a
}

// reply is an answer: its status, headers and decoded JSON body.
type reply struct {
	status int
	header http.Header
	body   any
	raw    []byte
}

func (r reply) obj() map[string]any {
	m, _ := r.body.(map[string]any)
	return m
}

func (r reply) list() []any {
	l, _ := r.body.([]any)
	return l
}

// do sends a request as the document's curl examples do: the key in
// Authorization, a JSON body.
func (a *agent) do(key, method, path string, body any) reply {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			a.t.Fatalf("%s %s: %d: not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	a.seen = append(a.seen, observed{method: method, path: path, reply: out})
	return out
}

// must sends a request that must answer want.
func (a *agent) must(want int, key, method, path string, body any) reply {
	a.t.Helper()
	r := a.do(key, method, path, body)
	if r.status != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// wait polls the operations of a 202 until each ends; every one must
// end DONE.
func (a *agent) wait(key string, acct int64, r reply) {
	a.t.Helper()
	for _, o := range r.obj()["operations"].([]any) {
		href := o.(map[string]any)["href"].(string)
		deadline := time.Now().Add(60 * time.Second)
		for {
			op := a.must(200, key, "GET", href, nil).obj()
			switch op["status"] {
			case "DONE":
			case "ERROR", "CANCEL":
				a.t.Fatalf("operation %v (%v) ended %v: %v", op["id"], op["type"], op["status"], op["error"])
			default:
				if time.Now().After(deadline) {
					a.t.Fatalf("operation %v still %v", op["id"], op["status"])
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			break
		}
	}
}

func acctPath(id int64) string { return "/account/" + strconv.FormatInt(id, 10) }

func (a *agent) vmPath(acct int64, vm string) string {
	return acctPath(acct) + "/virtual_machine/" + vm
}

// createVM creates a VM for alice and waits until it is built.
func (a *agent) createVM(hostname string) string {
	a.t.Helper()
	r := a.must(202, aliceKey, "POST", acctPath(a.alice)+"/virtual_machine", map[string]any{
		"memory": "256", "cpus": "1", "label": hostname, "primary_disk_size": "1", "hostname": hostname,
		"template_id": strconv.FormatInt(a.template, 10)})
	a.wait(aliceKey, a.alice, r)
	return r.obj()["id"].(string)
}

// fakeStats measures every VM alike: half a vCPU busy (of one) and 1000
// bytes/s in, 500 out on iface 1, nothing in the window's first point.
type fakeStats struct{}

func (fakeStats) Series(vmID int64, w stats.Window) (stats.Series, bool, error) {
	n := w.Points()
	fill := func(v float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = v
		}
		out[0] = math.NaN()
		return out
	}
	var cpu, iface stats.Block
	cpu.Values[stats.CPUUsed], cpu.Values[stats.VCPUs] = fill(0.5), fill(1)
	cpu.Values[stats.MemKiB], cpu.Values[stats.MemMaxKiB] = fill(262144), fill(2097152)
	iface.ID = 1
	iface.Values[stats.RxBytes], iface.Values[stats.TxBytes] = fill(1000), fill(500)
	iface.Values[stats.RxPackets], iface.Values[stats.TxPackets] = fill(1), fill(1)
	start := time.Unix(1700000000, 0).UTC()
	return stats.Series{VMID: vmID, Window: w, Start: start, Step: w.Step(), CPU: cpu, Ifaces: []stats.Block{iface}}, true, nil
}

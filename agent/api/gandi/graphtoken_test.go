package gandi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/graph"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
)

// graphLinks serves graphs and consoles from one issuer, as cmd/xenagent
// does, with a small per-account bound; it returns a GET of a graph URL.
func (a *agent) graphLinks(perAccount int) func(u string) (int, string) {
	a.t.Helper()
	iss := token.NewIssuer(token.Limits{PerAccount: perAccount})
	c, err := stats.Open(stats.Config{Dir: filepath.Join(a.dir, "stats"), Every: time.Minute,
		DiskPath: func(id int64) string { return a.vols.Path(workflow.VolumeName(id)) }}, hostfake.NewStats(), a.st, a.log)
	if err != nil {
		a.t.Fatal(err)
	}
	const base = "http://agent.example:8080"
	if err := a.svc.SetStats(c, iss, base); err != nil {
		a.t.Fatal(err)
	}
	if err := a.svc.SetConsole(iss, base); err != nil {
		a.t.Fatal(err)
	}
	srv := httptest.NewServer(graph.Handler(iss, c, a.svc.GraphDevice, a.log))
	a.t.Cleanup(srv.Close)
	return func(u string) (int, string) {
		resp, err := http.Get(srv.URL + strings.TrimPrefix(u, base))
		if err != nil {
			a.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

func cpuGraph(info any) string {
	return info.(map[string]any)["graph_urls"].(map[string]any)["vcpu"].([]any)[0].(string)
}

// A client calling vm.info in a loop on a VM whose console is active
// mints a console token each time; once they push the account's graph
// token out of the issuer's bound, vm.info must not go on handing out
// the dead graph link.
func TestGraphLinkAfterTokenEviction(t *testing.T) {
	a := newAgent(t, true)
	id := a.createVM(a.alice, "busy1")
	get := a.graphLinks(4)
	a.setConsole(a.alice, id, true)
	first := cpuGraph(a.mustCall(a.alice, "hosting.vm.info", id))
	if code, body := get(first); code != 200 {
		t.Fatalf("fresh graph link = %d %.80q", code, body)
	}
	for range 5 {
		a.mustCall(a.alice, "hosting.vm.info", id)
	}
	u := cpuGraph(a.mustCall(a.alice, "hosting.vm.info", id))
	if code, body := get(u); code != 200 {
		t.Fatalf("graph link from vm.info after a burst of console links = %d %.80q (same as the first: %v)", code, body, u == first)
	}
}

// A graph link of a deleted VM opens nothing, though its token lives on.
func TestGraphLinkAfterVMDelete(t *testing.T) {
	a := newAgent(t, true)
	id := a.createVM(a.alice, "gone1")
	get := a.graphLinks(0)
	u := cpuGraph(a.mustCall(a.alice, "hosting.vm.info", id))
	if code, body := get(u); code != 200 {
		t.Fatalf("graph link = %d %.80q", code, body)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", id))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.delete", id))
	if code, body := get(u); code != http.StatusGone || !strings.Contains(body, "no longer exists") {
		t.Fatalf("graph link of a deleted VM = %d %.80q; want 410 saying it no longer exists", code, body)
	}
}

package gandi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/console"
	"github.com/xenagent/xenagent/agent/console/consoletest"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
)

// serveConsoles serves the agent's consoles on loopback over cons, as
// cmd/xenagent does, and lets the service mint links to it.
func (a *agent) serveConsoles(cons host.Console) (*token.Issuer, *console.Hub, string) {
	a.t.Helper()
	tokens := token.NewIssuer(token.Limits{})
	hub := console.NewHub(console.Config{}, cons, a.hv, workflow.DomainName, a.log)
	mux := http.NewServeMux()
	(&console.Handler{Hub: hub, Tokens: tokens, Authorize: a.svc.ConsoleRight, Log: a.log}).Routes(mux)
	srv := httptest.NewServer(mux)
	a.t.Cleanup(func() { hub.Shutdown(); srv.Close() })
	if err := a.svc.SetConsole(tokens, srv.URL); err != nil {
		a.t.Fatal(err)
	}
	return tokens, hub, srv.URL
}

func (a *agent) setConsole(c *service.Caller, vmID int64, on bool) {
	a.t.Helper()
	a.mustDone(c, a.mustCall(c, "hosting.vm.update", vmID, map[string]any{"console": on}))
}

// Who may mint a console link, and what vm.info shows (libvirt's test
// driver: no console stream, only the rules).
func TestConsoleLinkRules(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "web1")
	if _, f := a.call(a.alice, "hosting.vm.console", vmID); f == nil {
		t.Fatal("a console link without a configured console")
	}
	tokens, _, base := a.serveConsoles(loopConsole{})
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if info["console_url"] != "" {
		t.Errorf("console_url %q before the console was activated", info["console_url"])
	}
	refused := func(c *service.Caller, cause int, want string) {
		t.Helper()
		_, f := a.call(c, "hosting.vm.console", vmID)
		if f == nil || f.Cause != cause || !strings.Contains(f.Msg, want) {
			t.Errorf("console link: %v, want cause %d saying %q", f, cause, want)
		}
	}
	refused(a.alice, CauseConflict, `not active on vm`)
	refused(a.bob, CauseNotFound, "does not exist")
	// The operator opens any VM's console, active or not.
	if l := a.mustCall(a.op, "hosting.vm.console", vmID).(map[string]any); !strings.HasPrefix(l["url"].(string), base+"/console/") {
		t.Errorf("operator's link %v", l)
	}

	a.setConsole(a.alice, vmID, true)
	link := a.mustCall(a.alice, "hosting.vm.console", vmID).(map[string]any)["url"].(string)
	if !strings.HasPrefix(link, base+"/console/") {
		t.Fatalf("link %q not under %s", link, base)
	}
	info = a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if u, _ := info["console_url"].(string); !strings.HasPrefix(u, base+"/console/") || u == link {
		t.Errorf("console_url %q: want a fresh link under %s", u, base)
	}
	refused(a.bob, CauseNotFound, "does not exist")

	// Each link opens one session.
	s := consoletest.Dial(t, link)
	if h := s.Frame("hello"); h["writer"] != true || h["hostname"] != "web1" {
		t.Errorf("hello %v", h)
	}
	s.Type("typed\r")
	s.WaitOutput("typed", 0)
	again := consoletest.Dial(t, link)
	if m, _ := again.Frame("error")["message"].(string); !strings.Contains(m, "already used") {
		t.Errorf("reused link: %q", m)
	}
	expired, _, _ := tokens.Issue(token.Grant{Purpose: console.Purpose, VMID: vmID, Account: a.alice.AccountID, TTL: time.Millisecond, SingleUse: true})
	time.Sleep(5 * time.Millisecond)
	if m, _ := consoletest.Dial(t, base+"/console/"+expired).Frame("error")["message"].(string); !strings.Contains(m, "expired") {
		t.Errorf("expired link: %q", m)
	}
	// A link of bob's (the operator's tokens carry account 0, an
	// account's its own) cannot open alice's VM.
	bobs, _, _ := tokens.Issue(token.Grant{Purpose: console.Purpose, VMID: vmID, Account: a.bob.AccountID, TTL: time.Minute, SingleUse: true})
	if m, _ := consoletest.Dial(t, base+"/console/"+bobs).Frame("error")["message"].(string); !strings.Contains(m, "does not exist") {
		t.Errorf("another account's VM: %q", m)
	}

	// Deactivating closes the open session and revokes the links.
	unused := a.mustCall(a.alice, "hosting.vm.console", vmID).(map[string]any)["url"].(string)
	a.setConsole(a.alice, vmID, false)
	if st := s.Frame("status"); st["state"] != "closed" || !strings.Contains(st["message"].(string), "deactivated") {
		t.Errorf("status after deactivation %v", st)
	}
	s.WaitClosed()
	if m, _ := consoletest.Dial(t, unused).Frame("error")["message"].(string); !strings.Contains(m, "unknown") && !strings.Contains(m, "deactivated") {
		t.Errorf("a link minted before deactivation: %q", m)
	}
	refused(a.alice, CauseConflict, "not active on vm")
	info = a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if info["console_url"] != "" {
		t.Errorf("console_url %q after deactivation", info["console_url"])
	}

	// A stopped VM has no console.
	a.setConsole(a.alice, vmID, true)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	refused(a.alice, CauseConflict, "needs a running vm")
}

// loopConsole is a console whose guest echoes what is typed (libvirt's
// test driver has no console stream).
type loopConsole struct{}

func (loopConsole) OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	r, w := io.Pipe()
	return pipeConsole{r, w}, nil
}

type pipeConsole struct {
	*io.PipeReader
	*io.PipeWriter
}

func (p pipeConsole) Close() error {
	p.PipeWriter.Close()
	return p.PipeReader.Close()
}

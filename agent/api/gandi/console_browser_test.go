package gandi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/console"
	"github.com/xenagent/xenagent/agent/console/browsertest"
	"github.com/xenagent/xenagent/agent/console/web"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The whole console path as a person meets it (issue 12): a real QEMU
// guest, its console activated through the API, console_url from
// hosting.vm.info opened in headless Chromium on the agent's own page,
// a command typed into the terminal and the guest's answer seen in it.
// The screenshot is kept as a test artifact; with XENAGENT_UPDATE_DOC=1
// it also becomes the README's deploy/doc/console.png.
func TestQEMUConsoleInBrowser(t *testing.T) {
	if !web.AssetsBuilt() {
		browsertest.Missing(t, "terminal assets not built: run make web (or go run ./deploy/web/fetch) before go test")
	}
	q := newQEMUAgent(t, 60*time.Second, 60*time.Second)
	// The browser first: when it is missing the test skips before booting a guest.
	b := browsertest.Start(t, 960, 540)
	vmID := q.boot("coop")
	q.serveConsolePages()
	q.setConsole(q.alice, vmID, true)
	info := q.mustCall(q.alice, "hosting.vm.info", vmID).(map[string]any)
	link, _ := info["console_url"].(string)
	if link == "" {
		t.Fatalf("vm.info of VM %d with its console active has no console_url: %v", vmID, info)
	}

	const describe = `return {console: window.xenagentConsole, bar: document.getElementById('bar').innerText,
	  message: document.getElementById('message').innerText,
	  tail: window.xenagentTerm && (() => { const b = window.xenagentTerm.buffer.active, out = [];
	    for (let i = Math.max(0, b.length - 8); i < b.length; i++) out.push(b.getLine(i).translateToString(true));
	    return out; })()}`
	wait := func(timeout time.Duration, script, what string) {
		t.Helper()
		if err := b.WaitFor(context.Background(), timeout, script, describe); err != nil {
			b.SaveScreenshot(t, "console-failed.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := b.Navigate(link); err != nil {
		t.Fatal(err)
	}
	wait(15*time.Second, `return window.xenagentConsole.state === 'connected' && window.xenagentConsole.writer`, "the hello, as the writer")
	var bar string
	if err := b.Exec(&bar, `return document.getElementById('bar').innerText`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bar, "connected") || !strings.Contains(bar, "writer") {
		t.Errorf("status bar %q: want connected, writer", bar)
	}

	// The shell printed its prompt before anyone watched: Enter for a
	// fresh one, so the screenshot reads like a session.
	if err := b.SendKeys(browsertest.Enter); err != nil {
		t.Fatal(err)
	}
	wait(60*time.Second, `const b = window.xenagentTerm.buffer.active;
	  for (let i = 0; i < b.length; i++) {
	    const l = b.getLine(i);
	    if (l && l.translateToString(true).trimEnd().endsWith('#')) return true;
	  }
	  return false;`, "the guest shell's prompt")

	// Typed as a person would; the echo of the typed line has "$((6*7))",
	// only the guest shell's answer has 42.
	if err := b.SendKeys("echo browser-$((6*7))" + browsertest.Enter); err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal("browser-42")
	wait(60*time.Second, `const b = window.xenagentTerm.buffer.active;
	  for (let i = 0; i < b.length; i++) {
	    const l = b.getLine(i);
	    if (l && l.translateToString(true) === `+string(line)+`) return true;
	  }
	  return false;`, "the guest's answer in the terminal")
	t.Logf("the guest's answer browser-42 is in the browser's terminal (VM %d)", vmID)

	shot := b.SaveScreenshot(t, "console.png")
	if os.Getenv("XENAGENT_UPDATE_DOC") == "1" {
		if shot == "" {
			t.Fatal("XENAGENT_UPDATE_DOC=1 but no screenshot was taken")
		}
		png, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		doc := filepath.Join("..", "..", "..", "deploy", "doc", "console.png")
		if err := os.WriteFile(doc, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README screenshot updated: %s", doc)
	}
	logs, err := b.ConsoleLog()
	if err != nil {
		t.Logf("browser console log unavailable: %v", err)
	}
	for _, l := range logs {
		if strings.Contains(l, "Content Security Policy") || strings.HasPrefix(l, "SEVERE") {
			t.Errorf("browser console: %s", l)
		}
	}
}

// serveConsolePages serves the consoles over the hypervisor's console
// streams with the embedded terminal page, mounted as cmd/xenagent's
// consoles.wrap does (the token-checked page, its assets, the
// WebSocket), and lets the service mint links to it.
func (a *agent) serveConsolePages() {
	a.t.Helper()
	tokens := token.NewIssuer(token.Limits{})
	hub := console.NewHub(console.Config{}, a.hv, a.hv, workflow.DomainName, a.log)
	site := web.Handler(nil, a.log)
	mux := http.NewServeMux()
	(&console.Handler{Hub: hub, Tokens: tokens, Authorize: a.svc.ConsoleRight, Page: site, Log: a.log}).Routes(mux)
	site.AssetRoutes(mux)
	srv := httptest.NewServer(mux)
	a.t.Cleanup(func() { hub.Shutdown(); srv.Close() })
	if err := a.svc.SetConsole(tokens, srv.URL); err != nil {
		a.t.Fatal(err)
	}
}

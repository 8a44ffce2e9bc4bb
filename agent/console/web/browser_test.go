package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/xenagent/xenagent/agent/console/browsertest"
	"github.com/xenagent/xenagent/agent/console/web"
)

// fakeConsole speaks the console WebSocket protocol in front of a tiny
// echoing shell, so the page is tested in a real browser without a VM.
// agent/console's server replaces it against a QEMU guest.
type fakeConsole struct {
	mu       sync.Mutex
	tokens   map[string]bool // unused single-use tokens
	next     int
	seen     []string // tokens presented, in order
	out      []byte   // everything the tty printed: the scrollback
	keys     []byte   // everything typed, by any session
	sessions chan *fakeSession
}

// print sends b to c and keeps it for the scrollback of later sessions.
func (f *fakeConsole) print(ctx context.Context, c *websocket.Conn, b []byte) {
	f.mu.Lock()
	f.out = append(f.out, b...)
	f.mu.Unlock()
	c.Write(ctx, websocket.MessageBinary, b)
}

type fakeSession struct {
	c   *websocket.Conn
	ctx context.Context
}

func newFakeConsole(tokens ...string) *fakeConsole {
	f := &fakeConsole{tokens: map[string]bool{}, sessions: make(chan *fakeSession, 16)}
	for _, t := range tokens {
		f.tokens[t] = true
	}
	return f
}

func (f *fakeConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()

	// Redeem after the upgrade, as the protocol says, so a refusal can
	// say why before the 4403 close.
	f.mu.Lock()
	ok := f.tokens[tok]
	delete(f.tokens, tok)
	f.seen = append(f.seen, tok)
	f.next++
	reconnect := fmt.Sprintf("re%d", f.next)
	if ok {
		f.tokens[reconnect] = true
	}
	scrollback := append([]byte(nil), f.out...)
	f.mu.Unlock()
	// Tokens starting with "reader" join as readers (another session writes).
	writer := !strings.HasPrefix(tok, "reader")
	if !ok {
		writeJSON(ctx, c, map[string]any{"type": "error", "message": "console token already used: ask for a new console link"})
		c.Close(4403, "refused")
		return
	}
	writeJSON(ctx, c, map[string]any{"type": "hello", "vm_id": 12, "hostname": "web-12", "writer": writer, "reconnect": reconnect})
	if len(scrollback) > 0 {
		c.Write(ctx, websocket.MessageBinary, scrollback)
	} else {
		f.print(ctx, c, []byte("Debian GNU/Linux 12 web-12 ttyS0 (xenagent test console: it echoes)\r\n\r\nroot@web-12:~# "))
	}
	f.sessions <- &fakeSession{c: c, ctx: ctx}

	var line []byte
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageBinary {
			continue // resize: a fake tty has no size
		}
		f.mu.Lock()
		f.keys = append(f.keys, data...)
		f.mu.Unlock()
		if !writer {
			continue // the protocol drops a reader's keys; the page should not send them
		}
		// A tty in cooked mode: echo the keys, run the line on Enter.
		for _, b := range data {
			switch b {
			case '\r':
				out := "\r\n"
				if arg, ok := strings.CutPrefix(string(line), "echo "); ok {
					out += arg + "\r\n"
				}
				f.print(ctx, c, []byte(out+"root@web-12:~# "))
				line = line[:0]
			default:
				line = append(line, b)
				f.print(ctx, c, []byte{b})
			}
		}
	}
}

func (f *fakeConsole) tokensSeen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fakeConsole) typed() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.keys)
}

func (f *fakeConsole) session(t *testing.T) *fakeSession {
	t.Helper()
	select {
	case s := <-f.sessions:
		return s
	case <-time.After(15 * time.Second):
		t.Fatal("the page did not open a console session")
		return nil
	}
}

func writeJSON(ctx context.Context, c *websocket.Conn, v any) {
	b, _ := json.Marshal(v)
	c.Write(ctx, websocket.MessageText, b)
}

// The page's state, for failure messages.
const describe = `return {console: window.xenagentConsole, bar: document.getElementById('bar').innerText,
  message: document.getElementById('message').innerText}`

// bufferHas is true when a line of the terminal's buffer is exactly arguments[0].
const bufferHas = `const b = window.xenagentTerm.buffer.active;
  for (let i = 0; i < b.length; i++) {
    const l = b.getLine(i);
    if (l && l.translateToString(true) === arguments[0]) return true;
  }
  return false;`

func TestConsolePageInBrowser(t *testing.T) {
	if !web.AssetsBuilt() {
		browsertest.Missing(t, "terminal assets not built: run make build (or go run ./deploy/web/fetch) before go test")
	}
	b := browsertest.Start(t, 960, 540)
	ctx := context.Background()

	fake := newFakeConsole("tok1", "reader1")
	mux := http.NewServeMux()
	mux.Handle("GET /console/", web.Handler(func(_ context.Context, tok string) error {
		if tok == "expired" {
			return fmt.Errorf("this console link expired")
		}
		return nil
	}, nil))
	mux.Handle("GET /console/{token}/ws", fake)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	wait := func(script, what string, args ...any) {
		t.Helper()
		if err := b.WaitFor(ctx, 10*time.Second, script, describe); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	exec := func(out any, script string) {
		t.Helper()
		if err := b.Exec(out, script); err != nil {
			t.Fatal(err)
		}
	}

	if err := b.Navigate(srv.URL + "/console/tok1"); err != nil {
		t.Fatal(err)
	}
	sess := fake.session(t)
	wait(`return window.xenagentConsole.state === 'connected'`, "hello")
	var bar string
	exec(&bar, `return document.getElementById('bar').innerText`)
	for _, want := range []string{"web-12 (VM 12)", "connected", "writer"} {
		if !strings.Contains(bar, want) {
			t.Errorf("status bar %q lacks %q", bar, want)
		}
	}

	// Type as a person would; the fake tty echoes and runs the line.
	if err := b.SendKeys("echo hi" + browsertest.Enter); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitFor(ctx, 10*time.Second, strings.Replace(bufferHas, "arguments[0]", `"hi"`, 1), describe); err != nil {
		t.Fatalf("the echo did not come back: %v", err)
	}
	wait(strings.Replace(bufferHas, "arguments[0]", `"root@web-12:~# echo hi"`, 1), "the typed line")

	png, err := b.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	shot := browsertest.Artifact(t, "console.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// The connection drops (agent restart): the page comes back with the
	// hello's reconnect token, and the terminal keeps its content.
	sess.c.Close(websocket.StatusGoingAway, "agent restarting")
	sess = fake.session(t)
	wait(`return window.xenagentConsole.hellos === 2 && window.xenagentConsole.state === 'connected'`, "reconnect")
	if seen := fake.tokensSeen(); len(seen) != 2 || seen[1] != "re1" {
		t.Errorf("tokens presented = %v, want [tok1 re1]", seen)
	}
	// The scrollback replaced the screen: the echo once, not twice.
	var hiLines int
	exec(&hiLines, `const b = window.xenagentTerm.buffer.active; let n = 0;
	  for (let i = 0; i < b.length; i++) { if (b.getLine(i).translateToString(true) === 'hi') n++; }
	  return n;`)
	if hiLines != 1 {
		t.Errorf("after the reconnect the terminal has %d lines \"hi\", want 1 (the scrollback once)", hiLines)
	}

	// The VM stops: a clear message, no reconnect loop.
	writeJSON(sess.ctx, sess.c, map[string]any{"type": "status", "state": "stopped", "message": "VM 12 stopped"})
	sess.c.Close(websocket.StatusNormalClosure, "stopped")
	wait(`return window.xenagentConsole.state === 'stopped'`, "stopped")
	var msg string
	exec(&msg, `return document.getElementById('message').innerText`)
	if !strings.Contains(msg, "VM 12 stopped") {
		t.Errorf("message after stop = %q", msg)
	}
	png, err = b.Screenshot()
	if err == nil {
		p := browsertest.Artifact(t, "console-stopped.png")
		os.WriteFile(p, png, 0o644)
		t.Logf("screenshot: %s", p)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the first backoff
	if seen := fake.tokensSeen(); len(seen) != 2 {
		t.Errorf("the page reconnected after the VM stopped: tokens %v", seen)
	}

	// A reader sees the output and says it is read-only; its keys are not sent.
	if err := b.Navigate(srv.URL + "/console/reader1"); err != nil {
		t.Fatal(err)
	}
	fake.session(t)
	wait(`return window.xenagentConsole.state === 'connected' && !window.xenagentConsole.writer`, "reader hello")
	wait(strings.Replace(bufferHas, "arguments[0]", `"hi"`, 1), "the reader's scrollback")
	exec(&bar, `return document.getElementById('bar').innerText`)
	if !strings.Contains(bar, "reader: read-only") {
		t.Errorf("status bar of a reader = %q", bar)
	}
	before := fake.typed()
	if err := b.SendKeys("ls" + browsertest.Enter); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if after := fake.typed(); after != before {
		t.Errorf("a reader's page sent keys %q", strings.TrimPrefix(after, before))
	}

	// A refused token: the error frame's message, no retry.
	if err := b.Navigate(srv.URL + "/console/used"); err != nil {
		t.Fatal(err)
	}
	wait(`return window.xenagentConsole.state === 'error'`, "error frame")
	exec(&msg, `return document.getElementById('message').innerText`)
	if !strings.Contains(msg, "console token already used") {
		t.Errorf("message after an error frame = %q", msg)
	}
	time.Sleep(1500 * time.Millisecond)
	if seen := fake.tokensSeen(); len(seen) != 4 {
		t.Errorf("the page retried a refused token: tokens %v", seen)
	}
	if png, err := b.Screenshot(); err == nil {
		p := browsertest.Artifact(t, "console-error.png")
		os.WriteFile(p, png, 0o644)
		t.Logf("screenshot: %s", p)
	}

	// A token the page itself refuses: HTTP 403, the reason, no script.
	if err := b.Navigate(srv.URL + "/console/expired"); err != nil {
		t.Fatal(err)
	}
	var text string
	exec(&text, `return document.body.innerText`)
	if !strings.Contains(text, "this console link expired") {
		t.Errorf("refused page = %q", text)
	}

	// Nothing the CSP blocked, no script error.
	logs, err := b.ConsoleLog()
	if err != nil {
		t.Logf("browser console log unavailable: %v", err)
	}
	for _, l := range logs {
		if strings.Contains(l, "Content Security Policy") || strings.HasPrefix(l, "SEVERE") && !strings.Contains(l, "403") {
			t.Errorf("browser console: %s", l)
		}
	}
}

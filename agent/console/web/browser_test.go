package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	resizes  []string // resize frames received
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
			f.mu.Lock()
			f.resizes = append(f.resizes, string(data))
			f.mu.Unlock()
			continue // a fake tty has no size
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
	p := &pageTest{t: t, b: browsertest.Start(t, 960, 540), fake: newFakeConsole("tok1", "reader1")}
	mux := http.NewServeMux()
	mux.Handle("GET /console/", web.Handler(func(_ context.Context, tok string) error {
		if tok == "expired" {
			return fmt.Errorf("this console link expired")
		}
		return nil
	}, nil))
	mux.Handle("GET /console/{token}/ws", p.fake)
	p.srv = httptest.NewServer(mux)
	defer p.srv.Close()

	// One flow, in the order a person meets it; each step starts where
	// the previous one left the page.
	sess := p.typeAndSeeEcho()
	sess = p.reconnect(sess)
	p.roleChanges(sess)
	p.stopped(sess)
	p.reader()
	p.refused()
	p.noBrowserErrors()
}

// pageTest is the browser, the fake console and the server of one test.
type pageTest struct {
	t    *testing.T
	b    *browsertest.Browser
	fake *fakeConsole
	srv  *httptest.Server
}

func (p *pageTest) open(path string) {
	p.t.Helper()
	if err := p.b.Navigate(p.srv.URL + path); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pageTest) wait(script, what string) {
	p.t.Helper()
	if err := p.b.WaitFor(context.Background(), 10*time.Second, script, describe); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// waitLine waits for a terminal line that is exactly line.
func (p *pageTest) waitLine(line, what string) {
	p.t.Helper()
	q, _ := json.Marshal(line)
	p.wait(strings.Replace(bufferHas, "arguments[0]", string(q), 1), what)
}

// text is the innerText of the element with that id.
func (p *pageTest) text(id string) string {
	p.t.Helper()
	var s string
	if err := p.b.Exec(&s, `return document.getElementById(arguments[0]).innerText`, id); err != nil {
		p.t.Fatal(err)
	}
	return s
}

func (p *pageTest) keys(s string) {
	p.t.Helper()
	if err := p.b.SendKeys(s); err != nil {
		p.t.Fatal(err)
	}
}

// typeAndSeeEcho: the hello fills the status bar; typed keys reach the
// console and its echo reaches the terminal. Keeps the screenshot.
func (p *pageTest) typeAndSeeEcho() *fakeSession {
	p.open("/console/tok1")
	sess := p.fake.session(p.t)
	p.wait(`return window.xenagentConsole.state === 'connected'`, "hello")
	bar := p.text("bar")
	for _, want := range []string{"web-12 (VM 12)", "connected", "writer"} {
		if !strings.Contains(bar, want) {
			p.t.Errorf("status bar %q lacks %q", bar, want)
		}
	}
	p.fake.mu.Lock()
	resizes := append([]string(nil), p.fake.resizes...)
	p.fake.mu.Unlock()
	if len(resizes) == 0 || !strings.Contains(resizes[0], `"type":"resize","cols":`) {
		p.t.Errorf("resize frames = %q, want the terminal's size after the hello", resizes)
	}

	// Type as a person would; the fake tty echoes and runs the line.
	p.keys("echo hi" + browsertest.Enter)
	p.waitLine("hi", "the echo")
	p.waitLine("root@web-12:~# echo hi", "the typed line")
	p.b.SaveScreenshot(p.t, "console.png")
	return sess
}

// reconnect: the session ends with a passing reason; the page says why,
// comes back with the hello's reconnect token and shows the scrollback once.
func (p *pageTest) reconnect(sess *fakeSession) *fakeSession {
	writeJSON(sess.ctx, sess.c, map[string]any{"type": "status", "state": "closed", "message": "the agent is shutting down"})
	sess.c.Close(websocket.StatusGoingAway, "agent restarting")
	p.wait(`return window.xenagentConsole.state === 'reconnecting' &&
	  document.getElementById('message').innerText.includes('the agent is shutting down')`, "reconnecting, saying why")
	sess = p.fake.session(p.t)
	p.wait(`return window.xenagentConsole.hellos === 2 && window.xenagentConsole.state === 'connected' &&
	  document.getElementById('message').hidden`, "reconnect")
	if seen := p.fake.tokensSeen(); len(seen) != 2 || seen[1] != "re1" {
		p.t.Errorf("tokens presented = %v, want [tok1 re1]", seen)
	}
	var hiLines int
	err := p.b.Exec(&hiLines, `const b = window.xenagentTerm.buffer.active; let n = 0;
	  for (let i = 0; i < b.length; i++) { if (b.getLine(i).translateToString(true) === 'hi') n++; }
	  return n;`)
	if err != nil || hiLines != 1 {
		p.t.Errorf("after the reconnect the terminal has %d lines \"hi\" (%v), want 1: the scrollback once", hiLines, err)
	}
	return sess
}

// roleChanges: another session takes the keyboard, then leaves.
func (p *pageTest) roleChanges(sess *fakeSession) {
	writeJSON(sess.ctx, sess.c, map[string]any{"type": "writer", "writer": false})
	p.wait(`return !window.xenagentConsole.writer && document.getElementById('role').innerText.startsWith('reader')`, "demoted to reader")
	writeJSON(sess.ctx, sess.c, map[string]any{"type": "writer", "writer": true})
	p.wait(`return window.xenagentConsole.writer && document.getElementById('role').innerText.startsWith('writer')`, "promoted to writer")
}

// stopped: the VM stops; a clear message and no reconnect loop.
func (p *pageTest) stopped(sess *fakeSession) {
	writeJSON(sess.ctx, sess.c, map[string]any{"type": "status", "state": "stopped", "message": "VM 12 stopped"})
	sess.c.Close(websocket.StatusNormalClosure, "stopped")
	p.wait(`return window.xenagentConsole.state === 'stopped'`, "stopped")
	if msg := p.text("message"); !strings.Contains(msg, "VM 12 stopped") {
		p.t.Errorf("message after stop = %q", msg)
	}
	p.b.SaveScreenshot(p.t, "console-stopped.png")
	time.Sleep(1500 * time.Millisecond) // longer than the first backoff
	if seen := p.fake.tokensSeen(); len(seen) != 2 {
		p.t.Errorf("the page reconnected after the VM stopped: tokens %v", seen)
	}
}

// reader: a reader sees the output and says it is read-only; its keys
// are not sent.
func (p *pageTest) reader() {
	p.open("/console/reader1")
	p.fake.session(p.t)
	p.wait(`return window.xenagentConsole.state === 'connected' && !window.xenagentConsole.writer`, "reader hello")
	p.waitLine("hi", "the reader's scrollback")
	if bar := p.text("bar"); !strings.Contains(bar, "reader: read-only") {
		p.t.Errorf("status bar of a reader = %q", bar)
	}
	before := p.fake.typed()
	p.keys("ls" + browsertest.Enter)
	time.Sleep(300 * time.Millisecond)
	if after := p.fake.typed(); after != before {
		p.t.Errorf("a reader's page sent keys %q", strings.TrimPrefix(after, before))
	}
}

// refused: the WebSocket's error frame is shown, without retries; a
// token the page itself refuses gets HTTP 403 and the reason.
func (p *pageTest) refused() {
	p.open("/console/used")
	p.wait(`return window.xenagentConsole.state === 'error'`, "error frame")
	if msg := p.text("message"); !strings.Contains(msg, "console token already used") {
		p.t.Errorf("message after an error frame = %q", msg)
	}
	time.Sleep(1500 * time.Millisecond)
	if seen := p.fake.tokensSeen(); len(seen) != 4 {
		p.t.Errorf("the page retried a refused token: tokens %v", seen)
	}
	p.b.SaveScreenshot(p.t, "console-error.png")

	p.open("/console/expired")
	if msg := p.text("message"); !strings.Contains(strings.ToLower(msg), "this console link expired") {
		p.t.Errorf("refused page = %q", msg)
	}
	p.b.SaveScreenshot(p.t, "console-refused.png")
}

// noBrowserErrors: nothing the CSP blocked, no script error (the 403 of
// the refused page is expected).
func (p *pageTest) noBrowserErrors() {
	logs, err := p.b.ConsoleLog()
	if err != nil {
		p.t.Logf("browser console log unavailable: %v", err)
	}
	for _, l := range logs {
		if strings.Contains(l, "Content Security Policy") || strings.HasPrefix(l, "SEVERE") && !strings.Contains(l, "403") {
			p.t.Errorf("browser console: %s", l)
		}
	}
}

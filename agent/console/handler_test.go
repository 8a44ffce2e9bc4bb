package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/agent/token"
)

// rig is a hub and handler over the fake hypervisor's echoing consoles,
// served on loopback; VM 1's domain runs.
type rig struct {
	t      *testing.T
	hv     *hostfake.Hypervisor
	hub    *Hub
	tokens *token.Issuer
	srv    *httptest.Server
	// refuse, when set, is what Authorize answers for VM 1 (the console
	// deactivated, the VM deleted).
	refuse atomic.Pointer[string]
}

func domainName(id int64) string { return fmt.Sprintf("xa-vm-%d", id) }

func newRig(t *testing.T) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{t: t, hv: hostfake.NewHypervisor(), tokens: token.NewIssuer(token.Limits{})}
	ctx := context.Background()
	for _, id := range []int64{1, 2} {
		if err := r.hv.Define(ctx, hosttest.DomainSpec(domainName(id), id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.hv.Start(ctx, domainName(1)); err != nil {
		t.Fatal(err)
	}
	r.hub = NewHub(Config{Recheck: 50 * time.Millisecond, Linger: 200 * time.Millisecond}, r.hv, r.hv, domainName, log)
	h := &Handler{Hub: r.hub, Tokens: r.tokens, Log: log, Authorize: func(vmID, account int64) (string, error) {
		if p := r.refuse.Load(); p != nil {
			return "", errors.New(*p)
		}
		return fmt.Sprintf("vm%d", vmID), nil
	}}
	mux := http.NewServeMux()
	h.Routes(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(func() { r.hub.Shutdown(); r.srv.Close() })
	return r
}

func (r *rig) token(vmID int64, ttl time.Duration) string {
	tok, _, err := r.tokens.Issue(token.Grant{Purpose: Purpose, VMID: vmID, Account: 7, TTL: ttl, SingleUse: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// client is a Go WebSocket client of the console, as the page is.
type client struct {
	t     *testing.T
	conn  *websocket.Conn
	hello map[string]any

	mu     sync.Mutex
	out    bytes.Buffer
	frames []map[string]any
	closed chan struct{}
	status websocket.StatusCode
}

// dial opens /console/{tok}/ws and reads the first text frame.
func dial(t *testing.T, base, tok string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(base, "http") + "/console/" + tok + "/ws"
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dialing %s: %v", url, err)
	}
	conn.SetReadLimit(1 << 20)
	c := &client{t: t, conn: conn, closed: make(chan struct{})}
	t.Cleanup(func() { conn.CloseNow() })
	go c.read()
	return c
}

func (c *client) read() {
	defer close(c.closed)
	for {
		typ, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.status = websocket.CloseStatus(err)
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		if typ == websocket.MessageBinary {
			c.out.Write(b)
		} else {
			var m map[string]any
			json.Unmarshal(b, &m)
			c.frames = append(c.frames, m)
		}
		c.mu.Unlock()
	}
}

// frame waits for the first text frame of type typ.
func (c *client) frame(typ string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, f := range c.frames {
			if f["type"] == typ {
				c.mu.Unlock()
				return f
			}
		}
		c.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t.Fatalf("no %q frame; got %v, output %q", typ, c.frames, c.out.String())
	return nil
}

func (c *client) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// waitOutput waits until the output contains want.
func (c *client) waitOutput(want string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(c.output(), want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no %q in the output %q", want, c.output())
}

func (c *client) typeIn(s string) {
	c.t.Helper()
	if err := c.conn.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// waitClosed waits for the server's close and returns its status.
func (c *client) waitClosed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		c.t.Fatal("the server did not close the session")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func TestRoundTripAndRoles(t *testing.T) {
	r := newRig(t)
	w := dial(t, r.srv.URL, r.token(1, time.Minute))
	hello := w.frame("hello")
	if hello["writer"] != true || hello["vm_id"] != float64(1) || hello["hostname"] != "vm1" || hello["reconnect"] == "" {
		t.Fatalf("first client's hello %v: want writer on vm 1 (vm1) with a reconnect token", hello)
	}
	w.typeIn("hello-writer\r")
	w.waitOutput("hello-writer")

	// A late joiner gets the scrollback first, and is a reader.
	rd := dial(t, r.srv.URL, r.token(1, time.Minute))
	if h := rd.frame("hello"); h["writer"] != false {
		t.Fatalf("second client's hello %v: want a reader", h)
	}
	rd.waitOutput("hello-writer")
	// A reader's keystrokes are dropped; the writer's reach both.
	rd.typeIn("from-reader\r")
	w.typeIn("after\r")
	w.waitOutput("after")
	rd.waitOutput("after")
	if strings.Contains(w.output(), "from-reader") {
		t.Fatalf("a reader's keystrokes reached the console: %q", w.output())
	}
	// The writer leaves: the reader is promoted.
	w.conn.Close(websocket.StatusNormalClosure, "")
	if f := rd.frame("writer"); f["writer"] != true {
		t.Fatalf("role frame %v: want writer", f)
	}
	rd.typeIn("promoted\r")
	rd.waitOutput("promoted")
}

func TestReconnectTokenOpensOnce(t *testing.T) {
	r := newRig(t)
	c := dial(t, r.srv.URL, r.token(1, time.Minute))
	again := c.frame("hello")["reconnect"].(string)
	c.conn.Close(websocket.StatusNormalClosure, "")
	c2 := dial(t, r.srv.URL, again)
	if h := c2.frame("hello"); h["vm_id"] != float64(1) {
		t.Fatalf("reconnect hello %v", h)
	}
	c3 := dial(t, r.srv.URL, again)
	if m := c3.frame("error")["message"].(string); !strings.Contains(m, "already used") {
		t.Fatalf("second use of a reconnect token: %q", m)
	}
}

func TestRefusals(t *testing.T) {
	r := newRig(t)
	expired := r.token(1, time.Millisecond)
	used := r.token(1, time.Minute)
	dial(t, r.srv.URL, used).frame("hello")
	time.Sleep(5 * time.Millisecond)
	tests := []struct {
		name, tok, want string
	}{
		{"expired", expired, "expired"},
		{"reused", used, "already used"},
		{"unknown", "not-a-token", "unknown"},
		{"stopped VM", r.token(2, time.Minute), "VM 2 is not running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, r.srv.URL, tt.tok)
			if m, _ := c.frame("error")["message"].(string); !strings.Contains(m, tt.want) {
				t.Errorf("error %q, want it to say %q", m, tt.want)
			}
			if st := c.waitClosed(); st != StatusRefused {
				t.Errorf("closed with %d, want %d", st, StatusRefused)
			}
		})
	}
	t.Run("refused right", func(t *testing.T) {
		why := "console: deactivated on vm 1"
		r.refuse.Store(&why)
		defer r.refuse.Store(nil)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		if m := c.frame("error")["message"]; m != why {
			t.Errorf("error %q, want %q", m, why)
		}
	})
	t.Run("page", func(t *testing.T) {
		// (A token found expired is dropped: a fresh one here.)
		gone := r.token(1, time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		resp, err := http.Get(r.srv.URL + "/console/" + gone)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "expired") {
			t.Errorf("page for an expired token: %d %q", resp.StatusCode, b)
		}
		ok := r.token(1, time.Minute)
		resp, err = http.Get(r.srv.URL + "/console/" + ok)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("page for a valid token: %d", resp.StatusCode)
		}
		// Peeking did not use it.
		dial(t, r.srv.URL, ok).frame("hello")
	})
}

func TestSessionsEnd(t *testing.T) {
	t.Run("VM stops", func(t *testing.T) {
		r := newRig(t)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		c.frame("hello")
		r.hv.Destroy(context.Background(), domainName(1))
		st := c.frame("status")
		if st["state"] != "stopped" || st["message"] != "VM 1 stopped" {
			t.Errorf("status %v, want stopped: VM 1 stopped", st)
		}
		c.waitClosed()
	})
	t.Run("right ends (console deactivated)", func(t *testing.T) {
		r := newRig(t)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		c.frame("hello")
		why := "console: deactivated on vm 1"
		r.refuse.Store(&why)
		if st := c.frame("status"); st["state"] != "closed" || st["message"] != why {
			t.Errorf("status %v, want closed: %s", st, why)
		}
		c.waitClosed()
	})
	t.Run("Close", func(t *testing.T) {
		r := newRig(t)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		c.frame("hello")
		r.hub.Close(1, "VM 1 deleted")
		if st := c.frame("status"); st["message"] != "VM 1 deleted" {
			t.Errorf("status %v", st)
		}
		c.waitClosed()
		if n := r.hub.Clients(1); n != 0 {
			t.Errorf("%d clients left", n)
		}
	})
}

func TestTooManyClients(t *testing.T) {
	r := newRig(t)
	r.hub.cfg.MaxClients = 2
	for range 2 {
		dial(t, r.srv.URL, r.token(1, time.Minute)).frame("hello")
	}
	c := dial(t, r.srv.URL, r.token(1, time.Minute))
	if m, _ := c.frame("error")["message"].(string); !strings.Contains(m, "too many clients") {
		t.Errorf("third client: %q", m)
	}
}

var _ host.Console = (*hostfake.Hypervisor)(nil)

package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/xenagent/xenagent/agent/console/consoletest"
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

// dial opens a session on tok.
func dial(t *testing.T, base, tok string) *consoletest.Client {
	t.Helper()
	return consoletest.Dial(t, base+"/console/"+tok)
}

func TestRoundTripAndRoles(t *testing.T) {
	r := newRig(t)
	w := dial(t, r.srv.URL, r.token(1, time.Minute))
	hello := w.Frame("hello")
	if hello["writer"] != true || hello["vm_id"] != float64(1) || hello["hostname"] != "vm1" || hello["reconnect"] == "" {
		t.Fatalf("first client's hello %v: want writer on vm 1 (vm1) with a reconnect token", hello)
	}
	w.Type("hello-writer\r")
	w.WaitOutput("hello-writer", 0)

	// A late joiner gets the scrollback first, and is a reader.
	rd := dial(t, r.srv.URL, r.token(1, time.Minute))
	if h := rd.Frame("hello"); h["writer"] != false {
		t.Fatalf("second client's hello %v: want a reader", h)
	}
	rd.WaitOutput("hello-writer", 0)
	// A reader's keystrokes are dropped; the writer's reach both.
	rd.Type("from-reader\r")
	w.Type("after\r")
	w.WaitOutput("after", 0)
	rd.WaitOutput("after", 0)
	if strings.Contains(w.Output(), "from-reader") {
		t.Fatalf("a reader's keystrokes reached the console: %q", w.Output())
	}
	// The writer leaves: the reader is promoted.
	w.Conn.Close(websocket.StatusNormalClosure, "")
	if f := rd.Frame("writer"); f["writer"] != true {
		t.Fatalf("role frame %v: want writer", f)
	}
	rd.Type("promoted\r")
	rd.WaitOutput("promoted", 0)
}

func TestReconnectTokenOpensOnce(t *testing.T) {
	r := newRig(t)
	c := dial(t, r.srv.URL, r.token(1, time.Minute))
	again := c.Frame("hello")["reconnect"].(string)
	c.Conn.Close(websocket.StatusNormalClosure, "")
	c2 := dial(t, r.srv.URL, again)
	if h := c2.Frame("hello"); h["vm_id"] != float64(1) {
		t.Fatalf("reconnect hello %v", h)
	}
	c3 := dial(t, r.srv.URL, again)
	if m := c3.Frame("error")["message"].(string); !strings.Contains(m, "already used") {
		t.Fatalf("second use of a reconnect token: %q", m)
	}
}

func TestRefusals(t *testing.T) {
	r := newRig(t)
	expired := r.token(1, time.Millisecond)
	used := r.token(1, time.Minute)
	dial(t, r.srv.URL, used).Frame("hello")
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
			if m, _ := c.Frame("error")["message"].(string); !strings.Contains(m, tt.want) {
				t.Errorf("error %q, want it to say %q", m, tt.want)
			}
			if st := c.WaitClosed(); st != StatusRefused {
				t.Errorf("closed with %d, want %d", st, StatusRefused)
			}
		})
	}
	t.Run("refused right", func(t *testing.T) {
		why := "console: deactivated on vm 1"
		r.refuse.Store(&why)
		defer r.refuse.Store(nil)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		if m := c.Frame("error")["message"]; m != why {
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
		dial(t, r.srv.URL, ok).Frame("hello")
	})
}

func TestSessionsEnd(t *testing.T) {
	t.Run("VM stops", func(t *testing.T) {
		r := newRig(t)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		c.Frame("hello")
		r.hv.Destroy(context.Background(), domainName(1))
		st := c.Frame("status")
		if st["state"] != "stopped" || st["message"] != "VM 1 stopped" {
			t.Errorf("status %v, want stopped: VM 1 stopped", st)
		}
		c.WaitClosed()
	})
	t.Run("right ends (console deactivated)", func(t *testing.T) {
		r := newRig(t)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		c.Frame("hello")
		why := "console: deactivated on vm 1"
		r.refuse.Store(&why)
		if st := c.Frame("status"); st["state"] != "closed" || st["message"] != why {
			t.Errorf("status %v, want closed: %s", st, why)
		}
		c.WaitClosed()
	})
	t.Run("Close", func(t *testing.T) {
		r := newRig(t)
		c := dial(t, r.srv.URL, r.token(1, time.Minute))
		c.Frame("hello")
		r.hub.Close(1, "VM 1 deleted")
		if st := c.Frame("status"); st["message"] != "VM 1 deleted" {
			t.Errorf("status %v", st)
		}
		c.WaitClosed()
		if n := r.hub.Clients(1); n != 0 {
			t.Errorf("%d clients left", n)
		}
	})
}

func TestTooManyClients(t *testing.T) {
	r := newRig(t)
	r.hub.cfg.MaxClients = 2
	for range 2 {
		dial(t, r.srv.URL, r.token(1, time.Minute)).Frame("hello")
	}
	c := dial(t, r.srv.URL, r.token(1, time.Minute))
	if m, _ := c.Frame("error")["message"].(string); !strings.Contains(m, "too many clients") {
		t.Errorf("third client: %q", m)
	}
}

var _ host.Console = (*hostfake.Hypervisor)(nil)

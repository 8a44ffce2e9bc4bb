// Package consoletest is a WebSocket client of the agent's console
// protocol for tests (agent/console, the Gandi face's QEMU tests, the
// lab): it records the terminal output and the text frames, and waits
// for them with generous timeouts and messages that show what came.
package consoletest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Wait bounds every wait of a Client unless a call says otherwise.
var Wait = 20 * time.Second

// Client is one console session, as the page holds it.
type Client struct {
	t    testing.TB
	Conn *websocket.Conn

	mu     sync.Mutex
	out    bytes.Buffer
	frames []map[string]any
	closed chan struct{}
	status websocket.StatusCode
}

// WSURL turns a console link (http(s)://host/console/TOKEN) into its
// WebSocket URL.
func WSURL(link string) string {
	return "ws" + strings.TrimPrefix(strings.TrimRight(link, "/"), "http") + "/ws"
}

// Dial opens the WebSocket of a console link and starts reading.
func Dial(t testing.TB, link string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, WSURL(link), nil)
	if err != nil {
		t.Fatalf("dialing %s: %v", WSURL(link), err)
	}
	conn.SetReadLimit(1 << 20)
	c := &Client{t: t, Conn: conn, closed: make(chan struct{})}
	t.Cleanup(func() { conn.CloseNow() })
	go c.read()
	return c
}

func (c *Client) read() {
	defer close(c.closed)
	for {
		typ, b, err := c.Conn.Read(context.Background())
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

// Frame waits for the first text frame of type typ.
func (c *Client) Frame(typ string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(Wait)
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
	c.t.Fatalf("no %q frame after %v; frames %v, output %q", typ, Wait, c.frames, c.out.String())
	return nil
}

// Frames are the text frames received so far.
func (c *Client) Frames() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.frames...)
}

// Output is the terminal output received so far.
func (c *Client) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// WaitOutput waits until the output contains want, for d (Wait when 0).
func (c *Client) WaitOutput(want string, d time.Duration) {
	c.t.Helper()
	if d == 0 {
		d = Wait
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(c.Output(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no %q in the console output after %v; output %q, frames %v", want, d, c.Output(), c.Frames())
}

// Type sends keystrokes (a binary frame).
func (c *Client) Type(s string) {
	c.t.Helper()
	if err := c.Conn.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		c.t.Fatalf("typing %q: %v", s, err)
	}
}

// WaitClosed waits for the server to close the session and returns its
// close status.
func (c *Client) WaitClosed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(Wait):
		c.t.Fatalf("the server did not close the session within %v; frames %v", Wait, c.Frames())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

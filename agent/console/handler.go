package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/xenagent/xenagent/agent/token"
)

// Purpose is the token purpose of console links.
const Purpose = "console"

// StatusRefused closes a WebSocket whose token or right was refused,
// after an error frame saying why (the page shows it and does not
// reconnect).
const StatusRefused websocket.StatusCode = 4403

// Authorizer says whether account (0: the operator) may open VM vmID's
// console now, and the VM's hostname for the hello. The handler asks
// it when a session opens and the hub again every second while it runs.
type Authorizer func(vmID, account int64) (hostname string, err error)

// Handler serves GET /console/{token} (the page) and
// GET /console/{token}/ws (the WebSocket).
type Handler struct {
	Hub       *Hub
	Tokens    *token.Issuer
	Authorize Authorizer
	// Page serves the terminal page for a valid token; nil serves a
	// minimal placeholder (agent/console/web serves the real one).
	Page http.Handler
	// ReconnectTTL is how long the hello's reconnect token lives (1 h):
	// a page reconnects with it after a network blip, once.
	ReconnectTTL time.Duration
	Log          *slog.Logger
}

// Routes adds the handler's routes to mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/{token}", h.servePage)
	mux.HandleFunc("GET /console/{token}/ws", h.serveWS)
}

// refusal is what a person reads when a token is refused.
func refusal(err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return "this console link expired (links live 2 minutes): ask for a new one (hosting.vm.info console_url, or xenagentctl console)"
	case errors.Is(err, token.ErrUsed):
		return "this console link was already used (each link opens one session): ask for a new one"
	case errors.Is(err, token.ErrUnknown), errors.Is(err, token.ErrPurpose):
		return "this console link is unknown (revoked, deactivated, or issued before the agent restarted): ask for a new one"
	}
	return err.Error()
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if _, err := h.Tokens.Peek(Purpose, r.PathValue("token")); err != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		refusedPage.Execute(w, refusal(err))
		return
	}
	if h.Page != nil {
		h.Page.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(placeholderPage))
}

var refusedPage = template.Must(template.New("refused").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Console refused</title></head>
<body><h1>Console refused</h1><p id="error">{{.}}</p></body></html>
`))

// placeholderPage is a bare terminal-less page, until the real one
// (xterm.js, agent/console/web) is plugged in as Page.
const placeholderPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>Console</title></head>
<body><p id="status">connecting…</p><pre id="out"></pre>
<input id="in" placeholder="type a line, Enter sends it" size="60">
<script>
const out = document.getElementById('out'), status = document.getElementById('status');
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + location.pathname.replace(/\/$/, '') + '/ws');
ws.binaryType = 'arraybuffer';
const dec = new TextDecoder();
ws.onmessage = (e) => {
  if (typeof e.data !== 'string') { out.textContent += dec.decode(e.data, {stream: true}); return; }
  const m = JSON.parse(e.data);
  if (m.type === 'hello') status.textContent = 'VM ' + m.vm_id + ' (' + m.hostname + '): ' + (m.writer ? 'writer' : 'reader');
  else if (m.type === 'writer') status.textContent = m.writer ? 'writer' : 'reader';
  else status.textContent = m.message;
};
ws.onclose = () => { if (status.textContent.startsWith('VM') || status.textContent === 'writer' || status.textContent === 'reader') status.textContent = 'disconnected'; };
document.getElementById('in').onkeydown = (e) => {
  if (e.key === 'Enter') { ws.send(new TextEncoder().encode(e.target.value + '\r')); e.target.value = ''; }
};
</script></body></html>
`

// Frames of the protocol (issue 12): server → client text frames.
type (
	helloFrame struct {
		Type      string `json:"type"` // "hello"
		VMID      int64  `json:"vm_id"`
		Hostname  string `json:"hostname"`
		Writer    bool   `json:"writer"`
		Reconnect string `json:"reconnect"`
	}
	writerFrame struct {
		Type   string `json:"type"` // "writer"
		Writer bool   `json:"writer"`
	}
	statusFrame struct {
		Type    string `json:"type"` // "status"
		State   string `json:"state"`
		Message string `json:"message"`
	}
	errorFrame struct {
		Type    string `json:"type"` // "error"
		Message string `json:"message"`
	}
)

// writeTimeout bounds each frame sent: a client that stops reading is
// cut off rather than holding its goroutine.
const writeTimeout = 10 * time.Second

func (h *Handler) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the request
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	g, err := h.Tokens.Redeem(Purpose, r.PathValue("token"))
	if err != nil {
		h.refuse(ctx, conn, refusal(err))
		return
	}
	hostname, err := h.Authorize(g.VMID, g.Account)
	if err != nil {
		h.refuse(ctx, conn, err.Error())
		return
	}
	c, err := h.Hub.Join(ctx, g.VMID, func() error { _, err := h.Authorize(g.VMID, g.Account); return err })
	if err != nil {
		h.refuse(ctx, conn, err.Error())
		return
	}
	defer c.Leave()
	ttl := h.ReconnectTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	again, _, err := h.Tokens.Issue(token.Grant{Purpose: Purpose, VMID: g.VMID, Account: g.Account, TTL: ttl, SingleUse: true})
	if err != nil {
		h.refuse(ctx, conn, fmt.Sprintf("issuing a reconnect token: %v", err))
		return
	}
	if err := writeJSON(ctx, conn, helloFrame{Type: "hello", VMID: g.VMID, Hostname: hostname, Writer: c.Writer(), Reconnect: again}); err != nil {
		return
	}
	h.log().Info("console session", "vm_id", g.VMID, "account", g.Account, "writer", c.Writer(), "remote", r.RemoteAddr)
	go h.readLoop(ctx, cancel, conn, c)
	h.writeLoop(ctx, conn, c)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// refuse tells the client why, then closes with StatusRefused.
func (h *Handler) refuse(ctx context.Context, conn *websocket.Conn, msg string) {
	_ = writeJSON(ctx, conn, errorFrame{Type: "error", Message: msg})
	conn.Close(StatusRefused, reason(msg))
}

// reason fits a close reason into a control frame (123 bytes).
func reason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

func writeJSON(ctx context.Context, conn *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, b)
}

// readLoop types the client's binary frames (dropped unless it writes)
// and reads its text frames (resize: ignored, the serial line has no
// size); it ends the session when the client goes.
func (h *Handler) readLoop(ctx context.Context, cancel func(), conn *websocket.Conn, c *Client) {
	defer cancel()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			if _, err := c.Write(b); err != nil {
				h.log().Warn("typing into a console", "err", err)
			}
		}
	}
}

// writeLoop sends the hub's messages until the session ends.
func (h *Handler) writeLoop(ctx context.Context, conn *websocket.Conn, c *Client) {
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, writeTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return
			}
		case m, ok := <-c.Out():
			if !ok {
				conn.Close(websocket.StatusNormalClosure, "")
				return
			}
			var err error
			switch m.Kind {
			case MsgOutput:
				wctx, wcancel := context.WithTimeout(ctx, writeTimeout)
				err = conn.Write(wctx, websocket.MessageBinary, m.Data)
				wcancel()
			case MsgRole:
				err = writeJSON(ctx, conn, writerFrame{Type: "writer", Writer: m.Writer})
			case MsgStatus:
				_ = writeJSON(ctx, conn, statusFrame{Type: "status", State: m.State, Message: m.Text})
				conn.Close(websocket.StatusNormalClosure, reason(m.Text))
				return
			}
			if err != nil {
				return
			}
		}
	}
}

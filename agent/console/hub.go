package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

// Config bounds a Hub.
type Config struct {
	// Scrollback is the output kept per VM for late joiners (64 KiB).
	Scrollback int
	// MaxClients per VM (16); one more is refused.
	MaxClients int
	// Recheck is how often each client's check runs again (1 s).
	Recheck time.Duration
	// Linger keeps a VM's stream (and its scrollback) open this long
	// after its last client left, so that a page reconnecting after a
	// network blip sees what it missed (30 s).
	Linger time.Duration
	// Queue is the frames a client may have pending before it is cut
	// off as too slow (1024): a stalled browser must not stall the VM's
	// other clients.
	Queue int
}

func (c *Config) defaults() {
	if c.Scrollback <= 0 {
		c.Scrollback = 64 << 10
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 16
	}
	if c.Recheck <= 0 {
		c.Recheck = time.Second
	}
	if c.Linger <= 0 {
		c.Linger = 30 * time.Second
	}
	if c.Queue <= 0 {
		c.Queue = 1024
	}
}

// Errors Join returns; classify with errors.Is.
var (
	ErrTooManyClients = errors.New("too many clients on this console")
	ErrClosed         = errors.New("console hub closed")
)

// Hub shares one console stream per VM between its clients.
type Hub struct {
	cfg  Config
	cons host.Console
	hv   host.Hypervisor
	name func(vmID int64) string
	log  *slog.Logger

	mu      sync.Mutex
	vms     map[int64]*vmConsole
	opening map[int64]chan struct{} // closed when the open ends
	closed  bool
}

// NewHub makes a hub over cons; hv tells it when a VM stops and name
// maps a VM id to its domain name.
func NewHub(cfg Config, cons host.Console, hv host.Hypervisor, name func(int64) string, log *slog.Logger) *Hub {
	cfg.defaults()
	return &Hub{cfg: cfg, cons: cons, hv: hv, name: name, log: log, vms: map[int64]*vmConsole{}, opening: map[int64]chan struct{}{}}
}

// MsgKind is what a Msg carries.
type MsgKind int

const (
	// MsgOutput is terminal output (Data).
	MsgOutput MsgKind = iota + 1
	// MsgRole: the client's role changed (Writer).
	MsgRole
	// MsgStatus ends the session: State ("stopped", "closed") and Text.
	MsgStatus
)

// Msg is one thing the hub tells a client.
type Msg struct {
	Kind   MsgKind
	Data   []byte
	Writer bool
	State  string
	Text   string
}

// Client is one session on a VM's console.
type Client struct {
	vm    *vmConsole
	check func() error
	out   chan Msg

	// under vm.mu
	writer bool
	gone   bool
}

// Out delivers the client's messages; it is closed after a MsgStatus
// (or when the client leaves).
func (c *Client) Out() <-chan Msg { return c.out }

// Writer reports whether the client is the writer now.
func (c *Client) Writer() bool {
	c.vm.mu.Lock()
	defer c.vm.mu.Unlock()
	return c.writer
}

// Write types p into the console if the client is the writer; a
// reader's keystrokes are dropped (false).
func (c *Client) Write(p []byte) (bool, error) {
	c.vm.mu.Lock()
	w := c.writer && !c.gone
	c.vm.mu.Unlock()
	if !w {
		return false, nil
	}
	c.vm.wmu.Lock()
	defer c.vm.wmu.Unlock()
	_, err := c.vm.stream.Write(p)
	return true, err
}

// Leave ends the client's session; the oldest reader becomes the writer
// if it was.
func (c *Client) Leave() { c.vm.leave(c) }

// vmConsole is one VM's shared stream and its clients.
type vmConsole struct {
	hub    *Hub
	id     int64
	name   string
	stream io.ReadWriteCloser
	wmu    sync.Mutex // one write into the stream at a time

	mu      sync.Mutex
	ring    *ring
	clients []*Client // in join order
	ended   bool
	linger  *time.Timer
	stop    chan struct{}
}

// Join opens (or shares) the console of VM vmID for a new client. check
// is the client's right to stay, asked again every Recheck: an error
// ends its session with that message. The first client is the writer.
func (h *Hub) Join(ctx context.Context, vmID int64, check func() error) (*Client, error) {
	c := &Client{check: check, out: make(chan Msg, h.cfg.Queue)}
	for {
		v, err := h.console(ctx, vmID)
		if err != nil {
			return nil, err
		}
		switch err := v.add(c); {
		case errors.Is(err, errEnded):
			continue // it ended just now: open it again
		case err != nil:
			return nil, err
		}
		return c, nil
	}
}

var errEnded = errors.New("console ended")

// refused is a refusal a person reads as it is (the page shows it),
// without the hypervisor's wording, which stays reachable for errors.Is.
type refused struct {
	msg string
	err error
}

func (r *refused) Error() string { return r.msg }
func (r *refused) Unwrap() error { return r.err }

// console returns VM vmID's open console, opening it if none is. One
// open at a time per VM: libvirt's forced open would take the console
// from a stream a concurrent Join had just opened.
func (h *Hub) console(ctx context.Context, vmID int64) (*vmConsole, error) {
	h.mu.Lock()
	for {
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		if v := h.vms[vmID]; v != nil {
			h.mu.Unlock()
			return v, nil
		}
		wait, busy := h.opening[vmID]
		if !busy {
			break
		}
		h.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		h.mu.Lock()
	}
	done := make(chan struct{})
	h.opening[vmID] = done
	h.mu.Unlock()
	v, err := h.open(ctx, vmID)
	h.mu.Lock()
	delete(h.opening, vmID)
	close(done)
	if err == nil {
		h.vms[vmID] = v
	}
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	events, stopWatch := h.hv.Watch(v.name)
	go v.pump()
	go v.watch(events, stopWatch)
	h.log.Info("console opened", "vm_id", vmID)
	return v, nil
}

// open opens VM vmID's stream.
func (h *Hub) open(ctx context.Context, vmID int64) (*vmConsole, error) {
	name := h.name(vmID)
	stream, err := h.cons.OpenConsole(ctx, name)
	if err != nil {
		switch {
		case errors.Is(err, host.ErrNotRunning):
			return nil, &refused{fmt.Sprintf("VM %d is not running: start it to use its console", vmID), err}
		case errors.Is(err, host.ErrNoDomain):
			return nil, &refused{fmt.Sprintf("VM %d has no domain on this host", vmID), err}
		}
		return nil, fmt.Errorf("opening the console of VM %d: %w", vmID, err)
	}
	return &vmConsole{hub: h, id: vmID, name: name, stream: stream, ring: newRing(h.cfg.Scrollback), stop: make(chan struct{})}, nil
}

// Close ends every session on VM vmID (the console deactivated, the VM
// deleted), each with a status saying why.
func (h *Hub) Close(vmID int64, why string) {
	h.mu.Lock()
	v := h.vms[vmID]
	h.mu.Unlock()
	if v != nil {
		v.end("closed", why)
	}
}

// Shutdown ends every session (the agent stopping).
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closed = true
	vms := make([]*vmConsole, 0, len(h.vms))
	for _, v := range h.vms {
		vms = append(vms, v)
	}
	h.mu.Unlock()
	for _, v := range vms {
		v.end("closed", "the agent is shutting down")
	}
}

// Clients is how many clients VM vmID's console has (for tests, metrics).
func (h *Hub) Clients(vmID int64) int {
	h.mu.Lock()
	v := h.vms[vmID]
	h.mu.Unlock()
	if v == nil {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.clients)
}

func (v *vmConsole) add(c *Client) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.ended:
		return errEnded
	case len(v.clients) >= v.hub.cfg.MaxClients:
		return fmt.Errorf("VM %d: %w (at most %d)", v.id, ErrTooManyClients, v.hub.cfg.MaxClients)
	}
	if v.linger != nil {
		v.linger.Stop()
		v.linger = nil
	}
	c.vm = v
	c.writer = len(v.clients) == 0
	v.clients = append(v.clients, c)
	if b := v.ring.Bytes(); len(b) > 0 {
		c.out <- Msg{Kind: MsgOutput, Data: b}
	}
	return nil
}

// sendLocked queues m for c; a client too slow to take it is cut off.
func (v *vmConsole) sendLocked(c *Client, m Msg) {
	if c.gone {
		return
	}
	select {
	case c.out <- m:
	default:
		v.dropLocked(c, Msg{Kind: MsgStatus, State: "closed", Text: "this client fell too far behind the console's output"})
	}
}

// dropLocked removes c, telling it last why, and promotes the oldest
// reader if c wrote.
func (v *vmConsole) dropLocked(c *Client, last Msg) {
	if c.gone {
		return
	}
	c.gone = true
	if last.Kind != 0 {
		select {
		case c.out <- last:
		default:
			// Full: the status is lost, the close still says it ended.
		}
	}
	close(c.out)
	for i, o := range v.clients {
		if o == c {
			v.clients = append(v.clients[:i], v.clients[i+1:]...)
			break
		}
	}
	if c.writer && len(v.clients) > 0 {
		c.writer = false
		next := v.clients[0]
		next.writer = true
		v.sendLocked(next, Msg{Kind: MsgRole, Writer: true})
	}
	if len(v.clients) == 0 && !v.ended {
		v.linger = time.AfterFunc(v.hub.cfg.Linger, v.endIfIdle)
	}
}

func (v *vmConsole) leave(c *Client) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropLocked(c, Msg{})
}

// pump copies the guest's output to the scrollback and the clients
// until the stream ends.
func (v *vmConsole) pump() {
	buf := make([]byte, 16<<10)
	for {
		n, err := v.stream.Read(buf)
		if n > 0 {
			b := append([]byte(nil), buf[:n]...)
			v.mu.Lock()
			v.ring.Write(b)
			for _, c := range append([]*Client(nil), v.clients...) {
				v.sendLocked(c, Msg{Kind: MsgOutput, Data: b})
			}
			v.mu.Unlock()
		}
		if err != nil {
			v.streamEnded(err)
			return
		}
	}
}

// streamEnded says why the stream ended: the VM stopped, most often.
func (v *vmConsole) streamEnded(err error) {
	// The stream ends before libvirt reports the domain stopped: give
	// the stop a moment to show.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, serr := v.hub.hv.WaitFor(ctx, v.name, func(s host.State) bool { return !s.Running })
	switch {
	case serr == nil && !st.Running:
		v.end("stopped", fmt.Sprintf("VM %d stopped", v.id))
	case errors.Is(err, io.EOF):
		v.end("closed", fmt.Sprintf("the console of VM %d closed", v.id))
	default:
		v.end("closed", fmt.Sprintf("the console of VM %d failed: %v", v.id, err))
	}
}

// watch ends the sessions when the VM stops, and re-checks each
// client's right every Recheck.
func (v *vmConsole) watch(events <-chan host.Event, stopWatch func()) {
	defer stopWatch()
	tick := time.NewTicker(v.hub.cfg.Recheck)
	defer tick.Stop()
	for {
		select {
		case <-v.stop:
			return
		case ev := <-events:
			switch ev.Kind {
			case host.EventStopped, host.EventUndefined:
				v.end("stopped", fmt.Sprintf("VM %d stopped", v.id))
				return
			case host.EventResync:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				st, err := v.hub.hv.State(ctx, v.name)
				cancel()
				if err == nil && !st.Running {
					v.end("stopped", fmt.Sprintf("VM %d stopped", v.id))
					return
				}
			}
		case <-tick.C:
			v.recheck()
		}
	}
}

func (v *vmConsole) recheck() {
	v.mu.Lock()
	clients := append([]*Client(nil), v.clients...)
	v.mu.Unlock()
	for _, c := range clients {
		if c.check == nil {
			continue
		}
		if err := c.check(); err != nil {
			v.mu.Lock()
			v.dropLocked(c, Msg{Kind: MsgStatus, State: "closed", Text: err.Error()})
			v.mu.Unlock()
		}
	}
}

// endIfIdle closes the stream when no client came back meanwhile.
func (v *vmConsole) endIfIdle() {
	v.endIf("closed", "no clients", func() bool { return len(v.clients) == 0 })
}

// end closes the stream and every session with a status.
func (v *vmConsole) end(state, text string) { v.endIf(state, text, nil) }

// endIf ends when cond (asked under the lock) holds, or always without it.
func (v *vmConsole) endIf(state, text string, cond func() bool) {
	v.mu.Lock()
	if v.ended || (cond != nil && !cond()) {
		v.mu.Unlock()
		return
	}
	v.ended = true
	if v.linger != nil {
		v.linger.Stop()
	}
	for _, c := range append([]*Client(nil), v.clients...) {
		v.dropLocked(c, Msg{Kind: MsgStatus, State: state, Text: text})
	}
	close(v.stop)
	v.mu.Unlock()
	v.hub.mu.Lock()
	if v.hub.vms[v.id] == v {
		delete(v.hub.vms, v.id)
	}
	v.hub.mu.Unlock()
	v.stream.Close()
	v.hub.log.Info("console closed", "vm_id", v.id, "state", state, "why", text)
}

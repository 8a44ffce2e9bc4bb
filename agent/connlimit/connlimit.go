// Package connlimit wraps a net.Listener so that clients cannot take the
// file descriptors the agent's operations need.
//
// It keeps at most Max connections open and at most PerSource from one
// source (an IPv4 address, an IPv6 /64: one host can hold a whole /64).
// A connection beyond a source's share is closed as soon as it is
// accepted. When the total is reached, a connection that is not serving
// a request (never sent one, or idle between two) is closed to make
// room: the oldest of the source holding the most connections, the
// newcomer's own source counted with it. A flood of silent connections
// from many sources then cycles its own connections and cannot push out
// a client that holds one or two. When every connection is busy, the
// request active longest of the biggest source is cut if it has been
// active more than Grace (every API call answers in milliseconds, so a
// request that long is a body trickled a byte at a time: without this,
// slow bodies from many sources would hold every place until the
// server's read timeout); when none has, the new connection is closed.
//
// Idle tracking needs the http.Server to report connection states: set
// its ConnState to the listener's ConnState. Without it every connection
// counts as idle from accept on.
//
// A request that is long by design, and authorised (a migration's disk
// stream, which keeps its own idle deadline per frame), is no slow body:
// its handler calls Long, and the request is never cut to make room.
// That needs the server's ConnContext set to the listener's.
//
// Accept itself needs a descriptor for an instant, which is why the
// caller keeps Max below RLIMIT_NOFILE with a reserve.
package connlimit

import (
	"container/list"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds the listener.
type Config struct {
	Max       int
	PerSource int
	// Log gets at most one warning per LogEvery while connections are
	// refused or reclaimed (a flood must not flood the log too).
	Log      *slog.Logger
	LogEvery time.Duration
	// Grace is how long a request may be active before its connection can
	// be reclaimed when full (default 2s).
	Grace time.Duration
	// Now is the clock (tests); time.Now if nil.
	Now func() time.Time
}

// DefaultGrace is Config.Grace's default.
const DefaultGrace = 2 * time.Second

// Stats counts what the listener did since it started.
type Stats struct {
	Open             int
	RefusedPerSource int64 // closed at accept: the source had its share
	RefusedFull      int64 // closed at accept: every connection busy
	Reclaimed        int64 // idle connections closed to make room
	ReclaimedSlow    int64 // connections active beyond Grace closed to make room
}

// Listener is a net.Listener with connection limits.
type Listener struct {
	net.Listener
	cfg Config

	mu       sync.Mutex
	open     int
	bySource map[netip.Prefix]int
	order    *list.List // of *conn, oldest first
	stats    Stats
	lastLog  time.Time
	logged   Stats
}

// New wraps ln.
func New(ln net.Listener, cfg Config) *Listener {
	if cfg.Max < 1 {
		cfg.Max = 1
	}
	if cfg.PerSource < 1 || cfg.PerSource > cfg.Max {
		cfg.PerSource = cfg.Max
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 10 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Listener{Listener: ln, cfg: cfg, bySource: map[netip.Prefix]int{}, order: list.New()}
}

// Source is the key connections are counted under: an IPv4 address, or
// the /64 of an IPv6 one.
func Source(addr net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		ip = ap.Addr()
	}
	return SourceOf(ip)
}

// SourceOf is Source for an address.
func SourceOf(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Accept returns the next connection within the limits; the others are
// closed here and never reach the server.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := Source(c.RemoteAddr())
		l.mu.Lock()
		var victim *conn
		switch {
		case l.bySource[src] >= l.cfg.PerSource:
			l.stats.RefusedPerSource++
			l.mu.Unlock()
			c.Close()
			l.maybeLog()
			continue
		case l.open >= l.cfg.Max:
			if victim = l.victimLocked(src); victim == nil {
				l.stats.RefusedFull++
				l.mu.Unlock()
				c.Close()
				l.maybeLog()
				continue
			}
			l.releaseLocked(victim)
			if victim.active.Load() != 0 {
				l.stats.ReclaimedSlow++
			} else {
				l.stats.Reclaimed++
			}
		}
		tc := &conn{Conn: c, l: l, src: src}
		l.open++
		l.bySource[src]++
		tc.elem = l.order.PushBack(tc)
		l.mu.Unlock()
		if victim != nil {
			victim.Conn.Close()
			l.maybeLog()
		}
		return tc, nil
	}
}

// victimLocked is the connection to close for a newcomer from src: the
// oldest idle one of the source with the most connections (src counted
// with the newcomer), if that source holds no fewer than src would with
// the newcomer; failing that, of the source with the most, the one
// whose request has been active longest, if longer than Grace. Linear,
// but it runs only when full.
func (l *Listener) victimLocked(src netip.Prefix) *conn {
	var idle, slow *conn
	mostIdle, mostSlow := 0, 0
	var slowSince int64
	cutoff := l.cfg.Now().Add(-l.cfg.Grace).UnixNano()
	// An idle connection is only taken from a source holding at least as
	// many as the newcomer's would: a just-accepted client is idle until
	// its request starts, and a reconnecting flood must not take its place.
	need := l.bySource[src] + 1
	for e := l.order.Front(); e != nil; e = e.Next() {
		c := e.Value.(*conn)
		n := l.bySource[c.src]
		if c.src == src {
			n++
		}
		since := c.active.Load()
		if c.long.Load() {
			continue // busy by design, not a trickled body
		}
		switch {
		case since == 0:
			if n >= need && n > mostIdle {
				idle, mostIdle = c, n
			}
		case since < cutoff:
			if n > mostSlow || n == mostSlow && since < slowSince {
				slow, mostSlow, slowSince = c, n, since
			}
		}
	}
	if idle != nil {
		return idle
	}
	return slow
}

// releaseLocked gives a connection's place back, once.
func (l *Listener) releaseLocked(c *conn) {
	if c.released {
		return
	}
	c.released = true
	l.open--
	if l.bySource[c.src]--; l.bySource[c.src] <= 0 {
		delete(l.bySource, c.src) // the table holds open sources only
	}
	l.order.Remove(c.elem)
}

// ConnState is the http.Server hook that tells which connections are
// serving a request.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	switch state {
	case http.StateNew, http.StateIdle:
		c.active.Store(0)
		c.long.Store(false)
	case http.StateActive:
		// When the request started: a slow one can be reclaimed when full.
		c.active.Store(max(l.cfg.Now().UnixNano(), 1))
	}
}

// connKey holds a request's *conn in its context.
type connKey struct{}

// ConnContext is the http.Server hook that lets a request's handler reach
// its connection (Long).
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if c, ok := nc.(*conn); ok {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Long marks the request of ctx as long by design: its connection is not
// cut to make room while it lasts. Only for requests already authorised,
// whose pace their handler bounds itself; without a Listener's
// ConnContext it does nothing.
func Long(ctx context.Context) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.long.Store(true)
	}
}

// Stats returns the counters.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Open = l.open
	return s
}

func (l *Listener) maybeLog() {
	if l.cfg.Log == nil {
		return
	}
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.lastLog) < l.cfg.LogEvery {
		l.mu.Unlock()
		return
	}
	s, prev := l.stats, l.logged
	l.lastLog, l.logged = now, s
	open := l.open
	l.mu.Unlock()
	l.cfg.Log.Warn("connection limits reached: connections closed", "open", open, "max", l.cfg.Max, "per_source", l.cfg.PerSource,
		"refused_per_source", s.RefusedPerSource-prev.RefusedPerSource, "refused_full", s.RefusedFull-prev.RefusedFull,
		"reclaimed_idle", s.Reclaimed-prev.Reclaimed, "reclaimed_slow", s.ReclaimedSlow-prev.ReclaimedSlow)
}

type conn struct {
	net.Conn
	l        *Listener
	src      netip.Prefix
	elem     *list.Element
	active   atomic.Int64 // UnixNano when its request started; 0 when idle
	long     atomic.Bool  // its request called Long
	released bool         // under l.mu
	once     sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.releaseLocked(c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

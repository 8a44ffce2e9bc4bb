package connlimit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// harness accepts every connection the listener lets through.
type harness struct {
	t        *testing.T
	l        *Listener
	accepted chan net.Conn
}

func newHarness(t *testing.T, max, perSource int) *harness {
	return newHarnessConfig(t, Config{Max: max, PerSource: perSource})
}

func newHarnessConfig(t *testing.T, cfg Config) *harness {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, l: New(ln, cfg), accepted: make(chan net.Conn, 100)}
	go func() {
		for {
			c, err := h.l.Accept()
			if err != nil {
				close(h.accepted)
				return
			}
			h.accepted <- c
		}
	}()
	t.Cleanup(func() { h.l.Close() })
	return h
}

// dial connects from source address src (any 127/8 address works on
// loopback) and returns the client side and, if it was let through, the
// server side. It waits for the listener's verdict, not for a time.
func (h *harness) dial(src string) (client, server net.Conn) {
	h.t.Helper()
	before := h.l.Stats()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", h.l.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	for {
		select {
		case s := <-h.accepted:
			if !alive(c, s) {
				h.t.Fatal("kept connection is closed")
			}
			return c, s
		default:
		}
		if st := h.l.Stats(); st.RefusedPerSource+st.RefusedFull > before.RefusedPerSource+before.RefusedFull {
			if !closed(c) {
				h.t.Fatal("refused connection still open")
			}
			return c, nil
		}
		time.Sleep(time.Millisecond)
	}
}

// alive reports whether a byte written on the server side reaches the client.
func alive(c, s net.Conn) bool {
	if _, err := s.Write([]byte{2}); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadFull(c, make([]byte, 1))
	return err == nil
}

// closed reports whether the server closed the client's connection.
func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestPerSourceCap(t *testing.T) {
	h := newHarness(t, 10, 2)
	for i := 0; i < 2; i++ {
		if _, s := h.dial("127.0.0.1"); s == nil {
			t.Fatalf("connection %d refused within the source's share", i)
		}
	}
	if _, s := h.dial("127.0.0.1"); s != nil {
		t.Fatal("third connection from one source accepted; the share is 2")
	}
	if _, s := h.dial("127.0.0.2"); s == nil {
		t.Fatal("another source refused")
	}
	st := h.l.Stats()
	if st.Open != 3 || st.RefusedPerSource != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestFullReclaimsOldestIdle(t *testing.T) {
	h := newHarness(t, 3, 3)
	c1, s1 := h.dial("127.0.0.1")
	c2, s2 := h.dial("127.0.0.1")
	_, s3 := h.dial("127.0.0.1")
	// s1 serves a request: it is never reclaimed; s2 is the oldest idle.
	h.l.ConnState(s1, http.StateActive)
	h.l.ConnState(s3, http.StateActive)
	c4, s4 := h.dial("127.0.0.2")
	if s4 == nil {
		t.Fatal("new connection refused while an idle one could make room")
	}
	if alive(c2, s2) {
		t.Fatal("the oldest idle connection was not reclaimed")
	}
	if st := h.l.Stats(); st.Open != 3 || st.Reclaimed != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if !alive(c1, s1) {
		t.Fatal("the busy connection was closed")
	}
	// Now every connection is busy: a new one is closed at once.
	h.l.ConnState(s4, http.StateActive)
	if _, s := h.dial("127.0.0.3"); s != nil {
		t.Fatal("accepted beyond max with every connection busy")
	}
	if st := h.l.Stats(); st.RefusedFull != 1 || st.Open != 3 {
		t.Fatalf("stats = %+v", st)
	}
	// A closed connection gives its place back.
	s4.Close()
	c4.Close()
	if _, s := h.dial("127.0.0.3"); s == nil {
		t.Fatal("refused after a connection closed")
	}
}

func TestReclaimedConnectionIsClosed(t *testing.T) {
	h := newHarness(t, 1, 1)
	c1, _ := h.dial("127.0.0.1")
	if _, s := h.dial("127.0.0.2"); s == nil {
		t.Fatal("refused while the only connection was idle")
	}
	if !closed(c1) {
		t.Fatal("reclaimed connection still open")
	}
}

func TestSource(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"192.0.2.7:1234", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		ap := netip.MustParseAddrPort(tt.addr)
		got := Source(net.TCPAddrFromAddrPort(ap))
		if got.String() != tt.want {
			t.Errorf("Source(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// When full, the flooding source pays: a client holding one idle
// connection keeps it while a source holding many loses its oldest, even
// when the client's connection is older (the flood test saw a caller's
// fresh connection cycled out before it sent its request).
func TestFullReclaimsFromTheBiggestSource(t *testing.T) {
	h := newHarness(t, 4, 4)
	cGood, sGood := h.dial("127.0.0.2")
	c1, s1 := h.dial("127.0.0.1")
	h.dial("127.0.0.1")
	h.dial("127.0.0.1")
	if _, s := h.dial("127.0.0.1"); s == nil {
		t.Fatal("new connection refused while an idle one could make room")
	}
	if !alive(cGood, sGood) {
		t.Fatal("the lone client's connection was reclaimed for the flooding source")
	}
	if alive(c1, s1) {
		t.Fatal("the flooding source's oldest idle connection was not the one reclaimed")
	}
	// A newcomer from a third source also takes from the biggest.
	if _, s := h.dial("127.0.0.3"); s == nil {
		t.Fatal("third source refused")
	}
	if !alive(cGood, sGood) {
		t.Fatal("the lone client's connection was reclaimed for a newcomer")
	}
}

// When every connection serves a request, one whose request has been
// active longer than the grace is cut for a newcomer: of the biggest
// source, the longest active. Slow bodies (headers, then a byte a second)
// otherwise held every place until the server's read timeout. The clock
// is a variable: no timed assertion.
func TestFullReclaimsSlowRequests(t *testing.T) {
	type held struct {
		src    string
		active time.Duration // how long its request has been active; 0: idle
		long   bool          // its handler called Long
	}
	tests := []struct {
		name   string
		held   []held
		victim int    // index into held; -1: the newcomer is refused
		from   string // the newcomer's source; 127.0.0.3 if empty
	}{
		{"all within the grace", []held{{"127.0.0.1", time.Second, false}, {"127.0.0.1", 2 * time.Second, false}, {"127.0.0.2", time.Second, false}}, -1, ""},
		{"longest active of the biggest source", []held{{"127.0.0.1", 3 * time.Second, false}, {"127.0.0.1", 5 * time.Second, false}, {"127.0.0.2", 9 * time.Second, false}}, 1, ""},
		{"beyond the grace only", []held{{"127.0.0.1", time.Second, false}, {"127.0.0.1", 3 * time.Second, false}, {"127.0.0.2", time.Second, false}}, 1, ""},
		{"an idle connection first", []held{{"127.0.0.1", 30 * time.Second, false}, {"127.0.0.1", 30 * time.Second, false}, {"127.0.0.2", 0, false}}, 2, ""},
		{"a lone slow source pays when the big one is fast", []held{{"127.0.0.1", time.Second, false}, {"127.0.0.1", time.Second, false}, {"127.0.0.2", 4 * time.Second, false}}, 2, ""},
		// A client just accepted is idle until its request starts: a
		// bigger source reconnecting cycles its own slow requests instead.
		{"a lone idle client outlasts a bigger source", []held{{"127.0.0.1", 30 * time.Second, false}, {"127.0.0.1", 30 * time.Second, false}, {"127.0.0.2", 0, false}}, 0, "127.0.0.1"},
		// A disk stream runs for minutes: it is not the slow body cut.
		{"a long request is left alone", []held{{"127.0.0.1", 30 * time.Second, true}, {"127.0.0.1", 3 * time.Second, false}, {"127.0.0.2", time.Second, false}}, 1, ""},
		{"only long requests beyond the grace", []held{{"127.0.0.1", 30 * time.Second, true}, {"127.0.0.1", 30 * time.Second, true}, {"127.0.0.2", time.Second, false}}, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1_000_000, 0)
			clock := func() time.Time { return now }
			h := newHarnessConfig(t, Config{Max: len(tt.held), PerSource: len(tt.held), Grace: 2 * time.Second, Now: clock})
			var cs, ss []net.Conn
			for _, hc := range tt.held {
				c, s := h.dial(hc.src)
				cs, ss = append(cs, c), append(ss, s)
			}
			// Start the requests at their times, then move the clock on.
			var longest time.Duration
			for _, hc := range tt.held {
				longest = max(longest, hc.active)
			}
			base := now
			for i, hc := range tt.held {
				if hc.active > 0 {
					now = base.Add(longest - hc.active)
					h.l.ConnState(ss[i], http.StateActive)
					if hc.long {
						Long(h.l.ConnContext(context.Background(), ss[i]))
					}
				}
			}
			now = base.Add(longest)
			from := tt.from
			if from == "" {
				from = "127.0.0.3"
			}
			_, s := h.dial(from)
			if tt.victim < 0 {
				if s != nil {
					t.Fatal("newcomer accepted: a request within the grace was cut")
				}
				for i := range ss {
					if !alive(cs[i], ss[i]) {
						t.Fatalf("connection %d closed", i)
					}
				}
				return
			}
			if s == nil {
				t.Fatal("newcomer refused while a request beyond the grace held a place")
			}
			for i := range ss {
				if got := alive(cs[i], ss[i]); got == (i == tt.victim) {
					t.Errorf("connection %d alive = %v; victim is %d", i, got, tt.victim)
				}
			}
			st := h.l.Stats()
			if tt.held[tt.victim].active > 0 && st.ReclaimedSlow != 1 || tt.held[tt.victim].active == 0 && st.Reclaimed != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

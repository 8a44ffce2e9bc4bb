package gandi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// syncBuffer is a log sink the handler goroutines write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*httptest.Server
	api *Server
	svc *service.Service
	log *syncBuffer
}

// newLimitedServer is newServer with a visible log, a body limit that
// lets a 1 MB method name through, and options for the Server.
func newLimitedServer(t *testing.T, opt func(*Server)) *testServer {
	t.Helper()
	logBuf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, nil))
	svc, eng, _, _ := testService(t, log)
	svc.EnsureAccount("ALICE", "Alice", service.HashKey(aliceKey), 0)
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	s := New(svc, "", 2<<20, log)
	if opt != nil {
		opt(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); eng.Wait() })
	return &testServer{Server: srv, api: s, svc: svc, log: logBuf}
}

// addMethod puts a test-only method in the face's table.
func addMethod(s *Server, name string, fn func()) {
	s.face.methods[name] = func(context.Context, *service.Caller, args) (any, error) {
		fn()
		return "unreached", nil
	}
}

// A panic in a handler is a fault (CAUSE_UNKNOWN, "internal error") and
// one log line with its stack; the server goes on serving.
func TestPanicIsFault(t *testing.T) {
	srv := newLimitedServer(t, nil)
	tests := []struct {
		name string
		fn   func()
	}{
		{"string", func() { panic("boom") }},
		{"error", func() { panic(errors.New("broken invariant")) }},
		{"index out of range", func() {
			var s []int
			i := 3
			_ = s[i]
		}},
		{"nil map write", func() {
			var m map[string]int
			m["x"] = 1
		}},
		{"nil", func() { panic(nil) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := fmt.Sprintf("test.panic%d", i)
			addMethod(srv.api, method, tt.fn)
			before := strings.Count(srv.log.String(), "level=ERROR")
			_, err := call(t, srv.URL, method, aliceKey)
			f := faultOf(t, err)
			if f.Code != 500099 || !strings.Contains(f.Message, "internal error") {
				t.Fatalf("fault %d %q, want 500099 internal error", f.Code, f.Message)
			}
			log := srv.log.String()
			if n := strings.Count(log, "level=ERROR") - before; n != 1 {
				t.Fatalf("%d log lines for one panic:\n%s", n, log)
			}
			line := log[strings.LastIndex(log, "level=ERROR msg=\"handler panicked\""):]
			line = line[:strings.IndexByte(line, '\n')]
			if !strings.Contains(line, "method="+method) || !strings.Contains(line, "stack=") || !strings.Contains(line, "limits_test.go") {
				t.Fatalf("log line lacks method or stack: %s", line)
			}
			if _, err := call(t, srv.URL, "version.info", aliceKey); err != nil {
				t.Fatalf("next call: %v", err)
			}
		})
	}
}

// The huge page: a fault naming page, not a closed connection.
func TestHugePageOverHTTP(t *testing.T) {
	srv := newLimitedServer(t, nil)
	for _, m := range []string{"hosting.vm.list", "operation.list", "hosting.disk.list"} {
		_, err := call(t, srv.URL, m, aliceKey, map[string]any{"items_per_page": int64(500), "page": int64(math.MaxInt64)})
		if f := faultOf(t, err); f.Code%100 != CauseBadParam || !strings.Contains(f.Message, "page:") {
			t.Fatalf("%s: fault %d %q", m, f.Code, f.Message)
		}
	}
}

// A 1 MB method name gets a fault of bounded size, and the log does not
// repeat it either.
func TestLongMethodName(t *testing.T) {
	srv := newLimitedServer(t, nil)
	for _, n := range []int{MaxMethodName, MaxMethodName + 1, 1 << 20} {
		name := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
		body := `<?xml version="1.0"?><methodCall><methodName>` + name + `</methodName><params><param><value><string>` + aliceKey + `</string></value></param></params></methodCall>`
		resp, err := http.Post(srv.URL+"/xmlrpc/", "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(raw) > 2048 {
			t.Fatalf("%d-byte name: %d-byte answer", n, len(raw))
		}
		_, err = xmlrpc.DecodeResponse(bytes.NewReader(raw))
		if f := faultOf(t, err); f.Code != 518040 || !strings.Contains(f.Message, "does not exist") {
			t.Fatalf("%d-byte name: fault %d %q", n, f.Code, f.Message)
		}
	}
	if len(srv.log.String()) > 64<<10 {
		t.Fatalf("log grew by %d bytes", len(srv.log.String()))
	}
}

// clientFrom calls from a loopback source address of its own.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func callFrom(t *testing.T, c *http.Client, url, method string, params ...any) (any, error) {
	t.Helper()
	doc, _ := xmlrpc.EncodeCall(method, params...)
	resp, err := c.Post(url+"/xmlrpc/", "text/xml", bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return xmlrpc.DecodeResponse(resp.Body)
}

// After Burst bad keys a source gets CAUSE_RATELIMIT without its key
// being checked, even a good one; another source is not affected.
func TestBadKeyBackoff(t *testing.T) {
	srv := newLimitedServer(t, func(s *Server) {
		s.WithKeyLimits(KeyLimits{Burst: 3, Every: time.Hour})
	})
	attacker, other := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i := 0; i < 3; i++ {
		_, err := callFrom(t, attacker, srv.URL, "version.info", fmt.Sprintf("guess-%d", i))
		if f := faultOf(t, err); f.Code != 510030 {
			t.Fatalf("bad key %d: fault %d %q, want 510030", i, f.Code, f.Message)
		}
	}
	for _, key := range []string{"guess-4", aliceKey} {
		_, err := callFrom(t, attacker, srv.URL, "version.info", key)
		if f := faultOf(t, err); f.Code != 510080 || !strings.Contains(f.Message, "CAUSE_RATELIMIT") {
			t.Fatalf("after the burst, key %s: fault %d %q, want 510080", key, f.Code, f.Message)
		}
	}
	if _, err := callFrom(t, other, srv.URL, "version.info", aliceKey); err != nil {
		t.Fatalf("another source: %v", err)
	}
}

// The guard's arithmetic on a fake clock: key checks per source are
// bounded by Burst + elapsed/Every, and the table by Sources.
func TestKeyGuard(t *testing.T) {
	now := time.Unix(1e9, 0)
	g := &keyGuard{cfg: KeyLimits{Burst: 5, Every: time.Second, Sources: 4}, m: map[netip.Prefix]*bucket{}, now: func() time.Time { return now }}
	src := netip.MustParsePrefix("192.0.2.1/32")
	// A guesser trying as fast as it is let through for 100 s.
	checks := 0
	for step := 0; step < 10000; step++ {
		if g.allowed(src) {
			checks++
			g.failed(src)
		}
		now = now.Add(10 * time.Millisecond)
	}
	if max := 5 + 100; checks > max || checks < max-2 {
		t.Fatalf("%d key checks in 100 s, want about Burst + 100 s / Every = %d", checks, max)
	}
	// Many sources: the table stays bounded; those beyond it share one bucket.
	for i := 0; i < 1000; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 32)
		for g.allowed(p) {
			g.failed(p)
		}
	}
	if len(g.m) > 4 {
		t.Fatalf("table holds %d sources, bound 4", len(g.m))
	}
	if g.allowed(netip.MustParsePrefix("203.0.113.9/32")) {
		t.Fatal("a new source passed while the table is full and the shared bucket empty")
	}
	// Once buckets refill, the sweep makes room again.
	now = now.Add(time.Hour)
	g.failed(netip.MustParsePrefix("203.0.113.9/32"))
	if len(g.m) > 1 {
		t.Fatalf("refilled sources kept: %d", len(g.m))
	}
	if !g.allowed(netip.MustParsePrefix("203.0.113.10/32")) {
		t.Fatal("a new source refused after every bucket refilled")
	}
}

// BenchmarkBadKeyRefused measures answering a rate-limited source, which
// a flood of bad keys costs once over its burst.
func BenchmarkBadKeyRefused(b *testing.B) {
	srv := newLimitedServerB(b)
	doc, _ := xmlrpc.EncodeCall("version.info", "guess")
	c := srv.Client()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Post(srv.URL+"/xmlrpc/", "text/xml", bytes.NewReader(doc))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func newLimitedServerB(b *testing.B) *httptest.Server {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, _, _, _ := testService(b, log)
	s := New(svc, "", 1<<20, log).WithKeyLimits(KeyLimits{Burst: 1, Every: time.Hour})
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	return srv
}

// LoginCheck counts checks that run at once: a source starting many
// slow checks together (v1 logins queue for a slow hash) gets Burst of
// them run, not one per connection; a good password gives its charge
// back. KeyCheck, for quick key checks, lets any number of good keys run
// at once (a central tier's parallel calls).
func TestLoginCheckConcurrent(t *testing.T) {
	req := func(src string) *http.Request {
		r := httptest.NewRequest("POST", "/xmlrpc/v1/", nil)
		r.RemoteAddr = src + ":4000"
		return r
	}
	// concurrently runs n checks by guard from one source, each held
	// until all have started or been refused, each answering result; it
	// returns how many ran.
	concurrently := func(guard func(*http.Request, func() error) error, n int, result error) int {
		var (
			mu      sync.Mutex
			ran     int
			arrived sync.WaitGroup
			done    sync.WaitGroup
		)
		release := make(chan struct{})
		arrived.Add(n)
		done.Add(n)
		for i := 0; i < n; i++ {
			go func() {
				defer done.Done()
				entered := false
				guard(req("192.0.2.7"), func() error {
					mu.Lock()
					ran++
					mu.Unlock()
					entered = true
					arrived.Done()
					<-release
					return result
				})
				if !entered {
					arrived.Done()
				}
			}()
		}
		arrived.Wait()
		close(release)
		done.Wait()
		return ran
	}
	for _, tc := range []struct {
		name        string
		login       bool
		result      error
		ran         int
		limitedNext bool
	}{
		{"logins, bad passwords", true, service.ErrBadKey, 3, true},
		{"logins, good passwords", true, nil, 3, false},
		{"keys, good", false, nil, 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := (&Server{}).WithKeyLimits(KeyLimits{Burst: 3, Every: time.Hour})
			guard := s.KeyCheck
			if tc.login {
				guard = s.LoginCheck
			}
			// Good ones one after another, more than Burst: each is refunded.
			for i := 0; i < 10; i++ {
				if err := guard(req("192.0.2.7"), func() error { return nil }); err != nil {
					t.Fatalf("good check %d: %v", i, err)
				}
			}
			if ran := concurrently(guard, 20, tc.result); ran != tc.ran {
				t.Fatalf("%d of 20 concurrent checks ran, want %d", ran, tc.ran)
			}
			err := guard(req("192.0.2.7"), func() error { return nil })
			if limited := errors.Is(err, ErrRateLimited); limited != tc.limitedNext {
				t.Fatalf("the next check: %v, rate limited %v", err, tc.limitedNext)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenagent/xenagent/agent/testenv"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// These tests flood the real agent process, started with
// RLIMIT_NOFILE = 1024 (prlimit) on libvirt's test driver and the file
// backend, with idle connections and with bad API keys, from loopback
// source addresses of their own (127.0.0.0/8 is all local), and check
// that operations and well-behaved clients are not affected.

type floodAgent struct {
	t    *testing.T
	url  string
	key  string
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFloodAgent runs the agent with the default [server] section and
// RLIMIT_NOFILE 1024:1024, so it can raise nothing.
func startFloodAgent(t *testing.T) *floodAgent {
	testenv.Tool(t, "prlimit", "util-linux")
	bin := buildPlain(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "agent.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
[libvirt]
uri = "test:///default"
[storage]
backend = "file"
[network]
wire = false
[network.ipv4]
prefix = "10.98.0.0/24"
[demo]
enabled = true
[[images]]
label = "flood"
size_mb = 64
`, port, dir)), 0o644)
	a := &floodAgent{t: t, url: fmt.Sprintf("http://127.0.0.1:%d/xmlrpc/", port), out: &syncBuf{}, done: make(chan struct{})}
	a.cmd = exec.Command("prlimit", "--nofile=1024:1024", "--", bin, "serve", "--config", conf)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent log:\n%s", a.out)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-a.done:
			t.Fatalf("agent exited: %v\n%s", a.cmd.ProcessState, a.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not come up:\n%s", a.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "apikey"))
	if err != nil {
		t.Fatal(err)
	}
	a.key = strings.TrimSpace(string(raw))
	return a
}

// client calls from source address src, with a deadline so that a
// starved agent fails the test instead of hanging it.
func (a *floodAgent) client(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

func (a *floodAgent) call(c *http.Client, method string, params ...any) (any, error) {
	body, _ := xmlrpc.EncodeCall(method, params...)
	resp, err := c.Post(a.url, "text/xml", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return xmlrpc.DecodeResponse(resp.Body)
}

func (a *floodAgent) must(c *http.Client, method string, params ...any) any {
	a.t.Helper()
	v, err := a.call(c, method, append([]any{a.key}, params...)...)
	if err != nil {
		a.t.Fatalf("%s: %v", method, err)
	}
	return v
}

// waitDone polls the operations to their end; all must be DONE.
func (a *floodAgent) waitDone(c *http.Client, ops []any) {
	a.t.Helper()
	for _, o := range ops {
		id := o.(map[string]any)["id"]
		deadline := time.Now().Add(60 * time.Second)
		for {
			info := a.must(c, "operation.info", id).(map[string]any)
			if step := info["step"]; step == "DONE" {
				break
			} else if step != "WAIT" && step != "RUN" {
				a.t.Fatalf("operation %v (%v) ended %v: %v", id, info["type"], step, info["last_error"])
			}
			if time.Now().After(deadline) {
				a.t.Fatalf("operation %v never finished", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// createVM submits a vm.create_from (a disk_create, iface_create and
// vm_create) and a disk.create, and returns their operations.
func (a *floodAgent) createVM(c *http.Client, name string) []any {
	a.t.Helper()
	img := a.must(c, "hosting.image.list", map[string]any{}).([]any)[0].(map[string]any)["disk_id"]
	ops := a.must(c, "hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": name, "memory": int64(256), "password": "flood-pass-123"},
		map[string]any{"name": name}, img).([]any)
	d := a.must(c, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "name": name + "-data", "size": int64(32)})
	return append(ops, d)
}

// flood holds up to perSource silent connections from each source; a
// connection the agent closes is dialled again (after a second, to spare
// the machine's two cores) until stop is called, which closes them all.
type flood struct {
	// slow: each connection sends request headers announcing a body,
	// then a byte of it a second, instead of nothing.
	slow     bool
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
	held     atomic.Int64 // open right now
	peak     atomic.Int64
	closed   atomic.Int64 // closed by the agent
}

func startFlood(t *testing.T, target string, sources []string, perSource int) *flood {
	return startFloodOf(t, &flood{}, target, sources, perSource)
}

func startFloodOf(t *testing.T, f *flood, target string, sources []string, perSource int) *flood {
	f.conns = map[net.Conn]bool{}
	for _, src := range sources {
		for i := 0; i < perSource; i++ {
			f.wg.Add(1)
			go f.hold(target, src)
		}
	}
	t.Cleanup(f.stop)
	return f
}

func (f *flood) hold(target, src string) {
	defer f.wg.Done()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	for !f.stopping.Load() {
		c, err := d.Dial("tcp", target)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		f.mu.Lock()
		if f.stopping.Load() {
			f.mu.Unlock()
			c.Close()
			return
		}
		f.conns[c] = true
		f.mu.Unlock()
		if n := f.held.Add(1); n > f.peak.Load() {
			f.peak.Store(n)
		}
		if f.slow {
			go trickle(c)
		}
		// Silent, or a trickled body: Read returns when the agent closes it.
		c.Read(make([]byte, 1))
		f.held.Add(-1)
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.Close()
		if !f.stopping.Load() {
			f.closed.Add(1)
			time.Sleep(time.Second)
		}
	}
}

// trickle sends request headers with a 100,000-byte body, then a byte of
// the body a second, until the connection is closed.
func trickle(c net.Conn) {
	if _, err := io.WriteString(c, "POST /xmlrpc/ HTTP/1.1\r\nHost: agent\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n"); err != nil {
		return
	}
	for {
		if _, err := c.Write([]byte{'<'}); err != nil {
			return
		}
		time.Sleep(time.Second)
	}
}

func (f *flood) stop() {
	if f.stopping.Swap(true) {
		return
	}
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// raiseOwnNoFile lets the test hold more connections than the agent may.
func raiseOwnNoFile(t *testing.T, want uint64) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < want && lim.Max >= want {
		lim.Cur = want
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < want {
		t.Fatalf("the test needs RLIMIT_NOFILE >= %d to outnumber the agent's 1024; hard limit is %d", want, lim.Max)
	}
}

// 3,000 silent connections from 30 sources against an agent allowed
// 1,024 descriptors: operations submitted during the flood end DONE, a
// client from another address is answered, and once the flood stops
// the flooding addresses are served again.
func TestIdleFlood(t *testing.T) {
	const sources, perSource = 30, 100
	raiseOwnNoFile(t, sources*perSource+1024)
	a := startFloodAgent(t)
	target := strings.TrimSuffix(strings.TrimPrefix(a.url, "http://"), "/xmlrpc/")
	var srcs []string
	for i := 0; i < sources; i++ {
		srcs = append(srcs, fmt.Sprintf("127.0.1.%d", i+1))
	}
	f := startFlood(t, target, srcs, perSource)
	// Wait until the flood has met the agent's limits: connections get
	// closed by the agent (the old agent ran out of descriptors instead).
	deadline := time.Now().Add(30 * time.Second)
	for f.closed.Load() < int64(sources*perSource) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("flood: %d held, peak %d, %d closed by the agent", f.held.Load(), f.peak.Load(), f.closed.Load())

	good := a.client("127.0.0.2")
	if v := a.must(good, "version.info"); v == nil {
		t.Fatal("no version")
	}
	var ops []any
	for i := 0; i < 3; i++ {
		ops = append(ops, a.createVM(good, fmt.Sprintf("flood%d", i))...)
	}
	a.waitDone(good, ops)
	if f.closed.Load() < int64(sources*perSource) {
		t.Fatalf("the agent closed only %d flood connections; the flood never reached its limits", f.closed.Load())
	}
	if !strings.Contains(a.out.String(), "connection limits reached") {
		t.Error("the agent did not log its connection limits")
	}
	resp, err := good.Get(strings.TrimSuffix(a.url, "xmlrpc/") + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`xenagent_connections_closed_total\{reason="(per_source|reclaimed_idle)"\} [1-9]`).Match(metrics) {
		t.Errorf("/metrics does not count the connections the limits closed:\n%s", metrics)
	}

	f.stop()
	// The flooding addresses are clients like any other again.
	for _, src := range []string{srcs[0], srcs[len(srcs)-1]} {
		c := a.client(src)
		a.waitDone(c, a.createVM(c, "after-"+strings.ReplaceAll(src, ".", "-")))
	}
	// And the agent stops cleanly.
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop")
	}
	if !a.cmd.ProcessState.Success() {
		t.Fatalf("agent exited %v", a.cmd.ProcessState)
	}
}

// Slow bodies: 9 sources × 64 connections each send request headers
// announcing a 100,000-byte body, then a byte a second, against an agent
// allowed 512 connections. Every place is held by a request being
// served; a client from another address must still be answered (the old
// agent refused it until the fixed one-minute read timeout cut the flood).
// Bounded: the flood gets a few seconds to fill the agent and pass the
// limits' 2 s grace, then the client calls once.
func TestSlowBodyFlood(t *testing.T) {
	const sources, perSource = 9, 64
	raiseOwnNoFile(t, sources*perSource+1024)
	a := startFloodAgent(t)
	target := strings.TrimSuffix(strings.TrimPrefix(a.url, "http://"), "/xmlrpc/")
	var srcs []string
	for i := 0; i < sources; i++ {
		srcs = append(srcs, fmt.Sprintf("127.0.2.%d", i+1))
	}
	f := startFloodOf(t, &flood{slow: true}, target, srcs, perSource)
	deadline := time.Now().Add(20 * time.Second)
	for f.held.Load() < 500 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if f.held.Load() < 500 {
		t.Fatalf("the flood holds only %d connections; it never filled the agent's 512", f.held.Load())
	}
	time.Sleep(3 * time.Second) // past the 2 s grace: the requests are slow now
	t.Logf("slow flood: %d held, peak %d, %d closed by the agent", f.held.Load(), f.peak.Load(), f.closed.Load())

	good := a.client("127.0.0.2")
	good.Timeout = 10 * time.Second
	if _, err := a.call(good, "version.info", a.key); err != nil {
		t.Fatalf("a client from another address was not served during a slow-body flood: %v", err)
	}
	resp, err := good.Get(strings.TrimSuffix(a.url, "xmlrpc/") + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`xenagent_connections_closed_total\{reason="reclaimed_slow"\} [1-9]`).Match(metrics) {
		t.Errorf("/metrics does not count the slow requests reclaimed:\n%s", metrics)
	}
}

// A bad-key flood from one address: after the burst (10) its calls get
// CAUSE_RATELIMIT, key checks stay at about one a second, and a client
// from another address is served as usual.
func TestBadKeyFlood(t *testing.T) {
	a := startFloodAgent(t)
	const workers = 16
	var checked, limited, other atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	attacker := a.client("127.0.0.1")
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := a.call(attacker, "version.info", fmt.Sprintf("guess-%d-%d", w, i))
				var f *xmlrpc.Fault
				switch {
				case errors.As(err, &f) && f.Code == 510030:
					checked.Add(1)
				case errors.As(err, &f) && f.Code == 510080:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}(w)
	}
	// Meanwhile, another address calls with a good key, and is answered.
	good := a.client("127.0.0.2")
	for ctx.Err() == nil {
		a.must(good, "hosting.vm.list", map[string]any{})
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%v: %d keys checked, %d rate-limited, %d other answers", elapsed, checked.Load(), limited.Load(), other.Load())
	if limited.Load() == 0 {
		t.Fatal("no CAUSE_RATELIMIT after the burst")
	}
	// Burst 10, then one per second (bad_key_every): allow a second of slack.
	if bound := 10 + int64(elapsed/time.Second) + 1; checked.Load() > bound {
		t.Fatalf("%d keys checked in %v, bound %d", checked.Load(), elapsed, bound)
	}
	if other.Load() != 0 {
		t.Fatalf("%d answers neither an invalid key nor a rate limit", other.Load())
	}
}

package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

type fixture struct {
	t   *testing.T
	st  *store.Store
	srv *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Config{}, st, nil, nil, log)
	for _, h := range []string{"alice", "bob"} {
		if _, err := svc.EnsureAccount(h, h, service.HashKey(h+"-key"), 0); err != nil {
			t.Fatal(err)
		}
	}
	h := New(svc, Config{OperatorHash: service.HashKey("op-key"), MaxPerAccount: 2, Heartbeat: 100 * time.Millisecond}, log)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		st.Close()
	})
	return &fixture{t: t, st: st, srv: srv}
}

func (f *fixture) put(vm store.VM) {
	if err := f.st.Update(func(tx *store.Tx) error { tx.PutVM(vm); return nil }); err != nil {
		f.t.Error(err)
	}
}

// get opens a stream; headers are name/value pairs.
func (f *fixture) get(ctx context.Context, url string, headers ...string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

type message struct {
	id, event, data string
	comment         bool
}

// next reads one message (an event, or a comment with an id).
func next(t *testing.T, r *bufio.Reader) message {
	t.Helper()
	var m message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			return m
		case strings.HasPrefix(line, ":"):
			m.comment = true
		case strings.HasPrefix(line, "id: "):
			m.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			m.data = line[6:]
		}
	}
}

// nextEvent skips idle comments.
func nextEvent(t *testing.T, r *bufio.Reader) (message, event) {
	t.Helper()
	for {
		m := next(t, r)
		if m.data == "" {
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(m.data), &e); err != nil {
			t.Fatalf("data %q: %v", m.data, err)
		}
		return m, e
	}
}

func TestStreamFollowsAndResumes(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := f.st.EventCursor()
	resp := f.get(ctx, "/events?cursor="+start+"&classes=vm", "Authorization", "Bearer alice-key")
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	if m := next(t, r); !m.comment || m.id != start {
		t.Fatalf("first message %+v, want an idle comment with id %s", m, start)
	}
	f.put(store.VM{ID: 9, AccountID: 2, State: store.VMRunning}) // bob's
	f.put(store.VM{ID: 1, AccountID: 1, State: store.VMHalted})
	f.put(store.VM{ID: 1, AccountID: 1, State: store.VMRunning})
	m, e := nextEvent(t, r)
	if e.ID != 1 || e.Class != "vm" || e.Action != "add" || e.Fields["state"] != "halted" || m.id != e.Cursor || m.id != f.st.CursorAt(2) {
		t.Fatalf("first event %+v (id %s)", e, m.id)
	}
	// A reconnect with Last-Event-ID resumes after it, whatever the URL says.
	resp2 := f.get(ctx, "/events?cursor="+start, "X-Api-Key", "alice-key", "Last-Event-ID", m.id)
	defer resp2.Body.Close()
	_, e2 := nextEvent(t, bufio.NewReader(resp2.Body))
	if e2.Action != "mod" || e2.Fields["state"] != "running" || len(e2.Changed) != 1 {
		t.Fatalf("after Last-Event-ID: %+v", e2)
	}
}

func TestStreamRefusals(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cur := f.st.EventCursor()
	for _, tt := range []struct {
		url     string
		headers []string
		status  int
		saying  string
	}{
		{"/events", nil, 401, "missing API key"},
		{"/events?key=alice-key", nil, 400, "never goes in a URL"},
		{"/events", []string{"Authorization", "Bearer nope"}, 401, "invalid API key"},
		{"/events?cursor=0123456789abcdef-4", []string{"X-Api-Key", "alice-key"}, 410, "resync"},
		{"/events?cursor=junk", []string{"X-Api-Key", "alice-key"}, 400, "cursor"},
		{"/events?cursor=" + cur + "&classes=vm,host", []string{"X-Api-Key", "alice-key"}, 400, "classes"},
		{"/events?cursor=" + cur + "&class=vm", []string{"X-Api-Key", "alice-key"}, 400, "class: unknown parameter"},
		{"/events?timeout=5", []string{"X-Api-Key", "alice-key"}, 400, "timeout: unknown parameter"},
		{"/events?classes=vm&classes=disk", []string{"X-Api-Key", "alice-key"}, 400, "classes: given more than once"},
	} {
		resp := f.get(ctx, tt.url, tt.headers...)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.saying) {
			t.Errorf("%s %v: %d %s, want %d saying %q", tt.url, tt.headers, resp.StatusCode, body, tt.status, tt.saying)
		}
	}
	// Two streams per account; the third is refused, another account's
	// is not; closing one makes room.
	var open []*http.Response
	for range 2 {
		resp := f.get(ctx, "/events", "X-Api-Key", "bob-key")
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		next(t, bufio.NewReader(resp.Body))
		open = append(open, resp)
	}
	if resp := f.get(ctx, "/events", "X-Api-Key", "bob-key"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third stream: %d", resp.StatusCode)
	}
	if resp := f.get(ctx, "/events", "X-Api-Key", "alice-key"); resp.StatusCode != 200 {
		t.Errorf("other account: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	open[0].Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := f.get(ctx, "/events", "X-Api-Key", "bob-key")
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after closing a stream: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	open[1].Body.Close()
}

// A guard (the API's bad-key back-off) sees every key check and may
// refuse the source.
func TestStreamGuard(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := service.New(service.Config{}, st, nil, nil, log)
	bad := 0
	guard := func(r *http.Request, check func() error) error {
		if bad >= 1 {
			return errors.New("too many invalid API keys from this address: retry later")
		}
		err := check()
		if errors.Is(err, service.ErrBadKey) {
			bad++
		}
		return err
	}
	h := New(svc, Config{Guard: guard}, log)
	for _, want := range []int{401, 429} {
		req := httptest.NewRequest(http.MethodGet, "/events", nil)
		req.Header.Set("X-Api-Key", "wrong")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("status %d %s, want %d", rec.Code, rec.Body, want)
		}
	}
}

// A stream outlives the server's read and write timeouts (the agent's are
// 15 s and a minute): it moves its own deadlines.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := service.New(service.Config{}, st, nil, nil, log)
	if _, err := svc.EnsureAccount("alice", "alice", service.HashKey("alice-key"), 0); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(New(svc, Config{Heartbeat: 50 * time.Millisecond}, log))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 200*time.Millisecond, 300*time.Millisecond
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events?cursor="+st.EventCursor(), nil)
	req.Header.Set("X-Api-Key", "alice-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	time.Sleep(time.Second)
	if err := st.Update(func(tx *store.Tx) error { tx.PutVM(store.VM{ID: 1, AccountID: 1}); return nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Errorf("stream ended: %v", err)
				return
			}
			if strings.HasPrefix(line, "data: ") {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
}

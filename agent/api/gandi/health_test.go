package gandi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// noSpace is the error a full disk gives bbolt's write.
func noSpace() error { return &os.PathError{Op: "write", Path: "state.db", Err: syscall.ENOSPC} }

func health(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// /healthz is the real check: 503 with the reasons while state writes are
// refused or the engine is not running, 200 "ok" once all works.
func TestHealthz(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, eng, st, rec := testService(t, log)
	api := New(svc, "", 4096, log)
	api.SetHealth(rec.Healthy)
	srv := httptest.NewServer(api.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { srv.Close(); cancel(); eng.Wait() })

	if code, body := health(t, srv.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "operation engine: not started") {
		t.Fatalf("before the engine starts: %d %q", code, body)
	}
	eng.Start(ctx)
	if code, body := health(t, srv.URL); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthy agent: %d %q", code, body)
	}
	st.SetWriteFault(noSpace)
	if _, err := svc.EnsureAccount("ALICE", "Alice", service.HashKey(aliceKey), 0); err == nil {
		t.Fatal("write accepted on a full disk")
	}
	code, body := health(t, srv.URL)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "state: the state disk refused an earlier write (no space left on device)") {
		t.Fatalf("full disk: %d %q", code, body)
	}
	st.SetWriteFault(nil)
	if err := st.Probe(); err != nil {
		t.Fatal(err)
	}
	if code, body := health(t, srv.URL); code != http.StatusOK {
		t.Fatalf("after the disk has room again: %d %q", code, body)
	}
}

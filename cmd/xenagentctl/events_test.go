package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// The feed through the real API over HTTP: lines appear as changes are
// committed, filtered by class; a cursor to resync ends it with the fault.
func TestEventsFollows(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := service.New(service.Config{}, st, nil, nil, log)
	srv := httptest.NewServer(gandi.New(svc, service.HashKey("op"), 0, log).Handler())
	defer srv.Close()
	c := &client{url: srv.URL + "/xmlrpc/", key: "op", hc: srv.Client()}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, status syncBuf
	done := make(chan error, 1)
	start := st.EventCursor()
	go func() { done <- follow(ctx, c.call, start, "vm,iface", false, &out, &status) }()
	if err := st.Update(func(tx *store.Tx) error {
		tx.PutOperation(store.Operation{ID: 1, Step: store.StepWait})
		tx.PutVM(store.VM{ID: 12, AccountID: 3, State: store.VMHalted, Hostname: "web"})
		tx.PutIface(store.Iface{ID: 4, AccountID: 3, State: store.IfaceUsed, VMID: 12, IPIDs: []int64{7, 8}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx *store.Tx) error {
		tx.PutVM(store.VM{ID: 12, AccountID: 3, State: store.VMRunning, Hostname: "web"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"vm/12  add  console=0 cores=0 hostname=web memory=0 state=halted  account=3  cursor=" + st.CursorAt(2),
		"iface/4  add  bandwidth=0 ip_ids=[7,8] state=used vm_id=12  account=3  cursor=" + st.CursorAt(3),
		"vm/12  mod  console=0 cores=0 hostname=web memory=0 state*=running  account=3  cursor=" + st.CursorAt(4),
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, l := range lines {
		if _, rest, _ := strings.Cut(l, "  "); rest != want[i] {
			t.Errorf("line %d = %q, want %q after the time", i, l, want[i])
		}
	}

	err = follow(context.Background(), c.call, "0123456789abcdef-1", "", false, &out, &status)
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || !strings.Contains(f.Message, "resync") {
		t.Errorf("cursor from another agent: %v", err)
	}
}

func TestEventsCommandLine(t *testing.T) {
	c := &client{url: "http://127.0.0.1:1/", key: "k"}
	for _, args := range [][]string{{"events", "-frob"}, {"events", "extra"}} {
		err := run(context.Background(), &env{c: c, out: io.Discard, status: io.Discard}, args)
		if exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
	if text, ok := wantsHelp([]string{"events", "-h"}); !ok || !strings.Contains(text, "xenagentctl events [-cursor C]") {
		t.Errorf("help: %q", text)
	}
}

// An agent that stops answers CAUSE_UNAVAILABLE; the follower waits and
// goes on from its cursor once the agent is back; another fault ends it.
func TestEventsFollowAcrossUnavailable(t *testing.T) {
	var cursors []string
	calls := 0
	call := func(ctx context.Context, method string, params ...any) (any, error) {
		calls++
		cursors = append(cursors, params[0].(map[string]any)["cursor"].(string))
		switch calls {
		case 1:
			return map[string]any{"events": []any{}, "cursor": "c-2"}, nil
		case 2:
			return nil, &xmlrpc.Fault{Code: 520095, Message: "events: the agent is stopping; retry"}
		case 3:
			return map[string]any{"events": []any{}, "cursor": "c-3"}, nil
		default:
			return nil, &xmlrpc.Fault{Code: 520040, Message: "resync"}
		}
	}
	var out, status strings.Builder
	err := follow(context.Background(), call, "c-1", "", false, &out, &status)
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || f.Code != 520040 {
		t.Fatalf("follow ended with %v, want the resync fault", err)
	}
	if want := []string{"c-1", "c-2", "c-2", "c-3"}; strings.Join(cursors, " ") != strings.Join(want, " ") {
		t.Errorf("cursors asked %v, want %v", cursors, want)
	}
	if !strings.Contains(status.String(), "trying again") {
		t.Errorf("status %q does not say it retries", status.String())
	}
}

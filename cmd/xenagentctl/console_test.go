package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/console"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/agent/token"
)

// syncBuf is an io.Writer read while a command writes it (console, events).
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

type linkCaller struct{ link string }

func (l linkCaller) call(ctx context.Context, method string, params ...any) (any, error) {
	return map[string]any{"url": l.link}, nil
}

// console VM bridges stdin and stdout to the console until Ctrl-].
func TestConsoleVerb(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hv := hostfake.NewHypervisor()
	ctx := context.Background()
	hv.Define(ctx, hosttest.DomainSpec("xa-vm-5", 5))
	hv.Start(ctx, "xa-vm-5")
	tokens := token.NewIssuer(token.Limits{})
	hub := console.NewHub(console.Config{}, hv, hv, func(int64) string { return "xa-vm-5" }, log)
	defer hub.Shutdown()
	mux := http.NewServeMux()
	(&console.Handler{Hub: hub, Tokens: tokens, Log: log, Authorize: func(int64, int64) (string, error) { return "web5", nil }}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok, _, _ := tokens.Issue(token.Grant{Purpose: console.Purpose, VMID: 5, TTL: time.Minute, SingleUse: true})

	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() {
		done <- runConsole(ctx, linkCaller{srv.URL + "/console/" + tok}, srv.Client(), []string{"5"}, inR, &stdout, &stderr)
	}()
	inW.Write([]byte("typed-here\r"))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "typed-here") {
		if time.Now().After(deadline) {
			t.Fatalf("no echo; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	inW.Write([]byte{escapeKey})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-] did not leave")
	}
	if e := stderr.String(); !strings.Contains(e, "console of VM 5 (web5), as writer") || !strings.Contains(e, "left the console") {
		t.Errorf("stderr %q", e)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/xenagent/xenagent/agent/console"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/token"
)

// consoleRows measures the console's round trip: a byte typed into the
// WebSocket to its echo back, through the real hub and handler over
// loopback, on the fake hypervisor's echoing console (what the agent
// adds, not a guest's own latency).
func consoleRows(rounds int) []row {
	r, err := consoleRoundTrip(rounds)
	if err != nil {
		return []row{{name: "console round trip", value: "failed: " + err.Error(), target: "<= 5 ms p99"}}
	}
	return r
}

func consoleRoundTrip(rounds int) ([]row, error) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hv := hostfake.NewHypervisor()
	if err := hv.Define(ctx, host.DomainSpec{Name: "xa-vm-1", MemoryMB: 64, VCPUs: 1}); err != nil {
		return nil, err
	}
	if err := hv.Start(ctx, "xa-vm-1"); err != nil {
		return nil, err
	}
	tokens := token.NewIssuer(token.Limits{})
	hub := console.NewHub(console.Config{}, hv, hv, func(int64) string { return "xa-vm-1" }, log)
	defer hub.Shutdown()
	mux := http.NewServeMux()
	(&console.Handler{Hub: hub, Tokens: tokens, Log: log, Authorize: func(int64, int64) (string, error) { return "bench", nil }}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok, _, err := tokens.Issue(token.Grant{Purpose: console.Purpose, VMID: 1, TTL: time.Minute, SingleUse: true})
	if err != nil {
		return nil, err
	}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/console/"+tok+"/ws", nil)
	if err != nil {
		return nil, err
	}
	defer conn.CloseNow()
	if _, _, err := conn.Read(ctx); err != nil { // hello
		return nil, err
	}
	times := make([]time.Duration, 0, rounds)
	for i := range rounds {
		b := []byte{'a' + byte(i%26)}
		start := time.Now()
		if err := conn.Write(ctx, websocket.MessageBinary, b); err != nil {
			return nil, err
		}
		for {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			typ, got, err := conn.Read(rctx)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("console echo %d: %w", i, err)
			}
			if typ == websocket.MessageBinary && len(got) > 0 && got[len(got)-1] == b[0] {
				break
			}
		}
		times = append(times, time.Since(start))
	}
	med, p99 := quantiles(times)
	return []row{{name: "console round trip, a byte typed to its echo (fake guest), median / p99",
		value: ms(med) + " / " + ms(p99), target: "<= 5 ms p99", ok: p99 <= 5*time.Millisecond}}, nil
}

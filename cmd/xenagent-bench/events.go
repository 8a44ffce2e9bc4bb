package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

var eventRounds = flag.Int("event-rounds", 300, "step changes measured for the event feed (0 skips them)")

// eventRowsOrExit measures the event feed, or stops the bench with the
// error.
func eventRowsOrExit() []row {
	if *eventRounds <= 0 {
		return nil
	}
	rows, err := eventRows(*eventRounds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xenagent-bench: events:", err)
		os.Exit(1)
	}
	return rows
}

// eventRows measures, in process, on a real state file, how long after
// an operation's step changes a client waiting in hosting.event.from
// has it: the commit (its fsync) included, since an event is visible
// only once durable.
func eventRows(rounds int) ([]row, error) {
	dir, err := os.MkdirTemp("", "xenagent-bench-events-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := service.New(service.Config{}, st, nil, nil, log)
	acct, err := svc.EnsureAccount("BENCH", "Bench", service.HashKey("bench-key-0123456789abcd"), 0)
	if err != nil {
		return nil, err
	}
	face, caller := gandi.NewFace(svc), &service.Caller{AccountID: acct, Handle: "BENCH"}
	ctx := context.Background()
	steps := []string{store.StepWait, store.StepRun}
	var delays, commits, own []time.Duration
	cursor := st.EventCursor()
	for i := range rounds {
		type answer struct {
			at     time.Time
			cursor string
			n      int
			err    error
		}
		got := make(chan answer, 1)
		go func() {
			v, err := face.Call(ctx, caller, "hosting.event.from", []any{map[string]any{"cursor": cursor, "timeout": int64(10)}})
			a := answer{at: time.Now(), err: err}
			if err == nil {
				r := v.(map[string]any)
				a.cursor, a.n = r["cursor"].(string), len(r["events"].([]any))
			}
			got <- a
		}()
		time.Sleep(2 * time.Millisecond) // the client is waiting
		start := time.Now()
		if err := st.Update(func(tx *store.Tx) error {
			tx.PutOperation(store.Operation{ID: 1, AccountID: acct, Type: "vm_start", Step: steps[i%2]})
			return nil
		}); err != nil {
			return nil, err
		}
		commits = append(commits, time.Since(start))
		a := <-got
		if a.err != nil {
			return nil, a.err
		}
		if a.n != 1 {
			return nil, fmt.Errorf("round %d: the client got %d events, want 1", i, a.n)
		}
		delays = append(delays, a.at.Sub(start))
		// What the feed adds to the commit: the client is woken before
		// Update returns, so this is often 0.
		own = append(own, max(0, a.at.Sub(start)-commits[len(commits)-1]))
		cursor = a.cursor
	}
	med, p99 := quantiles(delays)
	cmed, cp99 := quantiles(commits)
	omed, op99 := quantiles(own)
	return []row{
		{name: "events: step change to a waiting event.from (median/p99)", value: ms(med) + " / " + ms(p99), target: "median <= 5 ms", ok: med <= 5*time.Millisecond},
		{name: "  of which the state commit, fsync (median/p99)", value: ms(cmed) + " / " + ms(cp99), target: "-", ok: true},
		{name: "  the feed's own share, after the commit (median/p99)", value: ms(omed) + " / " + ms(op99), target: "-", ok: true},
	}, nil
}

package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// syncBuffer is a log sink the operations' goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Every end, however it comes (done, failed and rolled back, cancelled
// while waiting), is observed once and logged in one line with the
// operation's id, type, resource, duration and result; and every error
// line of the engine names the operation.
func TestOneEndPerOperation(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := New(st, log, Config{RetryFor: time.Second})
	release := make(chan struct{})
	e.Register("ok", Workflow{Steps: []Step{{Name: "a", Do: func(context.Context, *Run) error { return nil }}}})
	e.Register("bad", Workflow{Steps: []Step{{Name: "a", Do: func(context.Context, *Run) error { return errors.New("boom") }}}})
	e.Register("block", Workflow{Steps: []Step{{Name: "a", Do: func(context.Context, *Run) error { <-release; return nil }}}})
	var mu sync.Mutex
	ends := map[int64][]End{}
	e.OnEnd(func(end End) {
		mu.Lock()
		ends[end.Op.ID] = append(ends[end.Op.ID], end)
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	e.Start(ctx)
	defer func() { cancel(); e.Wait() }()

	submit := func(typ string, key string) int64 {
		var id int64
		if err := st.Update(func(tx *store.Tx) error {
			id = tx.NextID("op", tx.HasOperation)
			e.Create(tx, store.Operation{ID: id, Type: typ, Step: store.StepWait, Keys: []string{key}, VMID: 7, DiskID: 3,
				DateCreated: time.Now().UTC()})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.Enqueue(id)
		return id
	}
	ok := submit("ok", "vm:1")
	bad := submit("bad", "vm:2")
	blocker := submit("block", "vm:3")
	waiting := submit("ok", "vm:3")
	if err := e.Cancel(waiting); err != nil {
		t.Fatal(err)
	}
	close(release)
	for _, id := range []int64{ok, bad, blocker, waiting} {
		select {
		case <-e.Done(id):
		case <-time.After(10 * time.Second):
			t.Fatalf("operation %d did not end", id)
		}
	}
	// The observer runs after Done's waiters wake: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(ends)
		mu.Unlock()
		if n == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := map[int64]string{ok: ResultDone, bad: ResultError, blocker: ResultDone, waiting: ResultCancelled}
	mu.Lock()
	for id, res := range want {
		if got := ends[id]; len(got) != 1 || got[0].Result != res || got[0].Duration <= 0 || got[0].Duration > time.Minute {
			t.Errorf("operation %d: ends %+v, want one %s with a duration", id, got, res)
		}
	}
	mu.Unlock()
	lines := map[float64]map[string]any{}
	for _, l := range logs.lines() {
		if l["msg"] == "operation ended" {
			id, _ := l["op_id"].(float64)
			if lines[id] != nil {
				t.Errorf("operation %v logged its end twice", id)
			}
			lines[id] = l
		}
		if l["level"] == "ERROR" || l["level"] == "WARN" {
			if _, ok := l["op_id"]; !ok {
				t.Errorf("a %s line without op_id: %v", l["level"], l)
			}
		}
	}
	for id, res := range want {
		l := lines[float64(id)]
		if l == nil {
			t.Errorf("no end line for operation %d:\n%v", id, logs.lines())
			continue
		}
		if l["result"] != res || l["vm_id"] != float64(7) || l["disk_id"] != float64(3) || l["type"] == nil || l["duration"] == nil {
			t.Errorf("operation %d: end line %v", id, l)
		}
		if _, hasIface := l["iface_id"]; hasIface {
			t.Errorf("operation %d: an iface_id of 0 is logged: %v", id, l)
		}
		if hasErr := l["err"] != nil; hasErr != (res != ResultDone) {
			t.Errorf("operation %d (%s): err in the line = %v", id, res, l["err"])
		}
	}
	if l := lines[float64(bad)]; l != nil && !strings.Contains(l["err"].(string), "boom") {
		t.Errorf("the failed operation's line does not say why: %v", l)
	}
}

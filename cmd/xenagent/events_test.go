package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseStream reads a server-sent event stream's messages with data.
type sseStream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

func openEvents(ctx context.Context, t *testing.T, l *lab, lastID string) *sseStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/events", l.port), nil)
	req.Header.Set("Authorization", "Bearer "+l.key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /events: %s", resp.Status)
	}
	return &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event's id and data.
func (s *sseStream) next() (string, map[string]any) {
	s.t.Helper()
	var id, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading /events: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "" && data != "":
			var m map[string]any
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				s.t.Fatal(err)
			}
			return id, m
		}
	}
}

// until reads events until one matches, and returns its id.
func (s *sseStream) until(class, field, value string) string {
	s.t.Helper()
	for {
		id, m := s.next()
		if f, _ := m["fields"].(map[string]any); m["class"] == class && f[field] == value {
			return id
		}
	}
}

// The agent serves the stream at /events beside the API; a client that
// reconnects with Last-Event-ID after the agent restarted misses nothing.
func TestEventStreamAcrossRestart(t *testing.T) {
	l := newTestDriverLab(t, t.TempDir())
	l.start("")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := openEvents(ctx, t, l, "")
	s.r.ReadString('\n') // the idle comment: the stream is open
	ops := l.must("hosting.vm.create_from", map[string]any{"datacenter_id": int64(1), "hostname": "ev", "memory": int64(256)},
		map[string]any{"name": "sys-ev"}, l.imageDisk())
	vm := ops.([]any)[2].(map[string]any)["vm_id"]
	last := s.until("vm", "state", "running")

	// A stream and a long poll open do not hold the agent's stop.
	polled := make(chan error, 1)
	go func() {
		// Disks: none change now, so the poll waits.
		_, err := l.call("hosting.event.from", map[string]any{"cursor": last, "timeout": int64(60), "classes": "disk"})
		polled <- err
	}()
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	l.stop()
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("the agent took %v to stop with a stream and a long poll open", d)
	}
	if err := <-polled; err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Errorf("long poll at the stop: %v", err)
	}
	s.resp.Body.Close()

	// Restarted: the test driver forgot the domain, so the reconciler
	// finds the VM halted; that change comes after the last id seen.
	l.start("")
	s = openEvents(ctx, t, l, last)
	defer s.resp.Body.Close()
	id, m := s.next()
	for m["class"] != "vm" {
		id, m = s.next()
	}
	if f := m["fields"].(map[string]any); m["action"] != "mod" || f["state"] != "halted" || seqOf(id) <= seqOf(last) || m["id"] != float64(vm.(int64)) {
		t.Fatalf("after the restart, from %s: %s %v", last, id, m)
	}
}

func seqOf(cursor string) int {
	var n int
	fmt.Sscan(cursor[strings.LastIndexByte(cursor, '-')+1:], &n)
	return n
}

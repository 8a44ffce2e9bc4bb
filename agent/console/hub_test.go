package console

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Concurrent first joins share one stream: a second forced open would
// take the console from the first.
func TestConcurrentJoinsOpenOnce(t *testing.T) {
	r := newRig(t)
	var wg sync.WaitGroup
	clients := make([]*Client, 8)
	errs := make([]error, 8)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], errs[i] = r.hub.Join(context.Background(), 1, nil)
		}()
	}
	wg.Wait()
	writers := 0
	for i, c := range clients {
		if errs[i] != nil {
			t.Fatalf("join %d: %v", i, errs[i])
		}
		if c.Writer() {
			writers++
		}
	}
	if n := r.hv.Count("OpenConsole"); n != 1 || writers != 1 {
		t.Fatalf("%d opens and %d writers for 8 joins, want 1 and 1", n, writers)
	}
}

// A client coming back within the linger finds the stream and its
// scrollback; after it, the stream is closed and opened again.
func TestLinger(t *testing.T) {
	r := newRig(t)
	c, err := r.hub.Join(context.Background(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("kept"))
	<-c.Out()
	c.Leave()
	c2, err := r.hub.Join(context.Background(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := <-c2.Out(); string(m.Data) != "kept" {
		t.Fatalf("scrollback %q after rejoining", m.Data)
	}
	c2.Leave()
	time.Sleep(400 * time.Millisecond) // the rig's linger is 200 ms
	if _, err := r.hub.Join(context.Background(), 1, nil); err != nil {
		t.Fatal(err)
	}
	if n := r.hv.Count("OpenConsole"); n != 2 {
		t.Fatalf("%d opens, want 2 (one before the linger ended, one after)", n)
	}
}

package hypervisor

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestReconnectAfterLibvirtdRestart kills libvirtd under a live driver,
// starts it again, and checks that calls work and lifecycle events flow
// again (callbacks re-registered), with a resync event to watchers.
// It disturbs every other libvirt user on the machine, so `make test`
// runs it alone, after the rest, with XENAGENT_LIBVIRTD_RESTART=1.
func TestReconnectAfterLibvirtdRestart(t *testing.T) {
	if os.Getenv("XENAGENT_LIBVIRTD_RESTART") != "1" {
		t.Skip("restarts libvirtd: run alone with XENAGENT_LIBVIRTD_RESTART=1 (make test does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to restart libvirtd")
	}
	ctx := context.Background()
	d, err := Open(ctx, Config{URI: "qemu:///system", CommandTimeout: 10 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	all, stop := d.Watch("")
	defer stop()

	if out, err := exec.Command("pkill", "-x", "libvirtd").CombinedOutput(); err != nil {
		t.Fatalf("pkill libvirtd: %v %s", err, out)
	}
	// While libvirtd is away, calls fail as transient.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := d.State(ctx, "xa-none")
		var te interface{ Transient() bool }
		if err != nil {
			if !asTransient(err, &te) {
				t.Fatalf("error while libvirtd is down is not transient: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("calls kept working with libvirtd killed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command("../deploy/test/start-libvirtd.sh").CombinedOutput(); err != nil {
		t.Fatalf("restarting libvirtd: %v %s", err, out)
	}
	select {
	case ev := <-waitKind(all, EventResync):
		t.Logf("resync after %v", time.Since(ev.Time))
	case <-time.After(30 * time.Second):
		t.Fatal("no resync event after libvirtd came back")
	}
	// Events flow on the new connection: define and undefine a domain.
	name := "xa-reconnect-test"
	spec := DomainSpec{Name: name, UUID: "6f1c9a0e-2d7b-4c3a-9a51-00000000beef", MemoryMB: 64, VCPUs: 1}
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer d.Undefine(ctx, name)
	select {
	case <-waitKind(all, EventDefined):
	case <-time.After(10 * time.Second):
		t.Fatal("no lifecycle event after reconnect: callbacks were not re-registered")
	}
}

func waitKind(ch <-chan Event, kind EventKind) <-chan Event {
	out := make(chan Event, 1)
	go func() {
		for ev := range ch {
			if ev.Kind == kind {
				out <- ev
				return
			}
		}
	}()
	return out
}

func asTransient(err error, te *interface{ Transient() bool }) bool {
	for e := err; e != nil; {
		if t, ok := e.(interface{ Transient() bool }); ok && t.Transient() {
			*te = t
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

package hosttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

// ConsoleRig is a Console under test, the Hypervisor that runs its
// domains, and how to make a domain whose guest answers on its console.
type ConsoleRig struct {
	Hypervisor host.Hypervisor
	Console    host.Console
	// Spec is a domain that boots a guest answering on its console
	// (DomainSpec for a fake).
	Spec func(name string, vmID int64) host.DomainSpec
	// Type is what the suite types once the console is open, and Want
	// what the guest's answer must contain (a fake's echo: the same).
	Type, Want string
	// Boot bounds how long the guest takes to answer (patience when zero).
	Boot time.Duration
}

// ConsoleSuite checks a Console against the port's contract.
func ConsoleSuite(t *testing.T, newRig func(t *testing.T) ConsoleRig) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, r ConsoleRig)
	}{
		{"a missing domain is ErrNoDomain, a stopped one ErrNotRunning", consoleRefusals},
		{"typed bytes reach the guest and its answer comes back; stopping ends reads", consoleRoundTrip},
		{"Close ends a pending read", consoleClose},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newRig(t)) })
	}
}

func consoleRefusals(t *testing.T, r ConsoleRig) {
	ctx := context.Background()
	if _, err := r.Console.OpenConsole(ctx, "xa-vm-console-missing"); !errors.Is(err, host.ErrNoDomain) {
		t.Errorf("console of a missing domain: %v, want ErrNoDomain", err)
	}
	spec := r.Spec("xa-vm-console-stopped", 801)
	if err := r.Hypervisor.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Hypervisor.Undefine(context.Background(), spec.Name) })
	if _, err := r.Console.OpenConsole(ctx, spec.Name); !errors.Is(err, host.ErrNotRunning) {
		t.Errorf("console of a stopped domain: %v, want ErrNotRunning", err)
	}
}

// reader collects what a console gives until it ends.
type reader struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan error
}

func readAll(c io.Reader) *reader {
	r := &reader{done: make(chan error, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			r.mu.Unlock()
			if err != nil {
				r.done <- err
				return
			}
		}
	}()
	return r
}

func (r *reader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// waitFor types s every few seconds (a guest still booting misses it)
// until want shows in the output or d passes.
func (r *reader) waitFor(t *testing.T, w io.Writer, s, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	next := time.Now()
	for time.Now().Before(deadline) {
		if time.Now().After(next) {
			if _, err := w.Write([]byte(s)); err != nil {
				t.Fatalf("typing %q: %v (output so far %q)", s, err, r.String())
			}
			next = time.Now().Add(3 * time.Second)
		}
		if strings.Contains(r.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q on the console after %v; output: %q", want, d, r.String())
}

func (r ConsoleRig) start(t *testing.T, name string, id int64) host.DomainSpec {
	ctx := context.Background()
	spec := r.Spec(name, id)
	if err := r.Hypervisor.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Hypervisor.Undefine(context.Background(), spec.Name) })
	if err := r.Hypervisor.Start(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	return spec
}

func (r ConsoleRig) boot() time.Duration {
	if r.Boot > 0 {
		return r.Boot
	}
	return patience
}

func consoleRoundTrip(t *testing.T, r ConsoleRig) {
	ctx := context.Background()
	spec := r.start(t, "xa-vm-console-rt", 802)
	c, err := r.Console.OpenConsole(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := readAll(c)
	out.waitFor(t, c, r.Type, r.Want, r.boot())
	if err := r.Hypervisor.Destroy(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.done:
	case <-time.After(patience):
		t.Fatalf("reads did not end %v after the domain stopped", patience)
	}
}

func consoleClose(t *testing.T, r ConsoleRig) {
	ctx := context.Background()
	spec := r.start(t, "xa-vm-console-close", 803)
	c, err := r.Console.OpenConsole(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	out := readAll(c)
	time.Sleep(100 * time.Millisecond) // the read is pending
	c.Close()
	select {
	case <-out.done:
	case <-time.After(patience):
		t.Fatalf("a pending read did not end %v after Close", patience)
	}
}

package hostfake_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/host/hosttest"
)

var ctx = context.Background()

// What the fakes offer beyond the port: faults before and after acting,
// limited to a name and a number of calls, and a hook.
func TestFaults(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		fault   hostfake.Fault
		results []error // of Create on a, b, a, a
		made    []bool  // whether a, b exist after
	}{
		{"before acting, every call", hostfake.Fault{Err: boom}, []error{boom, boom, boom, boom}, []bool{false, false}},
		{"after acting", hostfake.Fault{Err: boom, After: true, Times: 1}, []error{boom, nil, nil, nil}, []bool{true, true}},
		{"on one name", hostfake.Fault{Err: boom, Name: "a"}, []error{boom, nil, boom, boom}, []bool{false, true}},
		{"twice", hostfake.Fault{Err: boom, Times: 2}, []error{boom, boom, nil, nil}, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := hostfake.NewVolumes()
			v.Fail("Create", tt.fault)
			for i, n := range []string{"a", "b", "a", "a"} {
				if err := v.Create(ctx, n, 8, hosttest.Own1); !errors.Is(err, tt.results[i]) || (err == nil) != (tt.results[i] == nil) {
					t.Fatalf("call %d on %s: %v, want %v", i+1, n, err, tt.results[i])
				}
			}
			for i, n := range []string{"a", "b"} {
				if ok, _ := v.Exists(ctx, n); ok != tt.made[i] {
					t.Errorf("%s exists: %v", n, ok)
				}
			}
			if v.Count("Create") != 4 || len(v.Calls()) != 6 {
				t.Errorf("calls %+v", v.Calls())
			}
		})
	}
	v := hostfake.NewVolumes()
	v.Hook(func(method, name string) error {
		if method == "Delete" {
			return boom
		}
		return nil
	})
	v.Create(ctx, "a", 8, hosttest.Own1)
	if err := v.Delete(ctx, "a", hosttest.Own1); !errors.Is(err, boom) {
		t.Fatalf("hooked delete: %v", err)
	}
	v.Clear()
	if err := v.Delete(ctx, "a", hosttest.Own1); err != nil {
		t.Fatalf("delete once cleared: %v", err)
	}
}

// A domain's devices appear in the wiring at start, go at stop, and are
// named anew at every start (Xen's vifD.N), or are the tap we chose.
// Link watchers hear of each, in order.
func TestDevicesFollowTheDomain(t *testing.T) {
	w := hostfake.NewWiring()
	h := hostfake.NewHypervisor(hostfake.WithLinks(w))
	heard := listen(t, w)
	spec := hosttest.DomainSpec("xa-vm-1", 1)
	spec.Ifaces = append(spec.Ifaces, host.IfaceSpec{MAC: "00:16:3e:00:00:02", Target: "xa-t2"})
	h.Define(ctx, spec)
	h.Start(ctx, "xa-vm-1")
	if got := w.Devices(); !slices.Equal(got, []string{"vif1.0", "xa-t2"}) {
		t.Fatalf("devices at start: %v", got)
	}
	h.Destroy(ctx, "xa-vm-1")
	h.Start(ctx, "xa-vm-1")
	if got := w.Devices(); !slices.Equal(got, []string{"vif2.0", "xa-t2"}) {
		t.Fatalf("devices at the second start: %v", got)
	}
	h.Halt("xa-vm-1")
	if got := w.Devices(); len(got) != 0 {
		t.Fatalf("devices after the guest halted: %v", got)
	}
	want := []string{"+vif1.0", "+xa-t2", "-vif1.0", "-xa-t2", "+vif2.0", "+xa-t2", "-vif2.0", "-xa-t2"}
	for i, x := range want {
		select {
		case ev := <-heard:
			if got := map[bool]string{false: "+", true: "-"}[ev.Gone] + ev.Name; got != x {
				t.Fatalf("event %d: %s, want %s", i, got, x)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("heard %d events of %d", i, len(want))
		}
	}
}

// listen watches w's links until the test ends; it returns once the
// watch is in place (it heard a probe device come and go).
func listen(t *testing.T, w *hostfake.Wiring) <-chan host.LinkEvent {
	heard := make(chan host.LinkEvent, 64)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		w.WatchLinks(lctx, func(ev host.LinkEvent) { heard <- ev })
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	for {
		w.Plug("probe")
		w.Unplug("probe")
		select {
		case ev := <-heard:
			for ev.Name == "probe" && !ev.Gone {
				ev = <-heard
			}
			return heard
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// An obeying guest takes its time; the caller waits on events.
func TestGuestDelayAndDisconnect(t *testing.T) {
	h := hostfake.NewHypervisor()
	h.Define(ctx, hosttest.DomainSpec("xa-vm-1", 1))
	h.Start(ctx, "xa-vm-1")
	h.SetGuest("xa-vm-1", hostfake.Guest{Delay: 30 * time.Millisecond})
	began := time.Now()
	h.Shutdown(ctx, "xa-vm-1")
	if st, _ := h.State(ctx, "xa-vm-1"); !st.Running {
		t.Fatal("stopped within the call")
	}
	if _, err := h.WaitFor(ctx, "xa-vm-1", func(s host.State) bool { return !s.Running }); err != nil || time.Since(began) < 30*time.Millisecond {
		t.Fatalf("stopped after %v: %v", time.Since(began), err)
	}

	events, stop := h.Watch("")
	defer stop()
	h.Disconnect()
	var tr interface{ Transient() bool }
	if err := h.Start(ctx, "xa-vm-1"); !errors.Is(err, host.ErrDisconnected) || !errors.As(err, &tr) || !tr.Transient() {
		t.Fatalf("start while disconnected: %v", err)
	}
	h.Reconnect()
	for ev := range events {
		if ev.Kind == host.EventResync {
			break
		}
	}
	if err := h.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// Domains never lists a domain without the owner mark; the other calls see it.
func TestForeignDomains(t *testing.T) {
	h := hostfake.NewHypervisor()
	h.AddForeign("someone", true)
	doms, err := h.Domains(ctx)
	if err != nil || len(doms) != 0 {
		t.Fatalf("Domains() = %+v, %v", doms, err)
	}
	if st, _ := h.State(ctx, "someone"); !st.Running {
		t.Fatalf("state %+v", st)
	}
}

// Half-made volumes are listed apart and guard their name, as the file
// backend's are.
func TestPartialVolumes(t *testing.T) {
	v := hostfake.NewVolumes()
	v.PutPartial("xa-disk-3", 8, hosttest.Other)
	if err := v.Create(ctx, "xa-disk-3", 8, hosttest.Own1); !errors.Is(err, host.ErrExists) {
		t.Fatalf("create over another's partial volume: %v", err)
	}
	vols, _ := v.List(ctx)
	if len(vols) != 1 || vols[0].Name != "xa-disk-3.tmp" || !vols[0].Partial {
		t.Fatalf("List = %+v", vols)
	}
	if err := v.Delete(ctx, "xa-disk-3.tmp", hosttest.OwnAny); !errors.Is(err, host.ErrNotOurs) {
		t.Fatalf("deleting another's partial volume: %v", err)
	}
	if err := v.Delete(ctx, "xa-disk-3.tmp", hosttest.Other); err != nil {
		t.Fatal(err)
	}
	if err := v.Create(ctx, "xa-disk-3", 8, hosttest.Own1); err != nil {
		t.Fatal(err)
	}
}

// The fake seeds fail by VM id, before or after acting, and keep their
// own copy of what they were given.
func TestSeedsFaults(t *testing.T) {
	boom := errors.New("boom")
	s := hostfake.NewSeeds()
	s.Fail("Write", hostfake.Fault{Err: boom, Name: "7"})
	if err := s.Write(ctx, 7, hosttest.SeedSpec(7, "web1")); !errors.Is(err, boom) {
		t.Fatalf("refused write: %v", err)
	}
	if _, ok := s.Path(7); ok {
		t.Fatal("a refused write made the seed")
	}
	if err := s.Write(ctx, 8, hosttest.SeedSpec(8, "web2")); err != nil {
		t.Fatalf("a write on another VM: %v", err)
	}
	s.Fail("Write", hostfake.Fault{Err: boom, After: true, Times: 1})
	spec := hosttest.SeedSpec(7, "web1")
	if err := s.Write(ctx, 7, spec); !errors.Is(err, boom) {
		t.Fatalf("write whose answer was lost: %v", err)
	}
	spec.AuthorizedKeys[0] = "changed by the caller"
	p, ok := s.Path(7)
	if got, err := s.Read(p); !ok || err != nil || !slices.Equal(got.AuthorizedKeys, hosttest.SeedSpec(7, "web1").AuthorizedKeys) {
		t.Fatalf("a write whose answer was lost: %v, %+v, %v", ok, got, err)
	}
	s.Fail("Remove", hostfake.Fault{Err: boom})
	if err := s.Remove(ctx, 7); !errors.Is(err, boom) {
		t.Fatalf("refused remove: %v", err)
	}
	if _, err := s.Read(p); err != nil {
		t.Fatalf("a refused remove removed: %v", err)
	}
	if s.Count("Write") != 3 || s.Count("Remove") != 1 {
		t.Errorf("calls %+v", s.Calls())
	}
	if _, err := s.Read("/elsewhere"); !errors.Is(err, hostfake.ErrNoSeed) {
		t.Errorf("reading no seed: %v", err)
	}
}

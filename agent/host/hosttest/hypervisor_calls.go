package hosttest

import (
	"context"
	"errors"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

func (r *hvRig) defined(name string) Devices {
	r.t.Helper()
	d, err := r.Defined(r.ctx, name)
	if err != nil {
		r.t.Fatalf("reading the definition of %s: %v", name, err)
	}
	return d
}

func hvDevices(t *testing.T, r *hvRig) {
	const name = "xa-hosttest-devices"
	spec := r.define(name, 7)
	extra, other := "/var/tmp/xa-hosttest/extra.img", "/var/tmp/xa-hosttest/other.img"
	mac := "00:16:3e:00:00:99"
	steps := []struct {
		what                 string
		do                   func(ctx context.Context) error
		disks, others, ifMAC int // times extra, other and mac are in the definition after
	}{
		{"attach a disk", func(ctx context.Context) error { return r.hv.AttachDisk(ctx, name, 1, host.DiskSpec{Path: extra}) }, 1, 0, 0},
		{"attach it again", func(ctx context.Context) error { return r.hv.AttachDisk(ctx, name, 1, host.DiskSpec{Path: extra}) }, 1, 0, 0},
		{"attach it again elsewhere", func(ctx context.Context) error { return r.hv.AttachDisk(ctx, name, 2, host.DiskSpec{Path: extra}) }, 1, 0, 0},
		// A running guest's disks stay where they are when one before them
		// goes; the next attach at their position takes the next free one.
		{"attach another where it is", func(ctx context.Context) error { return r.hv.AttachDisk(ctx, name, 1, host.DiskSpec{Path: other}) }, 1, 1, 0},
		{"attach that again", func(ctx context.Context) error { return r.hv.AttachDisk(ctx, name, 1, host.DiskSpec{Path: other}) }, 1, 1, 0},
		{"detach it", func(ctx context.Context) error { return r.hv.DetachDisk(ctx, name, extra) }, 0, 1, 0},
		{"detach it again", func(ctx context.Context) error { return r.hv.DetachDisk(ctx, name, extra) }, 0, 1, 0},
		{"detach the other", func(ctx context.Context) error { return r.hv.DetachDisk(ctx, name, other) }, 0, 0, 0},
		{"attach an iface", func(ctx context.Context) error {
			return r.hv.AttachIface(ctx, name, host.IfaceSpec{MAC: mac, Bridge: "xabr0"})
		}, 0, 0, 1},
		{"attach it again", func(ctx context.Context) error {
			return r.hv.AttachIface(ctx, name, host.IfaceSpec{MAC: mac, Bridge: "xabr0"})
		}, 0, 0, 1},
		{"detach it", func(ctx context.Context) error { return r.hv.DetachIface(ctx, name, mac) }, 0, 0, 0},
		{"detach it again", func(ctx context.Context) error { return r.hv.DetachIface(ctx, name, mac) }, 0, 0, 0},
	}
	for _, s := range steps {
		if err := s.do(r.ctx); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		d := r.defined(name)
		if count(d.Disks, extra) != s.disks || count(d.Disks, other) != s.others || count(d.MACs, mac) != s.ifMAC {
			t.Fatalf("after %s: %+v", s.what, d)
		}
		// What the spec defined stays whatever is plugged beside it.
		if count(d.Disks, spec.Disks[0].Path) != 1 || count(d.MACs, spec.Ifaces[0].MAC) != 1 {
			t.Fatalf("after %s, the defined devices changed: %+v", s.what, d)
		}
	}
}

func hvDomains(t *testing.T, r *hvRig) {
	a, b := "xa-hosttest-list-a", "xa-hosttest-list-b"
	r.define(a, 7)
	r.define(b, 8)
	r.start(a)
	doms, err := r.hv.Domains(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]host.Domain{
		a: {Name: a, VMID: 7, Owner: Owner, State: host.State{Exists: true, Running: true}},
		b: {Name: b, VMID: 8, Owner: Owner, State: host.State{Exists: true}},
	}
	for _, d := range doms {
		w, ok := want[d.Name]
		if !ok {
			continue // the host's others
		}
		delete(want, d.Name)
		if d.VMID != w.VMID || d.Owner != w.Owner || d.State.Exists != w.State.Exists || d.State.Running != w.State.Running {
			t.Errorf("listed %+v, want %+v", d, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("Domains() = %+v: missing %v", doms, want)
	}
}

func hvMemory(t *testing.T, r *hvRig) {
	const name = "xa-hosttest-memory"
	spec := r.define(name, 7)
	r.start(name)
	for _, c := range []struct {
		mb int64
		ok bool
	}{{spec.MemoryMB + 128, true}, {spec.MaxMemMB, true}, {spec.MemoryMB, true}, {spec.MaxMemMB * 2, false}} {
		if err := r.hv.SetMemory(r.ctx, name, c.mb); (err == nil) != c.ok {
			t.Errorf("balloon to %d MB (maximum %d): %v", c.mb, spec.MaxMemMB, err)
		}
	}
}

// hvCPUShares: a running domain takes a new weight live, or the driver
// says it cannot (ErrUnsupported), never anything else; the domain runs
// on either way.
func hvCPUShares(t *testing.T, r *hvRig) {
	const name = "xa-hosttest-shares"
	r.define(name, 7)
	r.start(name)
	if err := r.hv.SetCPUShares(r.ctx, name, 512); err != nil && !errors.Is(err, host.ErrUnsupported) {
		t.Errorf("cpu shares of a running domain: %v, want done or ErrUnsupported", err)
	}
	if st, err := r.hv.State(r.ctx, name); err != nil || !st.Running {
		t.Errorf("state after setting cpu shares = %+v, %v; want running", st, err)
	}
}

func hvLiveIfaces(t *testing.T, r *hvRig) {
	const name = "xa-hosttest-live"
	spec := r.define(name, 7)
	r.start(name)
	live, err := r.hv.LiveIfaces(r.ctx, name)
	if err != nil || len(live) != 1 || count([]string{live[0].MAC}, spec.Ifaces[0].MAC) != 1 || live[0].Dev == "" {
		t.Fatalf("live = %+v, %v; want %s on a device", live, err, spec.Ifaces[0].MAC)
	}
	if err := r.hv.Destroy(r.ctx, name); err != nil {
		t.Fatal(err)
	}
	r.waitState(name, "stopped", func(s host.State) bool { return !s.Running })
	if live, err := r.hv.LiveIfaces(r.ctx, name); err != nil || len(live) != 0 {
		t.Fatalf("live after stop = %+v, %v", live, err)
	}
}

func hvUndefineRunning(t *testing.T, r *hvRig) {
	const name = "xa-hosttest-undefine"
	r.define(name, 7)
	r.start(name)
	events, stop := r.hv.Watch(name)
	defer stop()
	if err := r.hv.Undefine(r.ctx, name); err != nil {
		t.Fatal(err)
	}
	r.event(events, name, host.EventUndefined)
	if st, err := r.hv.State(r.ctx, name); err != nil || st.Exists {
		t.Fatalf("after undefine: %+v, %v", st, err)
	}
	if err := r.hv.Ping(r.ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

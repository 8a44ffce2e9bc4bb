package hosttest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

// SaveRig is a Hypervisor whose Save and Restore are under test, and how
// to see that a restored guest resumed rather than booted.
type SaveRig struct {
	Hypervisor host.Hypervisor
	// Spec is a domain that boots a guest (DomainSpec for a fake).
	Spec func(name string, vmID int64) host.DomainSpec
	// Defined reads a domain's persistent definition back; Live, when
	// set, the devices of the running domain.
	Defined func(ctx context.Context, name string) (Devices, error)
	Live    func(ctx context.Context, name string) (Devices, error)
	// Dir holds the save files (a t.TempDir when empty); QEMU's needs to
	// be one libvirtd may write.
	Dir string
	// Count, when set, is how far the guest of a running domain has
	// counted since it booted, the next count it shows; a guest that
	// resumed counts on, one that booted again starts from 1. Without it
	// (libvirt's test driver: no guest) the suite checks the rest.
	Count func(ctx context.Context, name string) (int64, error)
	// SavedDefinition: the hypervisor restores the saved definition
	// (libxl, libvirt's test driver), so disks keep their paths.
	SavedDefinition bool
	// Boot bounds how long a guest takes to show its first count
	// (patience when zero).
	Boot time.Duration
}

// SaveSuite checks Save and Restore against the port's contract. It logs
// how long each took and the file's size: on real QEMU, the downtime of
// a move that carries the memory.
func SaveSuite(t *testing.T, newRig func(t *testing.T) SaveRig) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, r *saveRig)
	}{
		{"refusals name the domain or the file", saveRefusals},
		{"a restored guest counts on, from new disk paths where it can", saveRoundTrip},
		{"saved paused and restored paused, it runs once started", saveRestorePaused},
		{"restore refuses another domain's file", saveOtherDomain},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newSaveRig(t, newRig(t))) })
	}
}

type saveRig struct {
	SaveRig
	t   *testing.T
	hv  host.Hypervisor
	ctx context.Context
}

func newSaveRig(t *testing.T, r SaveRig) *saveRig {
	if r.Dir == "" {
		r.Dir = t.TempDir()
	}
	if r.Boot == 0 {
		r.Boot = patience
	}
	// A move asks RestoreTakesSpec before it saves: it must say what
	// Restore does.
	if got := r.Hypervisor.RestoreTakesSpec(); got == r.SavedDefinition {
		t.Fatalf("RestoreTakesSpec is %v, and the rig says the saved definition runs: %v", got, r.SavedDefinition)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*patience+2*r.Boot)
	t.Cleanup(cancel)
	return &saveRig{SaveRig: r, t: t, hv: r.Hypervisor, ctx: ctx}
}

// run defines and starts name, undefining it at the end, and waits for
// its guest to have counted at least to 3 (a booted guest, not one
// starting), returning the count.
func (r *saveRig) run(name string, vmID int64) (host.DomainSpec, int64) {
	r.t.Helper()
	spec := r.Spec(name, vmID)
	if err := r.hv.Define(r.ctx, spec); err != nil {
		r.t.Fatalf("defining %s: %v", name, err)
	}
	r.t.Cleanup(func() { r.hv.Undefine(context.Background(), name) })
	if err := r.hv.Start(r.ctx, name); err != nil {
		r.t.Fatalf("starting %s: %v", name, err)
	}
	var n int64
	deadline := time.Now().Add(r.Boot)
	for r.Count != nil && n < 3 {
		ctx, cancel := context.WithDeadline(r.ctx, deadline)
		c, err := r.Count(ctx, name)
		cancel()
		if err != nil {
			r.t.Fatalf("the guest of %s counted to %d, then: %v", name, n, err)
		}
		n = c
	}
	return spec, n
}

// save saves name to a file of the rig's and logs how long it took.
func (r *saveRig) save(name string) string {
	r.t.Helper()
	path := filepath.Join(r.Dir, name+".save")
	began := time.Now()
	if err := r.hv.Save(r.ctx, name, path); err != nil {
		r.t.Fatalf("saving %s: %v", name, err)
	}
	took := time.Since(began)
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		r.t.Fatalf("saving %s wrote %v, %v; want a file", name, fi, err)
	}
	r.t.Logf("save of %s: %v, %d bytes (%.1f MiB)", name, took.Round(time.Millisecond), fi.Size(), float64(fi.Size())/(1<<20))
	return path
}

// restore restores spec from path and logs how long it took.
func (r *saveRig) restore(path string, spec host.DomainSpec, paused bool) {
	r.t.Helper()
	began := time.Now()
	if err := r.hv.Restore(r.ctx, path, spec, paused); err != nil {
		r.t.Fatalf("restoring %s: %v", spec.Name, err)
	}
	r.t.Logf("restore of %s (paused %t): %v", spec.Name, paused, time.Since(began).Round(time.Millisecond))
}

// countsOn checks that the guest of name shows a count beyond was.
func (r *saveRig) countsOn(name string, was int64) {
	r.t.Helper()
	if r.Count == nil {
		return
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(r.ctx, r.Boot)
	defer cancel()
	n, err := r.Count(ctx, name)
	if err != nil {
		r.t.Fatalf("reading the count of %s after restore: %v", name, err)
	}
	if n <= was {
		r.t.Fatalf("the guest of %s counted %d after restore, was at %d before save: it booted again rather than resumed", name, n, was)
	}
	r.t.Logf("guest of %s counted %d (was %d) %v after restore", name, n, was, time.Since(began).Round(time.Millisecond))
}

func (r *saveRig) state(name string) host.State {
	r.t.Helper()
	st, err := r.hv.State(r.ctx, name)
	if err != nil {
		r.t.Fatalf("state of %s: %v", name, err)
	}
	return st
}

func saveRefusals(t *testing.T, r *saveRig) {
	const name = "xa-hosttest-save-refused"
	path := filepath.Join(r.Dir, name+".save")
	if err := r.hv.Save(r.ctx, name, path); !errors.Is(err, host.ErrNoDomain) || !strings.Contains(err.Error(), name) {
		t.Errorf("save of a missing domain: %v, want ErrNoDomain naming %s", err, name)
	}
	spec := r.Spec(name, 901)
	if err := r.hv.Define(r.ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.hv.Undefine(context.Background(), name) })
	if err := r.hv.Save(r.ctx, name, path); !errors.Is(err, host.ErrNotRunning) || !strings.Contains(err.Error(), name) {
		t.Errorf("save of a stopped domain: %v, want ErrNotRunning naming %s", err, name)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused save left %s: %v", path, err)
	}
	if err := r.hv.Restore(r.ctx, path, spec, false); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("restore from a missing file: %v, want fs.ErrNotExist naming %s", err, path)
	}
	if st := r.state(name); st.Running {
		t.Errorf("a refused restore left %s running", name)
	}
}

func saveRoundTrip(t *testing.T, r *saveRig) {
	const name = "xa-hosttest-save"
	spec, was := r.run(name, 902)
	events, stop := r.hv.Watch(name)
	defer stop()
	if r.Count != nil {
		n, err := r.Count(r.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		was = n
	}
	seen := time.Now()
	bad := filepath.Join(r.Dir, "missing", name+".save")
	if err := r.hv.Save(r.ctx, name, bad); err == nil {
		t.Fatalf("saving %s into a missing directory succeeded", name)
	}
	if st := r.state(name); !st.Running || st.Paused {
		t.Fatalf("after a failed save %s is %+v, want it running as it was", name, st)
	}
	path := r.save(name)
	ev := r.event(events, name, host.EventStopped)
	if ev.Detail != host.DetailSaved {
		t.Errorf("stopped event detail %d after save, want DetailSaved (%d)", ev.Detail, host.DetailSaved)
	}
	if st := r.state(name); !st.Exists || st.Running {
		t.Fatalf("after save %s is %+v, want defined and shut off", name, st)
	}
	if err := r.hv.Save(r.ctx, name, path+".again"); !errors.Is(err, host.ErrNotRunning) {
		t.Errorf("saving a saved domain: %v, want ErrNotRunning", err)
	}

	// The target host keeps its disks elsewhere, where it can say so.
	moved := spec
	moved.Disks = slices.Clone(spec.Disks)
	for i := range moved.Disks {
		moved.Disks[i].Path = strings.Replace(moved.Disks[i].Path, name, name+"-moved", 1)
	}
	if r.SavedDefinition {
		err := r.hv.Restore(r.ctx, path, moved, false)
		if !errors.Is(err, host.ErrUnsupported) || !strings.Contains(err.Error(), moved.Disks[0].Path) {
			t.Errorf("restore with a moved disk where the saved definition runs: %v, want ErrUnsupported naming %s", err, moved.Disks[0].Path)
		}
		if st := r.state(name); st.Running {
			t.Fatalf("a refused restore left %s running", name)
		}
		moved = spec
	}
	// The target is another agent: its owner mark, not the source's.
	moved.Owner = "7a26e700c0ffee00"
	r.restore(path, moved, false)
	r.event(events, name, host.EventStarted)
	after := r.state(name)
	if !after.Running || after.Paused {
		t.Fatalf("after restore %s is %+v, want running", name, after)
	}
	r.countsOn(name, was)
	if r.Count != nil {
		// What the guest lived through: a failed save, the save, the
		// restore, and at most one count's period on either side.
		t.Logf("guest of %s: %v from its count %d to its next", name, time.Since(seen).Round(time.Millisecond), was)
	}
	var want []string
	for _, d := range moved.Disks {
		want = append(want, d.Path)
	}
	for what, read := range map[string]func(context.Context, string) (Devices, error){"defined": r.Defined, "running": r.Live} {
		if read == nil {
			continue
		}
		got, err := read(r.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Disks, want) {
			t.Errorf("%s disks after restore %v, want %v", what, got.Disks, want)
		}
	}
	doms, err := r.hv.Domains(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(doms, func(d host.Domain) bool { return d.Name == name })
	if i < 0 || doms[i].Owner != moved.Owner || doms[i].VMID != moved.VMID || !doms[i].State.Running {
		t.Errorf("Domains after restore: %+v, want %s running, owner %s, vm %d", doms, name, moved.Owner, moved.VMID)
	}
	if err := r.hv.Restore(r.ctx, path, moved, false); !errors.Is(err, host.ErrAlreadyActive) {
		t.Errorf("restoring a running domain: %v, want ErrAlreadyActive", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("restore removed its file: %v", err)
	}
}

func (r *saveRig) event(events <-chan host.Event, name string, kind host.EventKind) host.Event {
	r.t.Helper()
	return (&hvRig{t: r.t}).event(events, name, kind)
}

func saveRestorePaused(t *testing.T, r *saveRig) {
	const name = "xa-hosttest-save-paused"
	spec, was := r.run(name, 903)
	if r.Count != nil {
		n, err := r.Count(r.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		was = n
	}
	// A paused domain saves too (the move pauses it first, perhaps).
	if err := r.hv.Suspend(r.ctx, name); err != nil {
		t.Fatal(err)
	}
	path := r.save(name)
	r.restore(path, spec, true)
	if st := r.state(name); !st.Running || !st.Paused {
		t.Fatalf("restored paused, %s is %+v", name, st)
	}
	began := time.Now()
	if err := r.hv.Start(r.ctx, name); err != nil {
		t.Fatalf("starting %s restored paused: %v", name, err)
	}
	t.Logf("resume of %s: %v", name, time.Since(began).Round(time.Millisecond))
	if st := r.state(name); !st.Running || st.Paused {
		t.Fatalf("started, %s is %+v", name, st)
	}
	r.countsOn(name, was)
}

func saveOtherDomain(t *testing.T, r *saveRig) {
	const name, other = "xa-hosttest-save-mine", "xa-hosttest-save-other"
	r.run(name, 904)
	path := r.save(name)
	spec := r.Spec(other, 905)
	t.Cleanup(func() { r.hv.Undefine(context.Background(), other) })
	if err := r.hv.Restore(r.ctx, path, spec, false); err == nil {
		t.Fatalf("restoring %s from %s's file succeeded", other, name)
	}
	if st := r.state(other); st.Exists {
		t.Errorf("a refused restore left %s defined (%+v)", other, st)
	}
	// The guest's memory cannot grow under it either.
	bigger := r.Spec(name, 904)
	bigger.MemoryMB, bigger.MaxMemMB = bigger.MemoryMB*2, max(bigger.MaxMemMB, bigger.MemoryMB)*2
	if err := r.hv.Restore(r.ctx, path, bigger, false); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Errorf("restoring %s with twice its memory: %v, want a refusal naming the memory", name, err)
	}
	if st := r.state(name); st.Running {
		t.Errorf("restoring another domain started %s", name)
	}
}

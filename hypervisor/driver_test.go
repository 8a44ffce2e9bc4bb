package hypervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
)

func openTest(t *testing.T) *Driver {
	t.Helper()
	d, err := Open(context.Background(), Config{URI: "test:///default", CommandTimeout: 10 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func testSpec(name string) DomainSpec {
	return DomainSpec{Name: name, VMID: 7, UUID: "6f1c9a0e-2d7b-4c3a-9a51-" + fmt.Sprintf("%012x", len(name)), MemoryMB: 256, VCPUs: 1,
		Disks:  []DiskSpec{{Path: "/tmp/" + name + ".img"}},
		Ifaces: []IfaceSpec{{MAC: "00:16:3e:00:00:07", Bridge: "br0"}}}
}

func TestLifecycleOnTestDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := openTest(t)
	name := "xa-life-" + strings.ReplaceAll(t.Name(), "/", "-")
	if err := d.Define(ctx, testSpec(name)); err != nil {
		t.Fatal(err)
	}
	defer d.Undefine(ctx, name)
	if err := d.Define(ctx, testSpec(name)); err != nil {
		t.Fatalf("defining twice: %v", err)
	}
	events, stop := d.Watch(name)
	defer stop()
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	if ev, err := d.WaitEvent(ctx, events, EventStarted); err != nil || ev.Kind != EventStarted {
		t.Fatalf("no started event: %v %v", ev, err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("starting a running domain: %v", err)
	}
	st, _ := d.State(ctx, name)
	if !st.Running {
		t.Fatalf("state after start = %+v", st)
	}
	if err := d.Shutdown(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitFor(ctx, name, func(s State) bool { return !s.Running }); err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(ctx, name); err != nil {
		t.Fatalf("destroying a stopped domain: %v", err)
	}
	doms, err := d.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, dom := range doms {
		if dom.Name == name && dom.VMID == 7 {
			found = true
		}
	}
	if !found {
		t.Errorf("Domains() = %+v, missing %s with vm_id 7", doms, name)
	}
	if err := d.Undefine(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, name); st.Exists {
		t.Fatal("domain still exists after undefine")
	}
	if err := d.Undefine(ctx, name); err != nil {
		t.Fatalf("undefining a missing domain: %v", err)
	}
}

func TestHotplugOnTestDriver(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	name := "xa-hotplug"
	if err := d.Define(ctx, testSpec(name)); err != nil {
		t.Fatal(err)
	}
	defer d.Undefine(ctx, name)
	if err := d.AttachDisk(ctx, name, 1, DiskSpec{Path: "/tmp/extra.img"}); err != nil {
		t.Fatal(err)
	}
	x, _ := d.DomainXMLOf(ctx, name)
	if !strings.Contains(x, "/tmp/extra.img") {
		t.Fatalf("attached disk missing from definition:\n%s", x)
	}
	if err := d.DetachDisk(ctx, name, "/tmp/extra.img"); err != nil {
		t.Fatal(err)
	}
	x, _ = d.DomainXMLOf(ctx, name)
	if strings.Contains(x, "/tmp/extra.img") {
		t.Fatal("detached disk still in definition")
	}
	if err := d.AttachIface(ctx, name, IfaceSpec{MAC: "00:16:3e:00:00:99", Bridge: "br0"}); err != nil {
		t.Fatal(err)
	}
	if err := d.DetachIface(ctx, name, "00:16:3e:00:00:99"); err != nil {
		t.Fatal(err)
	}
	x, _ = d.DomainXMLOf(ctx, name)
	if strings.Contains(x, "00:16:3e:00:00:99") {
		t.Fatal("detached interface still in definition")
	}
}

func TestRebootOnTestDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := openTest(t)
	name := "xa-reboot"
	if err := d.Define(ctx, testSpec(name)); err != nil {
		t.Fatal(err)
	}
	defer d.Undefine(ctx, name)
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	events, stop := d.Watch(name)
	defer stop()
	if err := d.Reboot(ctx, name); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	timeout := time.After(time.Second)
loop:
	for {
		select {
		case ev := <-events:
			kinds = append(kinds, ev.Kind.String())
		case <-timeout:
			break loop
		}
	}
	st, _ := d.State(ctx, name)
	t.Logf("test driver reboot events: %v, state after: %+v", kinds, st)
	if !st.Running {
		t.Fatal("domain not running after reboot")
	}
	if err := d.Reset(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func TestPing(t *testing.T) {
	if err := openTest(t).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A connection dropped while a call runs on it (libvirtd restarting under
// a health ping abandoned at its timeout) is closed only once the call
// returns: closing frees the C object, and the lab's agent died of
// SIGSEGV inside virConnectGetLibVersion when it was closed under one.
func TestDroppedConnectionOutlivesItsCalls(t *testing.T) {
	d := openTest(t)
	closed := make(chan struct{})
	d.closeDropped = func(c *libvirt.Connect) { close(closed); c.Close() }
	inside, release := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- d.call(context.Background(), "test call", func(c *libvirt.Connect) error {
			close(inside)
			<-release
			_, err := c.GetLibVersion()
			return err
		})
	}()
	<-inside
	d.mu.Lock()
	conn := d.conn
	d.mu.Unlock()
	d.dropConn(conn)
	select {
	case <-closed:
		t.Fatal("the dropped connection was closed while a call ran on it")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("a call on a dropped connection failed: %v", err)
	}
	<-closed // and closed once the call returned
}

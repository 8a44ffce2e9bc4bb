package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// These tests kill the real agent with SIGKILL while an operation on a VM
// runs, on libvirt's test driver: its domains live in the agent's process
// and vanish with it, as a host crash can lose a definition under Xen. The
// resumed operation must find or make again what it needs and end DONE,
// and the VM must then reboot, stop and start (the issue saw a resumed
// stop leave no domain, and a later reboot fail "domain ... does not exist").

func newDriverLab(t *testing.T) *lab {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "disks"), 0o755)
	l := &lab{t: t, dir: dir, port: freePort(t), bin: buildPlain(t), conf: filepath.Join(dir, "agent.toml")}
	conf := fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
log_level = "debug"
[libvirt]
uri = "test:///default"
[storage]
backend = "file"
dir = %q
[network]
bridge = "xabr0"
wire = false
sweep = false
[network.ipv4]
prefix = "10.77.0.0/24"
[timeouts]
stop = "2s"
stop_messages = 2
reboot = "2s"
[demo]
enabled = true
[[images]]
label = "plain"
size_mb = 8
`, l.port, dir, filepath.Join(dir, "disks"))
	os.WriteFile(l.conf, []byte(conf), 0o644)
	t.Cleanup(func() {
		if l.agent != nil {
			l.agent.cmd.Process.Kill()
			l.agent.wait()
		}
		if t.Failed() && l.agent != nil {
			t.Logf("agent log:\n%s", l.agent.out)
		}
	})
	return l
}

// restart stops the agent (the test driver forgets every domain) and
// starts it again with a fail point, keeping the log of the runs before.
func (l *lab) restart(failpoint string) {
	l.t.Helper()
	var before *bytes.Buffer
	if l.agent != nil {
		before = l.agent.out
		l.stop()
	}
	l.start(failpoint)
	if before != nil {
		l.t.Cleanup(func() {
			if l.t.Failed() {
				l.t.Logf("earlier agent log:\n%s", before)
			}
		})
	}
}

// done runs a call to DONE.
func (l *lab) done(method string, params ...any) []map[string]any {
	l.t.Helper()
	v := l.must(method, params...)
	var ids []any
	switch x := v.(type) {
	case []any:
		for _, o := range x {
			ids = append(ids, o.(map[string]any)["id"])
		}
	case map[string]any:
		ids = append(ids, x["id"])
	}
	var out []map[string]any
	for _, id := range ids {
		out = append(out, l.waitOp(id))
	}
	for _, o := range out {
		if o["step"] != "DONE" {
			l.t.Fatalf("%s: operation %v (%v) ended %v: %v", method, o["id"], o["type"], o["step"], o["last_error"])
		}
	}
	return out
}

func (l *lab) waitOp(id any) map[string]any {
	l.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info := l.must("operation.info", id).(map[string]any)
		if s := info["step"]; s != "WAIT" && s != "RUN" {
			return info
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("operation %v still %v", id, info["step"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *lab) vmState(vmID any) string {
	l.t.Helper()
	return l.must("hosting.vm.info", vmID).(map[string]any)["state"].(string)
}

// resumeFixture is what a case made before the call it interrupts.
type resumeFixture struct{ vm, disk, iface, snap int64 }

func TestResumedStepsRecreateLostDomains(t *testing.T) {
	cases := []struct {
		failpoint string
		prepare   func(l *lab, f *resumeFixture)
		call      func(l *lab, f resumeFixture) (string, []any)
		gone      bool // the VM is deleted
	}{
		{failpoint: "vm_stop:begin:stop",
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.stop", []any{f.vm} }},
		{failpoint: "vm_stop:begin:unplug",
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.stop", []any{f.vm} }},
		{failpoint: "vm_reboot:begin:reboot",
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.reboot", []any{f.vm} }},
		{failpoint: "vm_reboot:begin:wire",
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.reboot", []any{f.vm} }},
		{failpoint: "vm_start:begin:start",
			prepare: func(l *lab, f *resumeFixture) { l.done("hosting.vm.stop", f.vm) },
			call:    func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.start", []any{f.vm} }},
		{failpoint: "vm_update:begin:apply",
			call: func(l *lab, f resumeFixture) (string, []any) {
				return "hosting.vm.update", []any{f.vm, map[string]any{"memory": int64(192)}}
			}},
		{failpoint: "disk_attach:begin:attach",
			prepare: func(l *lab, f *resumeFixture) {
				f.disk = l.done("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(8)})[0]["disk_id"].(int64)
			},
			call: func(l *lab, f resumeFixture) (string, []any) {
				return "hosting.vm.disk_attach", []any{f.vm, f.disk, map[string]any{}}
			}},
		{failpoint: "disk_detach:begin:detach",
			prepare: func(l *lab, f *resumeFixture) {
				f.disk = l.done("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(8)})[0]["disk_id"].(int64)
				l.done("hosting.vm.disk_attach", f.vm, f.disk, map[string]any{})
			},
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.disk_detach", []any{f.vm, f.disk} }},
		{failpoint: "iface_attach:begin:attach",
			prepare: func(l *lab, f *resumeFixture) {
				f.iface = l.done("hosting.iface.create", map[string]any{"datacenter_id": int64(1)})[0]["iface_id"].(int64)
			},
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.iface_attach", []any{f.vm, f.iface} }},
		{failpoint: "iface_detach:begin:detach",
			prepare: func(l *lab, f *resumeFixture) {
				f.iface = l.done("hosting.iface.create", map[string]any{"datacenter_id": int64(1)})[0]["iface_id"].(int64)
				l.done("hosting.vm.iface_attach", f.vm, f.iface)
			},
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.iface_detach", []any{f.vm, f.iface} }},
		// The rollback chain (stop, detach, rollback, attach, start),
		// killed in each of its operations.
		{failpoint: "vm_stop:begin:stop", prepare: snapshotSystemDisk,
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.disk_rollback", []any{f.snap} }},
		{failpoint: "disk_detach:begin:detach", prepare: snapshotSystemDisk,
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.disk_rollback", []any{f.snap} }},
		{failpoint: "disk_rollback:begin:clone", prepare: snapshotSystemDisk,
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.disk_rollback", []any{f.snap} }},
		{failpoint: "disk_attach:begin:attach", prepare: snapshotSystemDisk,
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.disk_rollback", []any{f.snap} }},
		{failpoint: "vm_start:begin:start", prepare: snapshotSystemDisk,
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.disk_rollback", []any{f.snap} }},
		{failpoint: "vm_delete:done:destroy", gone: true,
			call: func(l *lab, f resumeFixture) (string, []any) { return "hosting.vm.delete", []any{f.vm} }},
	}
	for _, c := range cases {
		f := resumeFixture{}
		t.Run(fmt.Sprintf("%s/%s", callName(c.call(nil, f)), c.failpoint), func(t *testing.T) {
			l := newDriverLab(t)
			// Armed from the start: what a case prepares never reaches
			// its fail point, and the VM still runs when the call comes.
			l.start(c.failpoint)
			made := l.done("hosting.vm.create_from",
				map[string]any{"datacenter_id": int64(1), "hostname": "resume", "memory": int64(256), "password": "first-boot-pass"},
				map[string]any{"name": "sys"}, l.imageDisk())
			f.vm = made[2]["vm_id"].(int64)
			if c.prepare != nil {
				c.prepare(l, &f)
			}
			method, params := c.call(l, f)
			l.call(method, params...) // the fail point may kill the agent before it answers
			l.waitKilled()
			l.start("")
			for _, o := range l.settle() {
				if o["step"] != "DONE" {
					t.Errorf("operation %v %v ended %v: %v", o["id"], o["type"], o["step"], o["last_error"])
				}
			}
			if t.Failed() {
				t.FailNow()
			}
			if c.gone {
				if _, err := l.call("hosting.vm.info", f.vm); err == nil {
					t.Fatalf("vm %d still has a record after its delete resumed", f.vm)
				}
				l.checkVolumes()
				return
			}
			// What the next calls need is there, in this run and after
			// one more restart.
			for round := 0; round < 2; round++ {
				l.done("hosting.vm.reboot", f.vm)
				if s := l.vmState(f.vm); s != "running" {
					t.Fatalf("after reboot: state %s", s)
				}
				l.done("hosting.vm.stop", f.vm)
				if s := l.vmState(f.vm); s != "halted" {
					t.Fatalf("after stop: state %s", s)
				}
				l.done("hosting.vm.start", f.vm)
				if s := l.vmState(f.vm); s != "running" {
					t.Fatalf("after start: state %s", s)
				}
				l.restart("")
			}
			l.checkVolumes()
			l.stop()
		})
	}
}

func callName(method string, _ []any) string { return method }

// snapshotSystemDisk takes a snapshot of the VM's system disk for a
// vm.disk_rollback.
func snapshotSystemDisk(l *lab, f *resumeFixture) {
	sys := l.must("hosting.vm.info", f.vm).(map[string]any)["disks_id"].([]any)[0]
	f.snap = l.done("hosting.disk.create_from", map[string]any{"type": "snapshot"}, sys)[0]["disk_id"].(int64)
}

package gandi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// fakeISO writes a file with the ISO 9660 mark (CD001 at 32769): enough
// for the registration's check and libvirt's test driver.
func fakeISO(t *testing.T, dir, name string) string {
	t.Helper()
	b := make([]byte, 64<<10)
	copy(b[0x8001:], "CD001")
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// registerISO registers a fake ISO and returns its id.
func (a *agent) registerISO(label string) (int64, string) {
	a.t.Helper()
	p := fakeISO(a.t, a.t.TempDir(), label+".iso")
	if err := a.wf.EnsureISO(context.Background(), workflow.ISOSpec{Label: label, File: p}); err != nil {
		a.t.Fatal(err)
	}
	list := a.mustCall(a.alice, "hosting.iso.list", map[string]any{"label": label}).([]any)
	if len(list) != 1 {
		a.t.Fatalf("iso.list for %q = %v", label, list)
	}
	return list[0].(map[string]any)["id"].(int64), p
}

func (a *agent) domainXML(vmID int64) string {
	a.t.Helper()
	x, err := a.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if err != nil {
		a.t.Fatal(err)
	}
	return strings.ReplaceAll(x, "'", `"`) // libvirt writes attributes in single quotes
}

// Registration is once per label, checks the file is an ISO, and follows
// a file the operator moved.
func TestISORegistration(t *testing.T) {
	a := newAgent(t, false)
	ctx := context.Background()
	dir := t.TempDir()
	p := fakeISO(t, dir, "rescue.iso")
	for i := 0; i < 2; i++ {
		if err := a.wf.EnsureISO(ctx, workflow.ISOSpec{Label: "rescue", File: p}); err != nil {
			t.Fatal(err)
		}
	}
	list := a.mustCall(a.alice, "hosting.iso.list").([]any)
	if len(list) != 1 {
		t.Fatalf("iso.list after registering twice = %v", list)
	}
	iso := list[0].(map[string]any)
	if iso["label"] != "rescue" || iso["size"] != int64(1) || iso["datacenter_id"] != int64(1) || iso["path"] != nil {
		t.Fatalf("iso = %v (want label rescue, 1 MB, datacenter 1, no host path)", iso)
	}
	moved := fakeISO(t, dir, "rescue-2.iso")
	if err := a.wf.EnsureISO(ctx, workflow.ISOSpec{Label: "rescue", File: moved}); err != nil {
		t.Fatal(err)
	}
	a.st.View(func(tx *store.Tx) {
		if got, _ := tx.ISO(iso["id"].(int64)); got.Path != moved {
			t.Errorf("path after the file moved = %q, want %q", got.Path, moved)
		}
	})
	notISO := filepath.Join(dir, "disk.img")
	os.WriteFile(notISO, make([]byte, 64<<10), 0o644)
	if err := a.wf.EnsureISO(ctx, workflow.ISOSpec{Label: "bad", File: notISO}); !errors.Is(err, workflow.ErrNotISO) {
		t.Errorf("registering a file that is no ISO: %v, want ErrNotISO", err)
	}
	if err := a.wf.EnsureISO(ctx, workflow.ISOSpec{Label: "gone", File: filepath.Join(dir, "nope.iso")}); err == nil || !strings.Contains(err.Error(), `iso "gone"`) {
		t.Errorf("registering a missing file: %v, want an error naming the ISO", err)
	}
	if n := len(a.mustCall(a.alice, "hosting.iso.list").([]any)); n != 1 {
		t.Errorf("%d ISOs after two refused registrations, want 1", n)
	}
}

// Attach, boot from the CD, detach: each reaches the definition at once
// and, on a running VM, the next boot (a fresh start).
func TestISOAttachBootDetach(t *testing.T) {
	a := newAgent(t, true)
	isoID, path := a.registerISO("rescue")
	vmID := a.createVM(a.alice, "cd")

	op := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.iso_attach", vmID, isoID))[0]
	if op["type"] != "vm_iso_attach" || op["params"].(map[string]any)["effective"] != "next_boot" {
		t.Fatalf("attach operation = %v", op)
	}
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if info["iso_id"] != isoID || info["boot_type"] != "default" {
		t.Fatalf("after attach: iso_id %v boot_type %v", info["iso_id"], info["boot_type"])
	}
	x := a.domainXML(vmID)
	if !strings.Contains(x, `device="cdrom"`) || !strings.Contains(x, path) || strings.Contains(x, `<boot dev="cdrom"`) {
		t.Fatalf("definition after attach (want the CD-ROM, booting from disk):\n%s", x)
	}
	if !a.vmRecord(vmID).RestartPending {
		t.Fatal("a running VM's CD-ROM changed without a restart pending")
	}

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.boot_type", vmID, "cdrom"))
	if got := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["boot_type"]; got != "cdrom" {
		t.Fatalf("boot_type = %v", got)
	}
	x = a.domainXML(vmID)
	if i, j := strings.Index(x, `<boot dev="cdrom"`), strings.Index(x, `<boot dev="hd"`); i < 0 || j < i {
		t.Fatalf("definition after boot_type cdrom (want cdrom, then hd):\n%s", x)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reboot", vmID))
	if v := a.vmRecord(vmID); v.RestartPending || v.State != store.VMRunning {
		t.Fatalf("after reboot: state %s, restart pending %v (want a fresh start)", v.State, v.RestartPending)
	}

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.iso_detach", vmID))
	info = a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if info["iso_id"] != nil || info["boot_type"] != "default" {
		t.Fatalf("after detach: iso_id %v boot_type %v", info["iso_id"], info["boot_type"])
	}
	if x := a.domainXML(vmID); strings.Contains(x, "cdrom") {
		t.Fatalf("definition after detach still has a CD-ROM:\n%s", x)
	}
	// Another account's VM is not found, whatever the ISO.
	if _, f := a.call(a.bob, "hosting.vm.iso_attach", vmID, isoID); f == nil || f.Cause != CauseNotFound {
		t.Fatalf("bob attaching to alice's VM: %v", f)
	}
}

// Bad input is a fault naming the field and the rule, and changes nothing.
func TestISOBadInput(t *testing.T) {
	a := newAgent(t, true)
	isoID, _ := a.registerISO("rescue")
	other, _ := a.registerISO("other")
	vmID := a.createVM(a.alice, "cd")
	for _, step := range []struct {
		name   string
		method string
		params []any
		want   string
		then   func() // a successful call that sets up the next cases
	}{
		{name: "iso id zero", method: "hosting.vm.iso_attach", params: []any{vmID, int64(0)}, want: "iso_id: must be a positive id"},
		{name: "unknown iso", method: "hosting.vm.iso_attach", params: []any{vmID, int64(9999)}, want: "iso_id: iso 9999 does not exist"},
		{name: "iso id a string", method: "hosting.vm.iso_attach", params: []any{vmID, "1"}, want: "iso_id"},
		{name: "too many", method: "hosting.vm.iso_attach", params: []any{vmID, isoID, map[string]any{}, int64(1)}, want: "too many arguments"},
		{name: "detach none", method: "hosting.vm.iso_detach", params: []any{vmID}, want: "vm_id: vm"},
		{name: "boot type unknown", method: "hosting.vm.boot_type", params: []any{vmID, "floppy"}, want: `boot_type: must be default or cdrom, got "floppy"`},
		{name: "boot type missing", method: "hosting.vm.boot_type", params: []any{vmID}, want: "boot_type"},
		{name: "boot cdrom without iso", method: "hosting.vm.boot_type", params: []any{vmID, "cdrom"}, want: "boot_type: vm",
			then: func() { a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.iso_attach", vmID, isoID)) }},
		{name: "second iso", method: "hosting.vm.iso_attach", params: []any{vmID, other}, want: "iso_id: vm"},
		{name: "unknown vm", method: "hosting.vm.iso_detach", params: []any{int64(424242)}, want: "424242"},
	} {
		before := a.snapshot()
		rec := a.vmRecord(vmID)
		_, f := a.call(a.alice, step.method, step.params...)
		if f == nil || !strings.Contains(f.Msg, step.want) {
			t.Errorf("%s: fault %v, want one saying %q", step.name, f, step.want)
		}
		if after := a.snapshot(); after != before {
			t.Errorf("%s: records changed: %v -> %v", step.name, before, after)
		}
		if got := a.vmRecord(vmID); got.ISOID != rec.ISOID || got.BootType != rec.BootType {
			t.Errorf("%s: vm changed: iso %d boot %q -> iso %d boot %q", step.name, rec.ISOID, rec.BootType, got.ISOID, got.BootType)
		}
		if step.then != nil {
			step.then()
		}
	}
}

// A Xen PV host refuses every ISO call, saying why, and changes nothing.
func TestISORefusedOnXenPV(t *testing.T) {
	a := newAgent(t, true, func(c *agentConfig) { c.NoCDROM = true })
	isoID, _ := a.registerISO("rescue")
	vmID := a.createVM(a.alice, "pv")
	before := a.snapshot()
	for _, call := range [][]any{
		{"hosting.vm.iso_attach", vmID, isoID},
		{"hosting.vm.iso_detach", vmID},
		{"hosting.vm.boot_type", vmID, "cdrom"},
	} {
		_, f := a.call(a.alice, call[0].(string), call[1:]...)
		if f == nil || !strings.Contains(f.Msg, "Xen PV") || !strings.Contains(f.Msg, "no CD-ROM") {
			t.Errorf("%s on Xen PV: %v", call[0], f)
		}
	}
	if after := a.snapshot(); after != before {
		t.Errorf("records changed: %v -> %v", before, after)
	}
}

// A boot type from the CD that a detach queued before it took away fails
// when it runs, naming the field, and leaves the VM as the detach did.
func TestISOBootTypeAfterQueuedDetach(t *testing.T) {
	a := newAgent(t, true)
	isoID, _ := a.registerISO("rescue")
	vmID := a.createVM(a.alice, "cd")
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.iso_attach", vmID, isoID))
	held, release := make(chan struct{}), make(chan struct{})
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == workflow.OpISODetach && boundary == "begin:record" {
			close(held)
			<-release
		}
	})
	detach := a.mustCall(a.alice, "hosting.vm.iso_detach", vmID)
	<-held
	boot := a.mustCall(a.alice, "hosting.vm.boot_type", vmID, "cdrom")
	a.rig.OnBoundary(nil)
	close(release)
	a.mustDone(a.alice, detach)
	got := a.wait(a.alice, boot)[0]
	if got["step"] != "ERROR" || !strings.Contains(got["last_error"].(string), "boot_type") {
		t.Fatalf("boot_type after a queued detach ended %v: %v", got["step"], got["last_error"])
	}
	if v := a.vmRecord(vmID); v.ISOID != 0 || v.BootType != "" {
		t.Fatalf("vm after: iso %d boot %q", v.ISOID, v.BootType)
	}
	if x := a.domainXML(vmID); strings.Contains(x, "cdrom") {
		t.Fatalf("definition still has a CD-ROM:\n%s", x)
	}
}

// The operator's lock (lock.go) refuses every CD-ROM call on the VM,
// naming the lock, and changes nothing.
func TestISOOnLockedVM(t *testing.T) {
	a := newAgent(t, true)
	isoID, _ := a.registerISO("rescue")
	vmID := a.createVM(a.alice, "lk")
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.iso_attach", vmID, isoID))
	a.mustCall(a.op, "hosting.vm.lock", vmID, "legal hold #42")
	before, rec := a.snapshot(), a.vmRecord(vmID)
	for _, call := range [][]any{
		{"hosting.vm.boot_type", vmID, "cdrom"},
		{"hosting.vm.iso_detach", vmID},
	} {
		_, f := a.call(a.alice, call[0].(string), call[1:]...)
		if f == nil || !strings.Contains(f.Msg, "legal hold #42") {
			t.Errorf("%s on a locked VM: %v, want a fault naming the lock", call[0], f)
		}
	}
	if got := a.vmRecord(vmID); a.snapshot() != before || got.ISOID != rec.ISOID || got.BootType != rec.BootType {
		t.Errorf("refused calls changed records: vm iso %d boot %q", got.ISOID, got.BootType)
	}
}

// A second attach queued behind the first (both found the VM without an
// ISO when called) fails when it runs, naming the field, and does not
// silently replace the ISO the first attached: a VM has one CD-ROM, and
// another ISO needs a detach first.
func TestISOAttachAfterQueuedAttach(t *testing.T) {
	a := newAgent(t, true)
	first, _ := a.registerISO("rescue")
	second, _ := a.registerISO("installer")
	vmID := a.createVM(a.alice, "cd2")
	held, release := make(chan struct{}), make(chan struct{})
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == workflow.OpISOAttach && boundary == "begin:record" {
			a.rig.OnBoundary(nil)
			close(held)
			<-release
		}
	})
	op1 := a.mustCall(a.alice, "hosting.vm.iso_attach", vmID, first)
	<-held
	op2 := a.mustCall(a.alice, "hosting.vm.iso_attach", vmID, second)
	close(release)
	a.mustDone(a.alice, op1)
	got := a.wait(a.alice, op2)[0]
	if got["step"] != "ERROR" || !strings.Contains(got["last_error"].(string), "iso_id") {
		t.Fatalf("second attach ended %v: %v", got["step"], got["last_error"])
	}
	if v := a.vmRecord(vmID); v.ISOID != first {
		t.Fatalf("vm has iso %d, want the first attached, %d", v.ISOID, first)
	}
}

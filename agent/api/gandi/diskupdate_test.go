package gandi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

func withKernels(t *testing.T, names ...string) agentOpt {
	dir := t.TempDir()
	for _, n := range names {
		os.MkdirAll(filepath.Join(dir, n), 0o755)
		os.WriteFile(filepath.Join(dir, n, "vmlinuz"), []byte("k"), 0o644)
	}
	return func(c *agentConfig) { c.KernelsDir = dir }
}

func TestDiskUpdate(t *testing.T) {
	a := newAgent(t, true, withKernels(t, "6.1-amd64", "freebsd-13"))
	vmID := a.createVM(a.alice, "upd")
	sys := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)[0]

	kernels := a.mustCall(a.alice, "hosting.disk.list_kernels", int64(1)).(map[string]any)
	if l := kernels["linux"].([]any); len(l) != 1 || l[0] != "6.1-amd64" || len(kernels["bsd"].([]any)) != 1 {
		t.Fatalf("list_kernels = %v", kernels)
	}
	if opts := a.mustCall(a.alice, "hosting.disk.list_options", "6.1-amd64").(map[string]any); opts["root"] == nil {
		t.Fatalf("list_options = %v", opts)
	}

	// Growing an attached disk of a running VM reboots the VM with the new size.
	op := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.update", sys, map[string]any{
		"size": int64(128), "name": "bigger", "kernel": "6.1-amd64",
		"cmdline_options": map[string]any{"root": "/dev/xvda", "ro": true, "console": "hvc0"}}))
	if op[0]["type"] != "disk_update" || op[0]["vm_id"] != vmID {
		t.Fatalf("op = %v", op[0])
	}
	d := a.mustCall(a.alice, "hosting.disk.info", sys).(map[string]any)
	if d["size"] != int64(128) || d["name"] != "bigger" || d["kernel_version"] != "6.1-amd64" {
		t.Fatalf("disk.info = %v", d)
	}
	if cl := d["kernel_cmdline"].(map[string]any); cl["root"] != "/dev/xvda" || cl["ro"] != true || cl["console"] != "hvc0" {
		t.Fatalf("kernel_cmdline = %v", cl)
	}
	if size, _ := a.vols.SizeMB(context.Background(), workflow.VolumeName(sys)); size != 128 {
		t.Fatalf("volume is %d MB", size)
	}
	var v store.VM
	a.st.View(func(tx *store.Tx) { v, _ = tx.VM(vmID) })
	if v.State != store.VMRunning || v.RestartPending {
		t.Fatalf("after the update's reboot: state %s, restart pending %v", v.State, v.RestartPending)
	}
	x, _ := a.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if !strings.Contains(x, "6.1-amd64/vmlinuz") || !strings.Contains(x, "<cmdline>console=hvc0 ro root=/dev/xvda ip=") {
		t.Fatalf("the fresh start did not take the new kernel and cmdline:\n%s", x)
	}

	tests := []struct {
		name  string
		spec  map[string]any
		cause int
		field string
	}{
		{"shrink", map[string]any{"size": int64(64)}, CauseBadParam, "never shrink"},
		{"over quota", map[string]any{"size": int64(200000)}, CauseBadParam, "size"},
		{"unknown kernel", map[string]any{"kernel": "2.6.32"}, CauseBadParam, "kernel"},
		{"unknown option", map[string]any{"cmdline_options": map[string]any{"evil": "1"}}, CauseBadParam, "cmdline_options.evil"},
		{"both cmdlines", map[string]any{"cmdline": "ro", "cmdline_options": map[string]any{"ro": true}}, CauseBadParam, "cmdline"},
		{"bad name", map[string]any{"name": "a b"}, CauseBadParam, "name"},
		{"nothing", map[string]any{}, CauseMissing, "disk_spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.snapshot()
			_, f := a.call(a.alice, "hosting.disk.update", sys, tt.spec)
			if f == nil || (f.Cause != tt.cause && !(tt.name == "over quota" && f.Cause == CauseQuota)) || !strings.Contains(f.Error(), tt.field) {
				t.Fatalf("fault %v, want cause %d naming %q", f, tt.cause, tt.field)
			}
			if a.snapshot() != before {
				t.Fatal("a refused update changed records")
			}
		})
	}
	if _, f := a.call(a.alice, "hosting.disk.list_options", "nope"); f == nil || !strings.Contains(f.Msg, "kernel_version") {
		t.Fatalf("list_options of an unknown kernel: %v", f)
	}
}

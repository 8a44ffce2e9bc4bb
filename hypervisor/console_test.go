package hypervisor

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// The console suite on real QEMU guests (busybox with a shell on its
// serial), through qemu:///system.
func TestConsoleConformanceQEMU(t *testing.T) {
	guesttest.RequireQEMU(t)
	dir := t.TempDir()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755) // QEMU runs as libvirt-qemu
	}
	if err := guesttest.Build(dir); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "consoles")
	os.MkdirAll(logs, 0o777)
	os.Chmod(logs, 0o777)
	d, err := Open(context.Background(), Config{URI: "qemu:///system", CommandTimeout: 30 * time.Second, ConsoleDir: logs},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	hosttest.ConsoleSuite(t, func(t *testing.T) hosttest.ConsoleRig {
		return hosttest.ConsoleRig{Hypervisor: d, Console: d,
			Spec: func(name string, vmID int64) DomainSpec {
				s := hosttest.DomainSpec(name, vmID)
				s.Disks, s.Ifaces, s.MaxMemMB, s.MemoryMB = nil, nil, 0, 128
				s.Kernel, s.Initrd = filepath.Join(dir, "coop", "vmlinuz"), filepath.Join(dir, "coop", "initrd.img")
				s.Cmdline = "console=ttyS0 quiet panic=-1"
				return s
			},
			Type: "echo hello-$((6*7))\r", Want: "hello-42", Boot: 120 * time.Second}
	})
}

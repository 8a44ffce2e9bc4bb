package hypervisor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// The headers libxl and the test driver write before the saved XML,
// built here as their C structs lay them out.
func TestSavedDomainXML(t *testing.T) {
	const xml = "<domain><name>vm</name></domain>"
	libxl := func(version uint32, xmlLen int, body string) []byte {
		h := make([]byte, 64)
		copy(h, libxlSaveMagic)
		binary.NativeEndian.PutUint32(h[16:], version)
		binary.NativeEndian.PutUint32(h[20:], uint32(xmlLen))
		return append(append(h, body...), "\x00libxl stream follows"...)
	}
	test := func(n int32, body string) []byte {
		h := append([]byte(nil), testSaveMagic...)
		h = binary.NativeEndian.AppendUint32(h, uint32(n))
		return append(h, body...)
	}
	for _, c := range []struct {
		name    string
		file    []byte
		want    string
		wantErr string
	}{
		{"libxl v2, length with the NUL", libxl(2, len(xml)+1, xml), xml, ""},
		{"libxl v1", libxl(1, len(xml), xml), xml, ""},
		{"test driver", test(int32(len(xml)), xml), xml, ""},
		{"a QEMU image", append([]byte("LibvirtQemudSave"), make([]byte, 80)...), "", "not a domain saved by libvirt's libxl or test driver"},
		{"a short file", []byte("libvirt"), "", "not a domain saved"},
		{"a length beyond the file", libxl(2, 4096, xml), "", "reading the saved definition"},
		{"a negative length", test(-5, xml), "", "saved definition of -5 bytes"},
		{"a huge length", libxl(2, 1<<30, xml), "", "saved definition of 1073741824 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vm.save")
			if err := os.WriteFile(path, c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := savedDomainXML(path)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, c.wantErr)
			case got != c.want:
				t.Fatalf("xml %q, want %q", got, c.want)
			}
		})
	}
}

func TestSameSavedDomain(t *testing.T) {
	spec := DomainSpec{Name: "vm", UUID: "4b1d2c3e-0000-4000-8000-000000000001", MemoryMB: 256, VCPUs: 1,
		Disks: []DiskSpec{{Path: "/dev/vg/vm-1-0", Block: true}}}
	render := func(edit func(*DomainSpec)) string {
		s := spec
		s.Disks = append([]DiskSpec(nil), spec.Disks...)
		edit(&s)
		x, err := DomainXML(FlavorXenPV, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	saved := render(func(*DomainSpec) {})
	for _, c := range []struct {
		name       string
		want       string
		fixedPaths bool
		wantErr    string
		unsupp     bool
	}{
		{"the same domain", saved, true, "", false},
		{"a new owner mark", render(func(s *DomainSpec) { s.Owner = "target" }), true, "", false},
		{"a moved disk, new XML taken", render(func(s *DomainSpec) { s.Disks[0].Path = "/dev/vg2/vm-1-0" }), false, "", false},
		{"a moved disk, saved XML runs", render(func(s *DomainSpec) { s.Disks[0].Path = "/dev/vg2/vm-1-0" }), true, "/dev/vg2/vm-1-0", true},
		{"another name", render(func(s *DomainSpec) { s.Name = "vm2" }), false, `name "vm2"`, false},
		{"the same memory in KiB", strings.Replace(saved, `<memory unit="MiB">256</memory>`, `<memory unit="KiB">262144</memory>`, 1), true, "", false},
		{"more memory", render(func(s *DomainSpec) { s.MaxMemMB = 512 }), false, "maximum memory 524288 KiB is not the saved domain's 262144 KiB", false},
		{"more vcpus", render(func(s *DomainSpec) { s.VCPUs = 2 }), false, "vcpus 2 is not the saved domain's 1", false},
		{"another uuid", render(func(s *DomainSpec) { s.UUID = "4b1d2c3e-0000-4000-8000-000000000002" }), false, "uuid 4b1d2c3e-0000-4000-8000-000000000002", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := sameSavedDomain(saved, c.want, c.fixedPaths)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, c.wantErr)
			case c.unsupp != errors.Is(err, ErrUnsupported):
				t.Fatalf("error %v: ErrUnsupported %t, want %t", err, errors.Is(err, ErrUnsupported), c.unsupp)
			}
		})
	}
}

// Save and Restore on real QEMU (TCG) through qemu:///system: the tiny
// guest counts on its console (xenagent.count), and a restored one must
// count on from where it was, at the new disk path the restore gave it.
// The suite logs the save and restore times and the file's size.
func TestSaveConformanceQEMU(t *testing.T) {
	guesttest.RequireQEMU(t)
	dir := t.TempDir()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755) // QEMU runs as libvirt-qemu
	}
	if err := guesttest.Build(dir); err != nil {
		t.Fatal(err)
	}
	logs, saves, disks := filepath.Join(dir, "consoles"), filepath.Join(dir, "saves"), filepath.Join(dir, "disks")
	for _, d := range []string{logs, saves, disks} {
		os.MkdirAll(d, 0o777)
		os.Chmod(d, 0o777)
	}
	d, err := Open(context.Background(), Config{URI: "qemu:///system", CommandTimeout: 30 * time.Second, ConsoleDir: logs},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	hosttest.SaveSuite(t, func(t *testing.T) hosttest.SaveRig {
		return hosttest.SaveRig{Hypervisor: d, Dir: saves, Boot: 120 * time.Second,
			Spec: func(name string, vmID int64) DomainSpec {
				s := hosttest.DomainSpec(name, vmID)
				s.Ifaces, s.MaxMemMB, s.MemoryMB = nil, 0, 128
				s.Kernel, s.Initrd = filepath.Join(dir, "coop", "vmlinuz"), filepath.Join(dir, "coop", "initrd.img")
				s.Cmdline = "console=ttyS0 quiet panic=-1 xenagent.count"
				// The disk where the suite defines it and where it moves it.
				s.Disks[0].Path = filepath.Join(disks, name+"-0.img")
				for _, p := range []string{s.Disks[0].Path, filepath.Join(disks, name+"-moved-0.img")} {
					if err := os.WriteFile(p, nil, 0o666); err != nil || os.Truncate(p, 16<<20) != nil {
						t.Fatalf("disk %s: %v", p, err)
					}
				}
				return s
			},
			Defined: func(ctx context.Context, name string) (hosttest.Devices, error) { return definedDevices(ctx, d, name) },
			Live:    func(ctx context.Context, name string) (hosttest.Devices, error) { return liveDevices(ctx, d, name) },
			Count: func(ctx context.Context, name string) (int64, error) {
				return nextCount(ctx, filepath.Join(logs, name+".log"))
			},
		}
	})
}

// nextCount waits for the next count line a guest writes to its console
// log after the call, and returns its count.
func nextCount(ctx context.Context, log string) (int64, error) {
	from := int64(0)
	if fi, err := os.Stat(log); err == nil {
		from = fi.Size()
	}
	for {
		if b, err := os.ReadFile(log); err == nil {
			if int64(len(b)) < from {
				from = 0 // a new log
			}
			lines := strings.Split(string(b[from:]), "\n")
			for _, line := range lines[:len(lines)-1] { // the last is not written whole yet
				i := strings.Index(line, guesttest.CountPrefix)
				if i < 0 {
					continue
				}
				if n, err := strconv.ParseInt(strings.TrimSpace(line[i+len(guesttest.CountPrefix):]), 10, 64); err == nil {
					return n, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no %q line in %s: %w", guesttest.CountPrefix, log, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

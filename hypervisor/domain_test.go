package hypervisor

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func goldenSpec() DomainSpec {
	return DomainSpec{
		Name: "xa-vm-42", UUID: "6f1c9a0e-2d7b-4c3a-9a51-1f0e8b7c6d5e", VMID: 42, Owner: "0123456789abcdef",
		MemoryMB: 512, MaxMemMB: 2048, VCPUs: 2,
		Kernel: "/var/lib/xenagent/kernels/6.1/vmlinuz", Initrd: "/var/lib/xenagent/kernels/6.1/initrd.img",
		Cmdline: "root=/dev/xvda1 ro console=hvc0",
		Disks:   []DiskSpec{{Path: "/dev/vg0/xa-disk-7", Block: true}, {Path: "/srv/disks/xa-disk-8.img", ReadOnly: true}},
		Ifaces:  []IfaceSpec{{MAC: "00:16:3e:00:00:2a", Bridge: "xabr0", Target: "xa-t42"}},
		Seed:    "/var/lib/xenagent/seeds/xa-seed-42.iso",
		// QEMU logs its pty serial there; Xen ignores it.
		ConsoleLog: "/var/lib/xenagent/console/xa-vm-42.log",
	}
}

func TestDomainXMLGolden(t *testing.T) {
	for _, flavor := range []Flavor{FlavorXenPV, FlavorXenHVM, FlavorQEMU, FlavorTest} {
		t.Run(string(flavor), func(t *testing.T) {
			got, err := DomainXML(flavor, goldenSpec())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", string(flavor)+".xml")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("domain XML differs from %s:\n%s", path, got)
			}
		})
	}
}

func TestDomainXMLRejectsIncompleteSpec(t *testing.T) {
	if _, err := DomainXML(FlavorTest, DomainSpec{Name: "x"}); err == nil {
		t.Fatal("spec without memory accepted")
	}
	if _, err := DomainXML("bogus", goldenSpec()); err == nil {
		t.Fatal("unknown flavor accepted")
	}
}

func TestDiskTarget(t *testing.T) {
	for i, want := range map[int]string{0: "xvda", 1: "xvdb", 25: "xvdz", 26: "xvdaa", 27: "xvdab"} {
		if got := DiskTarget("xvd", i); got != want {
			t.Errorf("DiskTarget(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestFlavorForURI(t *testing.T) {
	tests := []struct {
		uri      string
		hvm, kvm bool
		want     Flavor
		wantErr  bool
	}{
		{"xen:///system", false, false, FlavorXenPV, false},
		{"xen:///system", true, false, FlavorXenHVM, false},
		{"qemu:///system", false, false, FlavorQEMU, false},
		{"qemu:///system", false, true, FlavorKVM, false},
		{"test:///default", false, false, FlavorTest, false},
		{"lxc:///", false, false, "", true},
	}
	for _, tt := range tests {
		got, err := FlavorForURI(tt.uri, tt.hvm, tt.kvm)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("FlavorForURI(%q) = %q, %v", tt.uri, got, err)
		}
	}
}

// TestDomainXMLCDROM: an ISO is a read-only IDE CD-ROM; booting from it
// drops the direct kernel and puts the CD first; Xen PV refuses both.
func TestDomainXMLCDROM(t *testing.T) {
	for _, boot := range []bool{false, true} {
		spec := goldenSpec()
		spec.CDROM, spec.BootCDROM = "/srv/isos/rescue.iso", boot
		got, err := DomainXML(FlavorQEMU, spec)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", map[bool]string{false: "qemu-cdrom.xml", true: "qemu-cdrom-boot.xml"}[boot])
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create)", err)
		}
		if got != string(want) {
			t.Errorf("domain XML differs from %s:\n%s", path, got)
		}
	}
	for _, spec := range []DomainSpec{
		func() DomainSpec { s := goldenSpec(); s.CDROM = "/srv/isos/rescue.iso"; return s }(),
		func() DomainSpec { s := goldenSpec(); s.CDROM, s.BootCDROM = "/srv/isos/rescue.iso", true; return s }(),
	} {
		if _, err := DomainXML(FlavorXenPV, spec); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Xen PV with a CD-ROM (boot %v): err = %v, want ErrUnsupported", spec.BootCDROM, err)
		}
		if _, err := DomainXML(FlavorXenHVM, spec); err != nil {
			t.Errorf("Xen HVM with a CD-ROM: %v", err)
		}
	}
	spec := goldenSpec()
	spec.BootCDROM = true
	if _, err := DomainXML(FlavorQEMU, spec); err == nil {
		t.Error("boot from a CD-ROM without an ISO accepted")
	}
}

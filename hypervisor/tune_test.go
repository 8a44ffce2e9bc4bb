package hypervisor

import (
	"context"
	"strings"
	"testing"
)

// The weight is in the definition of every flavor when set, and absent
// (the hypervisor's default) when not.
func TestDomainXMLCPUShares(t *testing.T) {
	for _, flavor := range []Flavor{FlavorXenPV, FlavorXenHVM, FlavorQEMU, FlavorTest} {
		for _, c := range []struct {
			shares int64
			want   string
		}{{0, ""}, {512, "<cputune>\n    <shares>512</shares>\n  </cputune>"}} {
			spec := goldenSpec()
			spec.CPUShares = c.shares
			got, err := DomainXML(flavor, spec)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" && strings.Contains(got, "cputune") || c.want != "" && !strings.Contains(got, c.want) {
				t.Errorf("%s, shares %d: got\n%s\nwant %q", flavor, c.shares, got, c.want)
			}
		}
	}
}

// libvirt's test driver takes the weight of a running domain through
// "weight", as libxl does, and reads one back (always its fixed 50: the
// QEMU test reads back what was set).
func TestCPUSharesTestDriver(t *testing.T) {
	d := openPrivate(t)
	ctx := context.Background()
	spec := DomainSpec{Name: "xa-shares", UUID: "6f1c9a0e-2d7b-4c3a-9a51-1f0e8b7c6d00", VMID: 1, MemoryMB: 128, VCPUs: 1}
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.SetCPUShares(ctx, spec.Name, 300); err != nil {
		t.Fatalf("stopped domain: %v, want done", err)
	}
	if err := d.Start(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if err := d.SetCPUShares(ctx, spec.Name, 300); err != nil {
		t.Fatalf("running domain: %v", err)
	}
	got, err := d.CPUShares(ctx, spec.Name)
	if err != nil || got <= 0 {
		t.Fatalf("cpu shares read back = %d, %v; want a weight", got, err)
	}
}

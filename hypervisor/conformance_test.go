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
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// openPrivate opens libvirt's test driver on an empty node of its own:
// in-process, no daemon, no domain but the test's.
func openPrivate(t *testing.T) *Driver {
	t.Helper()
	node := filepath.Join(t.TempDir(), "node.xml")
	if err := os.WriteFile(node, []byte("<node/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), Config{URI: "test://" + node, CommandTimeout: 10 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// The port's suite on the driver over libvirt's test driver. Its guests
// always obey and its reboots report nothing (RebootReportsItself is
// false): the suite checks what the driver says it does.
func TestHypervisorConformance(t *testing.T) {
	hosttest.HypervisorSuite(t, func(t *testing.T) hosttest.HypervisorRig {
		d := openPrivate(t)
		return hosttest.HypervisorRig{Hypervisor: d, Defined: func(ctx context.Context, name string) (hosttest.Devices, error) {
			return definedDevices(ctx, d, name)
		}}
	})
}

// definedDevices reads a domain's disks and interfaces from its
// persistent definition.
func definedDevices(ctx context.Context, d *Driver, name string) (hosttest.Devices, error) {
	x, err := d.DomainXMLOf(ctx, name)
	if err != nil {
		return hosttest.Devices{}, err
	}
	return devicesOf(x)
}

// liveDevices reads a running domain's disks and interfaces: what the
// hypervisor opened, which a restore may set apart from the saved ones.
func liveDevices(ctx context.Context, d *Driver, name string) (hosttest.Devices, error) {
	var x string
	err := d.withDomain(ctx, "reading live definition of", name, func(dom *libvirt.Domain) error {
		var err error
		x, err = dom.GetXMLDesc(0)
		return err
	})
	if err != nil {
		return hosttest.Devices{}, err
	}
	return devicesOf(x)
}

func devicesOf(x string) (hosttest.Devices, error) {
	var out hosttest.Devices
	var def libvirtxml.Domain
	if err := def.Unmarshal(x); err != nil {
		return out, err
	}
	if def.Devices == nil {
		return out, nil
	}
	for _, disk := range def.Devices.Disks {
		out.Disks = append(out.Disks, diskPath(disk))
	}
	for _, n := range def.Devices.Interfaces {
		if n.MAC != nil {
			out.MACs = append(out.MACs, n.MAC.Address)
		}
	}
	return out, nil
}

// Save and Restore on libvirt's test driver: it has no guest to count
// and, like libxl, restores the saved definition (it refuses a new XML).
func TestSaveConformance(t *testing.T) {
	hosttest.SaveSuite(t, func(t *testing.T) hosttest.SaveRig {
		d := openPrivate(t)
		return hosttest.SaveRig{Hypervisor: d, Spec: hosttest.DomainSpec, SavedDefinition: true,
			Defined: func(ctx context.Context, name string) (hosttest.Devices, error) { return definedDevices(ctx, d, name) },
			Live:    func(ctx context.Context, name string) (hosttest.Devices, error) { return liveDevices(ctx, d, name) }}
	})
}

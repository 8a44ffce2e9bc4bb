package hypervisor

import (
	"context"
	"errors"
	"fmt"

	"libvirt.org/go/libvirt"
)

// schedShares is the scheduler parameter that carries <cputune><shares>
// live: the credit scheduler's weight for libxl (and the test driver),
// the cgroup's cpu_shares for QEMU.
func (d *Driver) schedShares(shares int64) *libvirt.DomainSchedulerParameters {
	switch d.flavor {
	case FlavorQEMU, FlavorKVM:
		return &libvirt.DomainSchedulerParameters{CpuSharesSet: true, CpuShares: uint64(shares)}
	default:
		return &libvirt.DomainSchedulerParameters{WeightSet: true, Weight: uint(shares)}
	}
}

// SetCPUShares sets a running domain's CPU weight live; a stopped one
// takes it from its definition at the next start. The change is made
// with VIR_DOMAIN_AFFECT_CURRENT, the one flag libxl accepts, which is
// the live domain when it runs.
func (d *Driver) SetCPUShares(ctx context.Context, name string, shares int64) error {
	return d.withDomain(ctx, "setting cpu shares of", name, func(dom *libvirt.Domain) error {
		if active, err := dom.IsActive(); err != nil || !active {
			return err
		}
		err := dom.SetSchedulerParametersFlags(d.schedShares(shares), libvirt.DOMAIN_AFFECT_CURRENT)
		var lv libvirt.Error
		if errors.As(err, &lv) && unsupportedLive(lv) {
			return fmt.Errorf("%w: %s", ErrUnsupported, lv.Message)
		}
		return err
	})
}

// unsupportedLive: the driver or the host cannot change the weight of a
// running domain (no CPU cgroup controller for QEMU, a scheduler without
// weights for Xen), as opposed to a failed call.
func unsupportedLive(lv libvirt.Error) bool {
	switch lv.Code {
	case libvirt.ERR_NO_SUPPORT, libvirt.ERR_OPERATION_UNSUPPORTED, libvirt.ERR_ARGUMENT_UNSUPPORTED, libvirt.ERR_CONFIG_UNSUPPORTED:
		return true
	case libvirt.ERR_OPERATION_INVALID:
		return contains(lv.Message, "cgroup", "CPU controller")
	}
	return false
}

// CPUShares reads a domain's CPU weight back as libvirt reports it
// (virsh schedinfo): live when it runs, else from its definition.
func (d *Driver) CPUShares(ctx context.Context, name string) (int64, error) {
	var out int64
	err := d.withDomain(ctx, "reading cpu shares of", name, func(dom *libvirt.Domain) error {
		p, err := dom.GetSchedulerParameters()
		if err != nil {
			return err
		}
		switch {
		case p.CpuSharesSet:
			out = int64(p.CpuShares)
		case p.WeightSet:
			out = int64(p.Weight)
		default:
			return fmt.Errorf("the scheduler (%s) reports no weight", p.Type)
		}
		return nil
	})
	if err != nil {
		return 0, err // an abandoned call may still be writing out
	}
	return out, nil
}

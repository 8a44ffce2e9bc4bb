package service

import (
	"context"

	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/network/wire"
	"github.com/xenagent/xenagent/storage/mark"
)

// Hypervisor is what the workflows need from libvirt.
type Hypervisor interface {
	Define(ctx context.Context, spec hypervisor.DomainSpec) error
	Undefine(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
	Shutdown(ctx context.Context, name string) error
	Reboot(ctx context.Context, name string) error
	Destroy(ctx context.Context, name string) error
	Reset(ctx context.Context, name string) error
	State(ctx context.Context, name string) (hypervisor.State, error)
	WaitFor(ctx context.Context, name string, cond func(hypervisor.State) bool) (hypervisor.State, error)
	Watch(name string) (<-chan hypervisor.Event, func())
	AttachDisk(ctx context.Context, name string, pos int, disk hypervisor.DiskSpec) error
	DetachDisk(ctx context.Context, name, path string) error
	AttachIface(ctx context.Context, name string, n hypervisor.IfaceSpec) error
	DetachIface(ctx context.Context, name, mac string) error
	SetMemory(ctx context.Context, name string, mb int64) error
	Domains(ctx context.Context) ([]hypervisor.Domain, error)
	LiveIfaces(ctx context.Context, name string) ([]hypervisor.LiveIface, error)
	RebootReportsItself() bool
	Ping(ctx context.Context) error
}

// Volumes is what the workflows need from a disk backend.
type Volumes interface {
	Path(name string) string
	IsBlock() bool
	Exists(ctx context.Context, name string) (bool, error)
	// Create and Clone mark the volume they make (mark.Mark: this agent
	// instance and the operation); over a volume of another mark they
	// fail with mark.ErrExists and leave it as it is.
	Create(ctx context.Context, name string, sizeMB int64, m mark.Mark) error
	Clone(ctx context.Context, src, dst string, sizeMB int64, m mark.Mark) error
	Resize(ctx context.Context, name string, sizeMB int64) error
	// Delete removes a volume only if its mark allows m (same owner, and
	// same operation unless m.Op is 0); otherwise mark.ErrNotOurs.
	Delete(ctx context.Context, name string, m mark.Mark) error
	// List returns the agent's volumes (by name prefix or tag) with marks.
	List(ctx context.Context) ([]mark.Volume, error)
	SetReadOnly(ctx context.Context, name string) error
	// Rename never replaces an existing volume (mark.ErrExists).
	Rename(ctx context.Context, from, to string) error
	SetMark(ctx context.Context, name string, m mark.Mark) error
}

// Wiring is what the workflows need from the host's network: filters and
// shaping on an iface's backend device, and its counters.
type Wiring interface {
	Wire(i wire.Iface) error
	Unplugged(id int64, dev string) error
	Unwire(id int64, dev string) error
	Read(dev string) (wire.Counters, error)
	Sweep(keep func(id int64) bool) (wire.Leftovers, error)
}

// Package workflow holds the steps of every operation the agent runs:
// the VM's power (start, stop, reboot), its update, disks, rollback,
// device attach and detach, ifaces, the host-side wiring of interfaces,
// the first-boot seed, images, and moves between hosts (migrate.go: the
// source's vm_migrate, the target's vm_migrate_in, and the rule that
// keeps a VM on exactly one host). Each step is idempotent and acts on
// the host only through the ports of agent/host; the engine (agent/ops)
// journals them, so a crash between any two is resumed or rolled back.
//
// What the steps read and journal is typed, one input and one progress
// type per operation (data.go), stored as JSON in the operation's record;
// OpenState opens the agent's state, converting the string maps an agent
// of store schema 1 journalled into them (upgrade.go). A VM's recorded
// state changes only through RecordVMState, and the hypervisor calls that
// take a domain's devices away only through tearDown, which counts their
// traffic first.
package workflow

import (
	"log/slog"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// Config is what the steps need from the agent's configuration.
type Config struct {
	DatacenterID int64
	Timeouts     Timeouts
	Network      Network
	// KernelsDir holds the kernels a system disk may name.
	KernelsDir string
	// Seeds keeps the first-boot seeds of VMs that have something to
	// provision; nil gives them none (tests that never look at one).
	Seeds host.Seeds
	// Formatter makes the filesystem a disk_create asks for (format.go);
	// nil: such a disk_create fails.
	Formatter host.Formatter
	// Peer and Sender reach a target agent for vm_migrate (migrate.go);
	// nil: such an operation fails at its first step.
	Peer   Peer
	Sender DiskSender
	// MemoryDir holds the memory files of live moves (migrate_memory.go),
	// saved here or received; "": moves are cold.
	MemoryDir string
}

// Workflows runs the steps; New registers them with the engine.
type Workflows struct {
	cfg    Config
	st     *store.Store
	eng    *ops.Engine
	hv     host.Hypervisor
	vols   host.Volumes
	ext    host.Extents // nil: the backend cannot move disks (migrate*.go)
	log    *slog.Logger
	wiring wiringState
	taken  TakenNames
	force  forceBell // force.go
}

// New makes the steps and registers every workflow with eng.
func New(cfg Config, st *store.Store, eng *ops.Engine, hv host.Hypervisor, vols host.Volumes, log *slog.Logger) *Workflows {
	s := &Workflows{cfg: cfg, st: st, eng: eng, hv: hv, vols: vols, log: log}
	s.ext, _ = vols.(host.Extents) // only moving a disk to another agent needs it
	s.wiring.kick = make(chan struct{}, 1)
	s.registerWorkflows()
	s.eng.OnFinish(s.afterOperation)
	return s
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// Timeouts drive graceful-then-hard lifecycle operations.
type Timeouts struct {
	Stop         time.Duration // total, before power off
	StopMessages int
	Reboot       time.Duration // before hard reset
}

// Network says how interfaces are wired and where addresses come from.
type Network struct {
	Bridge        string // empty: a bare tap per interface (QEMU)
	V4, V6        *ipam.Pool
	ReverseDomain string
	// Wiring filters and shapes interfaces on the host; nil leaves the
	// host's network alone (libvirt's test driver has no devices).
	Wiring host.Wiring
	// Sweep removes filters and IFBs of ifaces no record knows at
	// reconciliation; off when agents share a namespace (tests).
	Sweep bool
	// DefaultBandwidth is an iface's rate, each way, when a call names
	// none; MinBandwidth the lowest one accepted. Both bit/s.
	DefaultBandwidth float64
	MinBandwidth     float64
	// CountEvery is how often traffic counters are written to the records.
	CountEvery time.Duration
}

// Bandwidth is an iface's rate, each way, when a call names none.
func (n Network) Bandwidth() float64 {
	if n.DefaultBandwidth > 0 {
		return n.DefaultBandwidth
	}
	return 102400 // the seed's default, bit/s
}

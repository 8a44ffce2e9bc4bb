package host

import (
	"context"
	"errors"
	"time"
)

// Hypervisor is what the workflows need from the virtualisation layer.
//
// A call naming a domain that does not exist fails with ErrNoDomain,
// unless it says a missing one is done. host/hosttest.HypervisorSuite
// checks every implementation against these rules.
type Hypervisor interface {
	// Define creates or replaces a domain's persistent definition;
	// defining again with the same name and UUID is harmless. A running
	// domain keeps running as it was started.
	Define(ctx context.Context, spec DomainSpec) error
	// Undefine removes a domain's definition, powering it off first if it
	// runs; a missing one is done.
	Undefine(ctx context.Context, name string) error
	// Start boots a defined domain and returns once it runs; a running
	// one is done, a paused one resumes.
	Start(ctx context.Context, name string) error
	// Shutdown and Reboot ask the guest; they return once asked, and the
	// guest may ignore them. A stopped domain has nothing to shut down
	// (done) and cannot reboot (ErrNotRunning).
	Shutdown(ctx context.Context, name string) error
	Reboot(ctx context.Context, name string) error
	// Destroy powers a domain off; a stopped or missing one is done.
	Destroy(ctx context.Context, name string) error
	// Reset restarts a running domain at once, without asking the guest;
	// a stopped one is ErrNotRunning.
	Reset(ctx context.Context, name string) error
	// Suspend pauses a running domain (its vCPUs stop, its memory and
	// devices stay) and Resume lets a paused one run on; a domain already
	// so is done, a stopped one is ErrNotRunning.
	Suspend(ctx context.Context, name string) error
	Resume(ctx context.Context, name string) error
	// State is a domain's runtime state; a missing domain is
	// State{Exists: false} and no error.
	State(ctx context.Context, name string) (State, error)
	// WaitFor returns once cond holds for the domain's state, or ctx ends
	// (with ctx's error). It wakes on events, not by polling.
	WaitFor(ctx context.Context, name string, cond func(State) bool) (State, error)
	// Watch streams the lifecycle events of one domain ("" for all)
	// until the returned stop is called. A watcher that falls behind
	// loses events rather than blocking the hypervisor: re-read the
	// state at each one.
	Watch(name string) (<-chan Event, func())
	// AttachDisk plugs a disk at device position pos, in the definition
	// and, when the domain runs, live; a disk already plugged (its path)
	// is left as it is, and when another disk holds pos (one detached
	// from the middle of a running guest leaves those after it where they
	// were) the next free position is taken. DetachDisk unplugs the disk
	// of that path; absent (disk or domain) is done.
	AttachDisk(ctx context.Context, name string, pos int, disk DiskSpec) error
	DetachDisk(ctx context.Context, name, path string) error
	// AttachIface plugs an interface, in the definition and, when the
	// domain runs, live; one of the same MAC is left as it is.
	// DetachIface unplugs the one with mac; absent is done.
	AttachIface(ctx context.Context, name string, n IfaceSpec) error
	DetachIface(ctx context.Context, name, mac string) error
	// SetMemory balloons a domain, running or not, within its maximum
	// (MaxMemMB, else MemoryMB); beyond it is refused.
	SetMemory(ctx context.Context, name string, mb int64) error
	// SetCPUShares sets a running domain's CPU weight live (the
	// definition takes it from DomainSpec.CPUShares); a stopped domain
	// has nothing to change (done). A driver that cannot change it live
	// says ErrUnsupported: the weight applies at the next start.
	SetCPUShares(ctx context.Context, name string, shares int64) error
	// Domains lists the domains carrying an owner mark (defined through
	// Define), never anyone else's.
	Domains(ctx context.Context) ([]Domain, error)
	// LiveIfaces are a running domain's interfaces and their host
	// devices; a stopped domain has none.
	LiveIfaces(ctx context.Context, name string) ([]LiveIface, error)
	// RebootReportsItself: a guest reboot raises an event or changes the
	// domain id (not libvirt's test driver, which reboots within the
	// call and says nothing), so a reboot can be confirmed rather than
	// assumed.
	RebootReportsItself() bool
	Ping(ctx context.Context) error

	// Save stops a running or paused domain on this host with its memory
	// and device state written to path (replaced if it exists; its
	// directory must exist), so that Restore, here or on another host,
	// resumes the guest where it was: its processes, clocks and open
	// connections. The domain stays defined, shut off, and raises
	// EventStopped with DetailSaved. A missing domain is ErrNoDomain, a
	// stopped one ErrNotRunning, both naming it; a save that fails leaves
	// the domain as it was (running or paused) and removes path. It takes
	// as long as the memory takes to write: ctx bounds it, not the
	// driver's command timeout.
	Save(ctx context.Context, name, path string) error
	// Restore defines spec (as Define) and runs it from a file Save
	// wrote, raising EventStarted; paused leaves it paused (Start or
	// Resume lets it run), so a caller can restore ahead and resume at
	// the moment it chooses. spec must be the saved domain: same name,
	// UUID, memory, vCPUs and devices, in the same order; paths (disks,
	// seed, kernel, console log) and the owner mark may differ, and the
	// running domain uses spec's. Where the hypervisor cannot take a new
	// definition at restore (libvirt's libxl and test drivers), the saved
	// one runs, so a disk path that differs from the saved one is refused
	// (ErrUnsupported, naming the disk). A missing file is an error
	// wrapping fs.ErrNotExist and naming path; a domain already running is
	// ErrAlreadyActive; a file of another domain (name, UUID) is refused.
	// Refusals leave nothing defined or running; a restore the hypervisor
	// fails halfway leaves spec defined, shut off. The file is left in
	// place: a failed restore can be tried again, and the caller removes
	// it once the domain runs.
	Restore(ctx context.Context, path string, spec DomainSpec, paused bool) error
	// RestoreTakesSpec says Restore runs spec's definition, so a disk may
	// come back at another path (QEMU); false where the saved definition
	// runs (libxl, libvirt's test driver) and only equal paths restore. A
	// move asks before it saves anything: moving the memory is worth a
	// pause only if the other host can run it.
	RestoreTakesSpec() bool
}

// DetailSaved is the Detail of the EventStopped that Save raises
// (libvirt's VIR_DOMAIN_EVENT_STOPPED_SAVED): the domain stopped with its
// memory in a file, not by the guest's or an operator's hand.
const DetailSaved = 4

// Errors a Hypervisor returns; classify with errors.Is.
var (
	ErrNoDomain      = errors.New("domain not found")
	ErrUnsupported   = errors.New("not supported by this hypervisor")
	ErrDisconnected  = errors.New("not connected to the hypervisor")
	ErrAlreadyActive = errors.New("domain is already active")
	ErrNotRunning    = errors.New("domain is not running")
)

// DiskSpec is one disk of a domain.
type DiskSpec struct {
	Path     string
	Block    bool // a block device (LVM) rather than a file
	ReadOnly bool
}

// IfaceSpec is one network interface of a domain.
type IfaceSpec struct {
	MAC string
	// Bridge, when set, plugs the interface into it; else it is a bare
	// tap named Target (QEMU).
	Bridge string
	Target string
}

// DomainSpec is everything a domain is defined from.
type DomainSpec struct {
	Name       string
	UUID       string
	VMID       int64
	Owner      string // the agent instance that owns the domain
	MemoryMB   int64
	MaxMemMB   int64
	VCPUs      int64
	Kernel     string
	Initrd     string
	Cmdline    string
	ConsoleLog string // when set, a QEMU guest's serial console goes to this file
	Disks      []DiskSpec
	Ifaces     []IfaceSpec
	// Seed is a first-boot seed image (cloud-init NoCloud), attached
	// read-only at device position SeedPosition so that disks attached
	// later never take its name.
	Seed string
	// CPUShares is the domain's CPU weight (<cputune><shares>); 0 leaves
	// the hypervisor's default.
	CPUShares int64
	// CDROM is an ISO image attached read-only as a CD-ROM (HVM and
	// QEMU only: a Xen PV domain has none); BootCDROM boots from it
	// instead of the system disk or its kernel.
	CDROM     string
	BootCDROM bool
}

// SeedPosition is the device position of the seed image (xvdz, vdz):
// a VM has at most SeedPosition disks of its own.
const SeedPosition = 25

// State is a domain's runtime state.
type State struct {
	Exists  bool
	Running bool // running, blocked or paused: the domain is alive
	Paused  bool
	ID      uint // changes at every Xen domain (re)start
	Reason  int
}

// EventKind is what happened to a domain.
type EventKind int

const (
	EventStarted EventKind = iota + 1
	EventStopped
	EventRebooted
	EventSuspended
	EventResumed
	EventDefined
	EventUndefined
	// EventResync means events may have been missed (reconnect): re-read state.
	EventResync
)

func (k EventKind) String() string {
	names := [...]string{"?", "started", "stopped", "rebooted", "suspended", "resumed", "defined", "undefined", "resync"}
	if k < 0 || int(k) >= len(names) {
		return "?"
	}
	return names[k]
}

// Event is a lifecycle event for the domain Name.
type Event struct {
	Name string
	Kind EventKind
	// Detail is the hypervisor's detail code (for stopped: shutdown,
	// destroyed, crashed...).
	Detail int
	Time   time.Time
}

// Domain is a domain carrying an owner mark.
type Domain struct {
	Name  string
	VMID  int64
	Owner string
	State State
}

// LiveIface is a running domain's interface and the host device behind
// it: Xen names it vifD.N at every start, QEMU uses the target we chose.
type LiveIface struct {
	MAC string
	Dev string
}

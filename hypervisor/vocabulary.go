package hypervisor

import "github.com/xenagent/xenagent/agent/host"

// The driver speaks the port's vocabulary (agent/host): these names are
// the same types, kept short for the driver's own code and tests.
type (
	DomainSpec = host.DomainSpec
	DiskSpec   = host.DiskSpec
	IfaceSpec  = host.IfaceSpec
	State      = host.State
	EventKind  = host.EventKind
	Event      = host.Event
	Domain     = host.Domain
	LiveIface  = host.LiveIface
)

const (
	EventStarted   = host.EventStarted
	EventStopped   = host.EventStopped
	EventRebooted  = host.EventRebooted
	EventSuspended = host.EventSuspended
	EventResumed   = host.EventResumed
	EventDefined   = host.EventDefined
	EventUndefined = host.EventUndefined
	EventResync    = host.EventResync
	SeedPosition   = host.SeedPosition
)

// Sentinel errors (the port's); classify with errors.Is.
var (
	ErrNoDomain      = host.ErrNoDomain
	ErrUnsupported   = host.ErrUnsupported
	ErrDisconnected  = host.ErrDisconnected
	ErrAlreadyActive = host.ErrAlreadyActive
	ErrNotRunning    = host.ErrNotRunning
)

var _ host.Hypervisor = (*Driver)(nil)

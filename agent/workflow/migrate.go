package workflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// Moving a VM between agents (issue 15). The source runs vm_migrate
// (migrate_out.go), the target vm_migrate_in (migrate_in.go); they talk
// through the target's /migration/v1/ endpoints (agent/api/migration),
// which the source reaches through the ports below and the target serves
// through agent/service (migration.go).
//
// The rule that keeps a VM on exactly one host: the target commits once,
// in a transaction that refuses after an abort (and an abort refuses
// after the commit). The source asks for the commit only once it
// journalled "handover"; before that, any failure rolls back (abort on
// the target, the VM started again here if it ran). After it, the source
// starts the VM itself only when the target answered aborted; an
// unreachable target is retried, the VM stopped, never both.

// BundleVersion is the version of Bundle this agent sends and reads.
const BundleVersion = 1

// Bundle is what the source sends at begin: its records of what moves.
// Ids stay the same on the target (the central tier owns the fleet's id
// space); the target checks them against the ticket.
type Bundle struct {
	Version int           `json:"version"`
	VM      *store.VM     `json:"vm,omitempty"`
	Disks   []store.Disk  `json:"disks"`
	Ifaces  []store.Iface `json:"ifaces"`
	IPs     []store.IP    `json:"ips"`
	// Memory, when set, offers to move the VM's memory (migrate_memory.go).
	Memory *MemoryOffer `json:"memory,omitempty"`
}

// Target names the target agent and the ticket it issued.
type Target struct {
	URL    string
	Ticket string
}

// PeerState is what the target answers every call with.
type PeerState struct {
	Phase string `json:"phase"`
	OpID  int64  `json:"op_id,omitempty"`
	// Ready says the target's volumes are made: disk data may be sent.
	Ready bool `json:"ready,omitempty"`
	// Disks are, by disk id, what arrived of each.
	Disks map[int64]DiskHave `json:"disks,omitempty"`
	Why   string             `json:"why,omitempty"`
	// Live answers the begin's memory offer: the target can restore the
	// saved domain; else LiveWhy says why not.
	Live    bool   `json:"live,omitempty"`
	LiveWhy string `json:"live_why,omitempty"`
	// Started answers a commit: the VM runs (or resumed) on the target,
	// so the source's downtime ends there.
	Started bool `json:"started,omitempty"`
}

// DiskHave is how much of one pass of a disk the target holds: bytes of
// the pass's extents verified, written and journalled (agent/transfer's
// resume point; its stream asks the disk endpoint itself).
type DiskHave struct {
	Pass string `json:"pass,omitempty"`
	Have int64  `json:"have"`
}

// Errors a Peer returns for the target's definitive answers; anything
// else (a connection refused, a timeout, a 5xx) is worth retrying.
var (
	// ErrPeerAborted: the target aborted the transfer; it will never commit.
	ErrPeerAborted = errors.New("the target aborted the migration")
	// ErrPeerCommitted: the target committed; it will never abort.
	ErrPeerCommitted = errors.New("the target committed the migration")
	// ErrPeerRefused: the target refused the call (a bad ticket, records
	// the ticket does not admit); retrying the same call will not help.
	ErrPeerRefused = errors.New("the target refused the call")
)

// Peer is the target agent as the source calls it: its /migration/v1/
// endpoints (agent/api/migration's Client implements it).
type Peer interface {
	Begin(ctx context.Context, t Target, b Bundle) (PeerState, error)
	State(ctx context.Context, t Target) (PeerState, error)
	Prepare(ctx context.Context, t Target) (PeerState, error)
	// Commit asks the target to keep the VM, and to start it when start.
	Commit(ctx context.Context, t Target, start bool) (PeerState, error)
	Abort(ctx context.Context, t Target, why string) (PeerState, error)
}

// DiskSender sends one pass of one disk's data to the target, reporting
// its advance as it goes, resuming where the target stands (it asks).
// agent/api/migration's Client implements it with agent/transfer's chunk
// stream (compression, checksums, the agent's throttle).
type DiskSender interface {
	Send(ctx context.Context, t Target, p DiskPass, progress func(PassProgress)) error
}

// DiskPass is one pass of one disk: what to read, and which ranges.
type DiskPass struct {
	DiskID int64
	// Pass is PassPrecopy (of the migration snapshot, while the VM runs)
	// or PassDelta (of the volume, the VM stopped; a detached disk's only
	// pass). Base is the pass the target must hold already: PassPrecopy
	// for a VM's delta, "" onto the fresh volume.
	Pass, Base string
	// Path is what this pass reads, a volume of Size bytes.
	Path string
	Size int64
	// Extents are the ranges sent (host.Extents: the snapshot's
	// allocated ones, or those changed since it); outside them the
	// target's volume already reads as it should.
	Extents []host.Extent
}

// PassProgress is a pass's advance: bytes of its extents sent (resumed
// ones included) of Total, bytes per second lately, and the time left.
type PassProgress struct {
	Done, Total int64
	Rate        float64
	ETA         time.Duration
}

// The passes of a disk's data.
const (
	PassPrecopy = "precopy"
	PassDelta   = "delta"
)

// VMMigrate is vm_migrate's input; the ticket is in the operation's
// secrets ("ticket"), never in its params.
type VMMigrate struct {
	Target string `json:"target"`
	// Live false asks for a cold move; unset or true moves the memory
	// where both hosts can (migrate_memory.go).
	Live *bool `json:"live,omitempty"`
}

// VMMigrateProgress is what vm_migrate journals.
type VMMigrateProgress struct {
	TargetOp int64 `json:"target_op,omitempty"`
	// Stopped says the stop step journalled what it found: Running, the
	// VM ran (the rollback starts it again, the commit asks the target
	// to start it).
	Stopped bool `json:"stopped,omitempty"`
	Running bool `json:"running,omitempty"`
	// HandingOver is journalled, durably, before the commit is asked:
	// from then on the VM starts here only if the target aborted.
	HandingOver bool `json:"handing_over,omitempty"`
	Committed   bool `json:"committed,omitempty"`
	// Sent is the data sent of Total: the extents of the passes so far
	// (the precopy's allocated ones, Precopy bytes, then the delta's
	// changed ones, known once the VM stopped).
	Sent    int64 `json:"bytes_sent,omitempty"`
	Total   int64 `json:"bytes_total,omitempty"`
	Precopy int64 `json:"bytes_precopy,omitempty"`
	// Rate is bytes per second over the current pass; ETA seconds.
	Rate float64 `json:"rate,omitempty"`
	ETA  int64   `json:"eta,omitempty"`
	// StoppedAt is when the stop step found the VM (it stops right
	// after); DowntimeMS runs from then to the target's commit (its start
	// follows): the move's downtime, less the target's boot.
	StoppedAt  time.Time `json:"stopped_at,omitzero"`
	DowntimeMS int64     `json:"downtime_ms,omitempty"`
	// Live and LiveWhy are the target's answer to the begin's memory
	// offer (LiveWhy also this side's reason not to offer).
	Live    bool   `json:"target_live,omitempty"`
	LiveWhy string `json:"target_live_why,omitempty"`
	// Mode is live or cold, chosen at the stop step, ModeReason why
	// cold. MemoryPath is journalled before the save: a crash finds the
	// file (the rollback restores from it, the cleanup removes it).
	Mode        string `json:"mode,omitempty"`
	ModeReason  string `json:"mode_reason,omitempty"`
	MemoryPath  string `json:"memory_path,omitempty"`
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
}

// VMMigrateInProgress is what vm_migrate_in shows: the bytes received
// (the source's streams record them) of the passes begun so far, and the
// rate.
type VMMigrateInProgress struct {
	Received int64   `json:"bytes_received,omitempty"`
	Total    int64   `json:"bytes_total,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	ETA      int64   `json:"eta,omitempty"`
}

// Transfer is a migration operation's progress as a client reads it:
// bytes moved (sent on the source, received on the target) of Total (the
// extents of the passes known so far: a precopy's allocated ones, then a
// delta's changed ones), bytes per second, and seconds left.
type Transfer struct {
	Bytes, Total int64
	Rate         float64
	ETA          int64
	// DowntimeMS is the source's: from the VM's stop (or save) to the
	// target's start (or resume).
	DowntimeMS int64
	// Mode is a VM's move's: live or cold, and ModeReason why cold.
	Mode, ModeReason string
}

// TransferOf reads a migration operation's progress; ok is false for
// any other operation.
func TransferOf(op store.Operation) (Transfer, bool) {
	switch op.Type {
	case "vm_migrate", "disk_migrate", "iface_migrate":
		p, err := ops.ProgressOf[VMMigrateProgress](op)
		return Transfer{Bytes: p.Sent, Total: p.Total, Rate: p.Rate, ETA: p.ETA, DowntimeMS: p.DowntimeMS,
			Mode: p.Mode, ModeReason: p.ModeReason}, err == nil
	case "vm_migrate_in", "disk_migrate_in", "iface_migrate_in":
		p, err := ops.ProgressOf[VMMigrateInProgress](op)
		return Transfer{Bytes: p.Received, Total: p.Total, Rate: p.Rate, ETA: p.ETA}, err == nil
	}
	return Transfer{}, false
}

// VMMigrateIn is vm_migrate_in's input: the ticket its transfer uses.
type VMMigrateIn struct {
	TicketID int64 `json:"ticket_id"`
}

// MigrationSnapshot is the name of the snapshot a migration makes of disk
// diskID's volume; the operation's id keeps two attempts apart.
func MigrationSnapshot(diskID, opID int64) string {
	return "xa-mig-" + strconv.FormatInt(opID, 10) + "-" + strconv.FormatInt(diskID, 10)
}

// IdleAbort is how long an incoming migration waits for its source
// without hearing from it before it aborts on its own (safe: the source
// then gets "aborted" for its commit, and starts the VM again).
var IdleAbort = 6 * time.Hour

// errPeer names the target in a peer's error.
func errPeer(t Target, what string, err error) error {
	return fmt.Errorf("%s on %s: %w", what, t.URL, err)
}

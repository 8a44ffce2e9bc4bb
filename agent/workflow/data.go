package workflow

import "time"

// The typed step data of the operations, journalled as JSON in
// store.Operation.Input (fixed at submission, by agent/service) and
// store.Operation.Progress (written by the steps as they go). Steps read
// them with ops.Input and ops.Progress; an operation type not listed
// here has neither. A field is a pointer where "not given" differs from
// its zero value (an update changes only what it names).

// clientParams are the operation params a client may read back
// (operation.info): an operation's Params hold only these. It is an
// allow-list: a param added later stays unseen until it is added here,
// and what an older agent journalled as a param (a password's hash,
// until 2026-12) is never shown.
var clientParams = map[string]bool{
	"hostname": true, "source": true, "profile": true, "snapshot_id": true,
	"memory": true, "vm_max_memory": true, "cores": true, "console": true, "ssh_key": true,
	"name": true, "size": true, "kernel": true, "cmdline": true, "snapshot_profile": true, "reboot": true,
	"position": true, "access": true, "insert": true, "old_disk_id": true, "restore_disk_id": true, "restore": true,
	"bandwidth": true, "reverse": true,
	"policy": true, "rules": true, // iface_firewall
	"description": true, "label": true, "note": true, "cpu_shares": true, // tune.go
	"fstype": true,                                       // disk_create's filesystem (format.go)
	"force":  true,                                       // power room (force.go)
	"iso_id": true, "boot_type": true, "effective": true, // iso.go
	"target": true, // vm_migrate's target agent (migrate.go)
}

// IsClientParam reports whether a client may read back an operation
// param of that name.
func IsClientParam(name string) bool { return clientParams[name] }

// VMStart is vm_start's input.
type VMStart struct {
	// Restore marks the start at the end of vm.disk_rollback's chain:
	// when a step before it fails, it still starts the VM that was
	// running (Recover).
	Restore bool `json:"restore,omitempty"`
}

// VMUpdate is vm_update's input: what changes. The password's hash is
// not here but in the operation's secrets, which nobody reads back.
type VMUpdate struct {
	Memory    *int64  `json:"memory,omitempty"`
	MaxMemory *int64  `json:"vm_max_memory,omitempty"`
	Cores     *int64  `json:"cores,omitempty"`
	Console   *bool   `json:"console,omitempty"`
	SSHKey    *string `json:"ssh_key,omitempty"`
	// The free texts, kept and returned, and the CPU weight (tune.go).
	Description *string `json:"description,omitempty"`
	Label       *string `json:"label,omitempty"`
	Note        *string `json:"note,omitempty"`
	CPUShares   *int64  `json:"cpu_shares,omitempty"`
	// Hostname renames the VM's record (the Gigas document's informative
	// hostname): nothing changes in the guest now; a first-boot seed
	// written later (new credentials, a rebuild) carries it.
	Hostname *string `json:"hostname,omitempty"`
}

// DiskUpdate is disk_update's input: what changes, and whether the VM
// the disk is attached to reboots to apply it.
type DiskUpdate struct {
	Name            *string `json:"name,omitempty"`
	SizeMB          *int64  `json:"size,omitempty"`
	Kernel          *string `json:"kernel,omitempty"`
	Cmdline         *string `json:"cmdline,omitempty"`
	SnapshotProfile *int64  `json:"snapshot_profile,omitempty"`
	Reboot          bool    `json:"reboot,omitempty"`
}

// IfaceAttach is iface_attach's input.
type IfaceAttach struct {
	// First puts the iface before the VM's others: the first NIC of its
	// definition, its primary (the kernel's ip= argument; eth0 in the
	// next seed). A running guest's NICs cannot move: the service
	// refuses it there, and the step fails if the VM was started since.
	First bool `json:"first,omitempty"`
}

// DiskAttach is disk_attach's input.
type DiskAttach struct {
	// Position 0 swaps with the system disk unless Insert asks to shift
	// the others; past the end, or on a running VM, the disk is appended.
	Position int  `json:"position"`
	Insert   bool `json:"insert,omitempty"`
	ReadOnly bool `json:"read_only,omitempty"`
	// RestoreDiskID is set by vm.disk_rollback's chain: the disk the
	// rollback replaces, attached back (Recover) if the rollback failed.
	RestoreDiskID int64 `json:"restore_disk_id,omitempty"`
}

// DiskRollback is disk_rollback's input: the disk the new one (the
// operation's disk, cloned from the snapshot) replaces.
type DiskRollback struct {
	OldDiskID  int64 `json:"old_disk_id"`
	SnapshotID int64 `json:"snapshot_id"`
}

// IfaceUpdate is iface_update's input, in bit/s each way.
type IfaceUpdate struct {
	Bandwidth float64 `json:"bandwidth"`
}

// IPUpdate is ip_update's input: the reverse name, without its final dot.
type IPUpdate struct {
	Reverse string `json:"reverse"`
}

// VMCreateProgress is vm_create's progress.
type VMCreateProgress struct {
	// MadeVolumesDeleted: the volumes of the disks the call made for the
	// VM are gone, so abandoning the VM forgets their records too.
	MadeVolumesDeleted bool `json:"made_volumes_deleted,omitempty"`
}

// StopProgress is vm_stop's progress.
type StopProgress struct {
	// Deadline is when the guest is powered off if it has not stopped,
	// journalled as the step begins: a resumed stop keeps it.
	Deadline time.Time `json:"deadline,omitzero"`
	// Messages is how many stop messages were sent (journalled before
	// each is sent).
	Messages int  `json:"messages,omitempty"`
	Forced   bool `json:"forced,omitempty"`
	// EscalatedBy is the force vm_stop or vm_reboot queued behind this
	// graceful stop that made it power off at once (force.go).
	EscalatedBy int64 `json:"escalated_by,omitempty"`
}

// RebootProgress is the progress of vm_reboot, and of disk_update,
// which reboots the VM when asked.
type RebootProgress struct {
	// Deadline is when the guest is reset if it has not come back.
	Deadline time.Time `json:"deadline,omitzero"`
	// BeforeID is the domain's id when the reboot message was sent: a
	// Xen guest that rebooted has another.
	BeforeID uint64 `json:"before_id,omitempty"`
	// Sent: the reboot message was sent (journalled just before).
	Sent bool `json:"sent,omitempty"`
	// FreshStart: the domain was started from its definition (it was
	// gone, or a change needed a fresh start), which applied what was
	// pending.
	FreshStart bool `json:"fresh_start,omitempty"`
	Forced     bool `json:"forced,omitempty"`
	// EscalatedBy is the force vm_stop or vm_reboot queued behind this
	// graceful reboot that made it reset at once; DoneBy, in a force
	// reboot's progress, the graceful reboot it escalated, whose reset
	// was this one's (force.go).
	EscalatedBy int64 `json:"escalated_by,omitempty"`
	DoneBy      int64 `json:"done_by,omitempty"`
}

// VMUpdateProgress is vm_update's progress.
type VMUpdateProgress struct {
	// OldMax is the VM's vm_max_memory before the update, recorded by
	// its first attempt: memory up to it is ballooned at once.
	OldMax *int64 `json:"old_max,omitempty"`
	// SeedGen is the seed generation new credentials were written under
	// (credentials.go), journalled before the seed step writes it.
	SeedGen int64 `json:"seed_gen,omitempty"`
}

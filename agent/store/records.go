package store

import (
	"encoding/json"
	"slices"
	"time"
)

// Account owns resources. KeyHash is the hex SHA-256 of its API key.
type Account struct {
	ID          int64     `json:"id"`
	Handle      string    `json:"handle"`
	Fullname    string    `json:"fullname"`
	KeyHash     string    `json:"key_hash"`
	DiskQuotaMB int64     `json:"disk_quota_mb"`
	DateCreated time.Time `json:"date_created"`
	// Quota is what the operator set at run time (quota.go); kept across
	// restarts, whatever the configuration says. Configured is the
	// account's [[accounts]] entry's, written at every start.
	Quota      AccountQuota `json:"quota,omitzero"`
	Configured AccountQuota `json:"configured,omitzero"`

	// PasswordHash is the account's optional login password (the Gandi
	// v1 face), a slow SHA-512 crypt hash; "" has none and cannot log in.
	// A new field with omitempty: files of schema 2 read as they are.
	PasswordHash string `json:"password_hash,omitempty"`

	// Disabled is an account gone from the configuration's [[accounts]]
	// (service.RetireAccounts, at start): its key and v1 logins are
	// refused, while everything it owns stays and keeps running for the
	// operator to manage. Back in the configuration, it is enabled again.
	// omitempty: older files read as they are, every account enabled.
	Disabled bool `json:"disabled,omitempty"`
}

// VM states, as the seeds define them.
const (
	VMBeingCreated = "being_created"
	VMRunning      = "running"
	VMHalted       = "halted"
	VMPaused       = "paused"
	VMLocked       = "locked"
	VMDeleted      = "deleted"
)

// VM is a virtual machine record. DiskIDs is ordered by position: index 0
// is the system disk.
type VM struct {
	ID           int64   `json:"id"`
	AccountID    int64   `json:"account_id"`
	DatacenterID int64   `json:"datacenter_id"`
	Hostname     string  `json:"hostname"`
	Description  string  `json:"description"`
	Memory       int64   `json:"memory"`
	MaxMemory    int64   `json:"vm_max_memory"`
	Cores        int64   `json:"cores"`
	AIActive     int64   `json:"ai_active"`
	Console      int64   `json:"console"`
	State        string  `json:"state"`
	DiskIDs      []int64 `json:"disk_ids"`
	ReadOnly     []int64 `json:"read_only_disk_ids,omitempty"`
	IfaceIDs     []int64 `json:"iface_ids"`
	Domain       string  `json:"domain"`
	// RestartPending says the definition changed in a way only a fresh
	// start applies (vm_max_memory, cores); the next reboot is a stop+start.
	RestartPending bool `json:"restart_pending,omitempty"`
	// SeedGen counts the first-boot seeds written after the first one
	// (new credentials, a rebuild): each has its own instance-id, which
	// is what makes cloud-init apply it again at the next boot.
	SeedGen int64 `json:"seed_gen,omitempty"`
	// SeedAgain says the current seed is a later one for a guest that has
	// booted before (new credentials: it keeps the host keys and runs
	// nothing); false for a first boot's (create, rebuild). A seed put
	// back after a failure is written of this kind.
	SeedAgain bool `json:"seed_again,omitempty"`
	// SeedUnbooted says the VM has not run since its system disk was
	// rebuilt: new credentials then stay in a first boot's seed (the
	// fresh copy of the image makes its own host keys, runs the command).
	SeedUnbooted bool `json:"seed_unbooted,omitempty"`
	// Label and Note are the Gigas document's label and note; like
	// Description, the agent only keeps and returns them (tune.go in
	// agent/service checks them). CPUShares is the VM's CPU weight
	// against the host's other VMs (<cputune><shares>); 0 leaves the
	// hypervisor's default.
	Label     string `json:"label,omitempty"`
	Note      string `json:"note,omitempty"`
	CPUShares int64  `json:"cpu_shares,omitempty"`
	// ISOID is the ISO attached as the VM's CD-ROM (0: none); BootType
	// is BootCDROM to boot from it, "" (default) from the system disk.
	ISOID    int64  `json:"iso_id,omitempty"`
	BootType string `json:"boot_type,omitempty"`
	// UUID is the domain's UUID when it is not the one this agent derives
	// from the VM's id (a VM moved here from another agent keeps its
	// own, and with it its first-boot seed's instance-id); "" derives it.
	UUID string `json:"uuid,omitempty"`
	// Provision is nil once there is nothing for a first boot to apply;
	// most VMs carry none, and 10,000 of them should stay small.
	Provision   *Provision `json:"provision,omitempty"`
	DateCreated time.Time  `json:"date_created"`
	DateUpdated time.Time  `json:"date_updated"`
}

// Provision is what the first boot applies (login, keys, run command).
// Password is a SHA-512 crypt hash, never the password itself.
type Provision struct {
	Login    string  `json:"login,omitempty"`
	Password string  `json:"password,omitempty"`
	SSHKey   string  `json:"ssh_key,omitempty"`
	Keys     []int64 `json:"keys,omitempty"`
	Run      string  `json:"run,omitempty"`
	// AuthorizedKeys are ssh_key and the values of Keys, read when the VM
	// was created: deleting a stored key later does not change the VM.
	AuthorizedKeys []string `json:"authorized_keys,omitempty"`
}

// IsSnapshot reports a snapshot, taken by a call or by a profile.
func (d Disk) IsSnapshot() bool {
	return d.Type == DiskTypeSnapshot || d.Type == DiskTypeSnapshotAuto
}

func (v VM) clone() VM {
	v.DiskIDs = slices.Clone(v.DiskIDs)
	v.ReadOnly = slices.Clone(v.ReadOnly)
	v.IfaceIDs = slices.Clone(v.IfaceIDs)
	if v.Provision != nil {
		p := *v.Provision
		p.Keys = slices.Clone(p.Keys)
		p.AuthorizedKeys = slices.Clone(p.AuthorizedKeys)
		v.Provision = &p
	}
	return v
}

// Disk states and types, as the seeds define them.
const (
	DiskBeingCreated = "being_created"
	DiskCreated      = "created"
	DiskRollback     = "rollback"
	DiskDeleted      = "deleted"

	DiskTypeData     = "data"
	DiskTypeImage    = "image"
	DiskTypeSnapshot = "snapshot"
	// DiskTypeSnapshotAuto is a snapshot taken by a snapshot profile.
	DiskTypeSnapshotAuto = "snapshot_auto"
)

// Disk is a disk record; Volume names its storage volume.
type Disk struct {
	ID            int64  `json:"id"`
	AccountID     int64  `json:"account_id"`
	DatacenterID  int64  `json:"datacenter_id"`
	Name          string `json:"name"`
	SizeMB        int64  `json:"size"`
	State         string `json:"state"`
	Type          string `json:"type"`
	KernelVersion string `json:"kernel_version"`
	Cmdline       string `json:"cmdline"`
	Label         string `json:"label"`
	Source        int64  `json:"source"`
	Visibility    string `json:"visibility"`
	VMID          int64  `json:"vm_id"`
	Volume        string `json:"volume"`
	// SnapshotProfile is the id of the profile taking automatic snapshots.
	SnapshotProfile int64 `json:"snapshot_profile,omitempty"`
	// FSType is the filesystem the disk was created with (disk_create's
	// fstype, or its source's for a copy), "" when none was made. It is
	// not probed: the guest may have made another since.
	FSType      string    `json:"fstype,omitempty"`
	DateCreated time.Time `json:"date_created"`
	DateUpdated time.Time `json:"date_updated"`
}

// SSHKey is a public key an account keeps for provisioning VMs.
type SSHKey struct {
	ID          int64     `json:"id"`
	AccountID   int64     `json:"account_id"`
	Name        string    `json:"name"`
	Value       string    `json:"value"`
	Fingerprint string    `json:"fingerprint"`
	DateCreated time.Time `json:"date_created"`
}

// Iface states.
const (
	IfaceBeingCreated = "being_created"
	IfaceFree         = "free"
	IfaceUsed         = "used"
)

// Iface is a network interface record. Bandwidth is the rate each way
// in bit/s; 0 is unlimited: the iface's device is not shaped at all.
type Iface struct {
	ID           int64     `json:"id"`
	AccountID    int64     `json:"account_id"`
	DatacenterID int64     `json:"datacenter_id"`
	Bandwidth    float64   `json:"bandwidth"`
	VMID         int64     `json:"vm_id"`
	IPIDs        []int64   `json:"ip_ids"`
	State        string    `json:"state"`
	Type         string    `json:"type"`
	MAC          string    `json:"mac"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
	// Dev is the backend device last wired for the iface (a Xen vif is
	// renamed at every domain start); empty while its VM is stopped.
	Dev string `json:"dev,omitempty"`
	// Traffic is what the iface's devices counted, all of them: Counted
	// holds the devices gone, DevCounted the last reading of Dev.
	Counted    Traffic `json:"counted,omitzero"`
	DevCounted Traffic `json:"dev_counted,omitzero"`
	// Firewall filters what reaches the VM through the iface; it stays
	// with the iface, across its devices and VMs (firewall.go).
	Firewall *Firewall `json:"firewall,omitempty"`
}

// Traffic is bytes and packets from the VM's point of view.
type Traffic struct {
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
}

// Add returns the sum of two readings.
func (t Traffic) Add(o Traffic) Traffic {
	return Traffic{t.RxBytes + o.RxBytes, t.TxBytes + o.TxBytes, t.RxPackets + o.RxPackets, t.TxPackets + o.TxPackets}
}

// Max is the larger of two readings of one device, field by field.
func (t Traffic) Max(o Traffic) Traffic {
	return Traffic{max(t.RxBytes, o.RxBytes), max(t.TxBytes, o.TxBytes), max(t.RxPackets, o.RxPackets), max(t.TxPackets, o.TxPackets)}
}

// Total is everything the iface counted.
func (i Iface) Total() Traffic { return i.Counted.Add(i.DevCounted) }

func (i Iface) clone() Iface {
	i.IPIDs = slices.Clone(i.IPIDs)
	i.Firewall = i.Firewall.clone() // firewall.go
	return i
}

// IP is an address leased from a pool.
type IP struct {
	ID           int64     `json:"id"`
	AccountID    int64     `json:"account_id"`
	DatacenterID int64     `json:"datacenter_id"`
	IfaceID      int64     `json:"iface_id"`
	Addr         string    `json:"ip"`
	Version      int64     `json:"version"`
	Num          int64     `json:"num"`
	State        string    `json:"state"`
	Reverse      string    `json:"reverse"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
}

// BootCDROM is VM.BootType booting from the attached ISO.
const BootCDROM = "cdrom"

// ISO is an ISO image the operator registered (configuration [[isos]]),
// attached to VMs read-only as a CD-ROM. Path is the operator's file,
// used in place: nothing writes it.
type ISO struct {
	ID           int64     `json:"id"`
	Label        string    `json:"label"`
	Path         string    `json:"path"`
	SizeMB       int64     `json:"size"`
	DatacenterID int64     `json:"datacenter_id"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
}

// Image is a disk that VMs are created from.
type Image struct {
	ID           int64     `json:"id"`
	Label        string    `json:"label"`
	OSArch       string    `json:"os_arch"`
	DatacenterID int64     `json:"datacenter_id"`
	DiskID       int64     `json:"disk_id"`
	AuthorID     int64     `json:"author_id"`
	Visibility   string    `json:"visibility"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
}

// Operation steps, as the seeds define them.
const (
	StepWait   = "WAIT"
	StepRun    = "RUN"
	StepDone   = "DONE"
	StepError  = "ERROR"
	StepCancel = "CANCEL"
)

// Operation is a unit of background work and its journal. Cursor is the
// index of the next workflow step to run; InStep says that step began
// and may be half done (steps are idempotent, so it is simply run again).
//
// What the steps read and write is typed, per operation type (the types
// are agent/workflow's), and journalled as JSON: Input is fixed at
// submission, Progress is what the steps journal as they go (a deadline,
// a message count) so that a resumed step carries on where it was.
// Params are only what a client reads back (operation.info), strings.
type Operation struct {
	ID          int64             `json:"id"`
	AccountID   int64             `json:"account_id"`
	Type        string            `json:"type"`
	Step        string            `json:"step"`
	DateCreated time.Time         `json:"date_created"`
	DateStart   time.Time         `json:"date_start"`
	DateUpdated time.Time         `json:"date_updated"`
	VMID        int64             `json:"vm_id"`
	DiskID      int64             `json:"disk_id"`
	IfaceID     int64             `json:"iface_id"`
	IPID        int64             `json:"ip_id"`
	Source      string            `json:"source"`
	LastError   string            `json:"last_error"`
	ETA         int64             `json:"eta"`
	Params      map[string]string `json:"params"`
	Input       json.RawMessage   `json:"input,omitempty"`
	// Secrets are what a workflow needs and nobody may read back (a
	// password's hash): never rendered, and gone once the operation
	// finishes (see clone).
	Secrets     map[string]string `json:"secrets,omitempty"`
	Keys        []string          `json:"keys"`
	After       []int64           `json:"after,omitempty"`
	Cursor      int               `json:"cursor"`
	InStep      bool              `json:"in_step"`
	RollingBack bool              `json:"rolling_back,omitempty"`
	Cancel      bool              `json:"cancel_requested,omitempty"`
	Progress    json.RawMessage   `json:"progress,omitempty"`
}

// Finished reports whether the operation reached a final step.
func (o *Operation) Finished() bool {
	return o.Step == StepDone || o.Step == StepError || o.Step == StepCancel
}

func (o Operation) clone() Operation {
	o.Params = cloneMap(o.Params)
	// Every write and read goes through clone: a finished operation's
	// record, in memory and on disk, holds no secret, whichever way it
	// finished (done, error, cancelled before it ran).
	if o.Finished() {
		o.Secrets = nil
	} else {
		o.Secrets = cloneMap(o.Secrets)
	}
	o.Input = slices.Clone(o.Input)
	o.Progress = slices.Clone(o.Progress)
	o.Keys = slices.Clone(o.Keys)
	o.After = slices.Clone(o.After)
	return o
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// IdemEntry remembers the answer to an idempotent call.
type IdemEntry struct {
	Method string    `json:"method"`
	Digest string    `json:"digest"`
	OpIDs  []int64   `json:"op_ids"`
	Date   time.Time `json:"date"`
}

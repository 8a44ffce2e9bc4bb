package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// A hostname is one DNS label (GandiHostname, tune.go).
var hostnameRE = gandiHostnameRE

// MaxMemoryFloor is the seeds' rule: a VM created with less memory gets
// this vm_max_memory, so it can balloon up to it without a reboot.
const MaxMemoryFloor = 2048

// VMSpec is a VM to create: the seed's VMDescription and
// VMCreateFromDescription. A nil field is absent and gets the seed's
// default: memory 512, vm_max_memory max(memory, 2048), cores 1, the
// network's bandwidth, ip_version 4. An explicit zero is a value, and is
// refused like any other out of bounds.
type VMSpec struct {
	DatacenterID             int64
	Hostname                 string
	Memory, MaxMemory, Cores *int64
	AIActive                 int64
	Bandwidth                *float64
	IPVersion                *int64
	// IfaceID is an existing free iface of the account to attach, or 0
	// to create one.
	IfaceID int64
	// What the first boot applies: Password is the clear text, kept only
	// as a hash; Keys are ids of the account's ssh keys.
	Login, Password, SSHKey, Run string
	Keys                         []int64
	// PasswordRule is the rule Password follows: the face's document's
	// (the zero value is Gandi's, every face's unless it says otherwise).
	PasswordRule PasswordRule
	VMTune       // description, label, note, cpu_shares (tune.go)
}

// VMCreate is hosting.vm.create: a VM on an existing data disk.
type VMCreate struct {
	VMSpec
	// SysDiskID is the created, unattached data disk the VM boots from.
	SysDiskID int64
	Options   CallOptions
}

// VMCreateFrom is hosting.vm.create_from: a VM whose system disk is
// created in the same call as a copy of SrcDiskID (an image or a disk of
// the account).
type VMCreateFrom struct {
	VMSpec
	Disk      VMDiskSpec
	SrcDiskID int64
	// DataDisks are empty data disks made in the same call and attached
	// after the system disk, in order (the Gigas document's swap and
	// secondary disks); none for the Gandi face.
	DataDisks []DataDisk
	// Halted: the VM is stopped (gracefully) once built, by a vm_stop
	// after vm_create (the Gigas clone's required_startup false).
	Halted  bool
	Options CallOptions
}

// DataDisk is an empty data disk a VM is created with.
type DataDisk struct {
	Name   string // "" is the default, disk<id>
	SizeMB int64
}

// MaxDataDisks bounds the data disks one creation makes.
const MaxDataDisks = 8

// VMDiskSpec is vm.create_from's system disk: the seed's
// DiskCopyDescription. A nil field is absent: the VM's datacenter, the
// source's size, type data, no snapshot profile.
type VMDiskSpec struct {
	DatacenterID *int64
	Name         string
	Size         *int64
	Type         *string
	// SnapshotProfile is a profile id; 0 (the call's nil, "" or "none")
	// is none.
	SnapshotProfile *int64
}

type vmReq struct {
	dc, memory, maxMem, cores, aiActive int64
	hostname                            string
	bandwidth                           float64
	ipVersion                           int64
	ifaceID, sysDiskID                  int64
	prov                                store.Provision
	tune                                VMTune
}

func (r vmReq) provision() *store.Provision {
	if r.prov.Login == "" && r.prov.Password == "" && r.prov.SSHKey == "" && r.prov.Run == "" && len(r.prov.Keys) == 0 {
		return nil
	}
	p := r.prov
	return &p
}

func (s *Service) checkMemory(field string, mb int64) error {
	if mb%64 != 0 {
		return Invalid(ObjVM, field, "must be a multiple of 64 (MB)")
	}
	if mb < 128 || mb > s.cfg.Limits.MaxMemoryMB {
		return Invalid(ObjVM, field, "must be between 128 and %d MB", s.cfg.Limits.MaxMemoryMB)
	}
	return nil
}

func (s *Service) checkCores(n int64) error {
	if n < 1 || n > s.cfg.Limits.MaxCores {
		return Invalid(ObjVM, "cores", "must be between 1 and %d", s.cfg.Limits.MaxCores)
	}
	return nil
}

// hashPassword keeps only a SHA-512 crypt hash of a password.
func hashPassword(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	h, err := passwd.Hash(p)
	if err != nil {
		return "", Errorf(ObjVM, KindInternal, "password: %v", err)
	}
	return h, nil
}

func checkPassword(p string) error {
	// Characters, not bytes: "short-é" is 7 characters in 8 bytes.
	if n := utf8.RuneCountInString(p); p != "" && (n < 8 || n > 128) {
		return Invalid(ObjVM, "password", "must be 8 to 128 characters")
	}
	return nil
}

// valueOr is *p, or def when p is nil (the field was absent).
func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// vmReqOf applies the seed's defaults and rules to a VM's description,
// in the order the seeds list its fields.
func (s *Service) vmReqOf(spec VMSpec) (vmReq, error) {
	r := vmReq{dc: spec.DatacenterID, hostname: spec.Hostname}
	if err := s.checkDatacenter(ObjVM, r.dc); err != nil {
		return r, err
	}
	if err := GandiHostname(r.hostname); err != nil {
		return r, err
	}
	r.memory = valueOr(spec.Memory, 512)
	if err := s.checkMemory("memory", r.memory); err != nil {
		return r, err
	}
	r.maxMem = valueOr(spec.MaxMemory, max(r.memory, MaxMemoryFloor))
	if err := s.checkMemory("vm_max_memory", r.maxMem); err != nil {
		return r, err
	}
	if r.maxMem < r.memory {
		return r, Invalid(ObjVM, "vm_max_memory", "must be at least memory (%d MB)", r.memory)
	}
	r.cores = valueOr(spec.Cores, 1)
	if err := s.checkCores(r.cores); err != nil {
		return r, err
	}
	if r.aiActive = spec.AIActive; r.aiActive != 0 && r.aiActive != 1 {
		return r, Invalid(ObjVM, "ai_active", "must be 0 or 1")
	}
	r.bandwidth = valueOr(spec.Bandwidth, s.cfg.Network.Bandwidth())
	if err := s.checkBandwidth(ObjVM, r.bandwidth); err != nil {
		return r, err
	}
	if r.ipVersion = valueOr(spec.IPVersion, 4); r.ipVersion != 4 && r.ipVersion != 6 {
		return r, Invalid(ObjVM, "ip_version", "must be 4 or 6")
	}
	r.ifaceID = spec.IfaceID
	r.tune = spec.VMTune
	if err := r.tune.check(); err != nil {
		return r, err
	}
	r.prov = store.Provision{Login: spec.Login, Password: spec.Password, SSHKey: spec.SSHKey, Run: spec.Run, Keys: spec.Keys}
	return r, s.checkProvision(&r.prov, spec.PasswordRule)
}

// checkProvision checks what the first boot applies and replaces the
// password by its hash.
func (s *Service) checkProvision(p *store.Provision, rule PasswordRule) error {
	// The first-boot script is kept in the state with the VM: without a
	// bound every accepted call grew state.db by up to the 1 MiB body.
	if len(p.Run) > MaxRunBytes {
		return Invalid(ObjVM, "run", "must be at most %d bytes (16 KiB, as EC2 user-data), got %d", MaxRunBytes, len(p.Run))
	}
	if len(p.Keys) > MaxVMKeys {
		return Invalid(ObjVM, "keys", "must list at most %d keys, got %d", MaxVMKeys, len(p.Keys))
	}
	if p.Login != "" && !hostnameRE.MatchString(p.Login) {
		return Invalid(ObjVM, "login", "must be letters, digits or '-'")
	}
	if err := rule.check(p.Password); err != nil {
		return err
	}
	var err error
	if p.Password, err = hashPassword(p.Password); err != nil {
		return err
	}
	if p.SSHKey != "" {
		if _, err := parseAuthorizedKey(ObjVM, "ssh_key", p.SSHKey); err != nil {
			return err
		}
	}
	return nil
}

// sysDiskReq applies DiskCopyDescription's defaults and rules to
// vm.create_from's system disk (dc: the VM's datacenter), and the VM's
// own: it boots from a data disk.
func (s *Service) sysDiskReq(d VMDiskSpec, dc int64) (diskReq, error) {
	r, err := s.diskCopyReq(d, dc)
	if err != nil {
		return r, err
	}
	if r.typ != store.DiskTypeData {
		return r, Invalid(ObjDisk, "type", "a VM's system disk is a data disk")
	}
	return r, nil
}

// reserveVM records the VM and the ops that create it.
//
// extra are data disks reserved in the same call (being created, their
// operations among after): attached after the system disk from the start.
func (s *Service) reserveVM(tx *store.Tx, acct int64, o callOpts, r vmReq, diskID int64, after []int64, extra ...int64) ([]int64, error) {
	var ids []int64
	if diskID == 0 {
		d, ok := tx.Disk(r.sysDiskID)
		if !ok || d.AccountID != acct {
			return nil, notFound(ObjDisk, "sys_disk_id: disk", r.sysDiskID)
		}
		if d.VMID != 0 {
			return nil, Errorf(ObjDisk, KindConflict, "sys_disk_id: disk %d is attached to vm %d; a disk attaches to one VM only", d.ID, d.VMID)
		}
		if d.State != store.DiskCreated || d.Type != store.DiskTypeData {
			return nil, Errorf(ObjDisk, KindConflict, "sys_disk_id: disk %d is %s %s, not a created data disk", d.ID, d.State, d.Type)
		}
		if d.DatacenterID != r.dc {
			return nil, Invalid(ObjVM, "sys_disk_id", "disk %d is in datacenter %d; disk, iface and vm must be in the same datacenter", d.ID, d.DatacenterID)
		}
		diskID = d.ID
	}
	var iface store.Iface
	if r.ifaceID != 0 {
		i, ok := tx.Iface(r.ifaceID)
		if !ok || i.AccountID != acct {
			return nil, notFound(ObjIface, "iface_id: iface", r.ifaceID)
		}
		if i.VMID != 0 {
			return nil, Errorf(ObjIface, KindConflict, "iface_id: iface %d is attached to vm %d", i.ID, i.VMID)
		}
		if i.DatacenterID != r.dc {
			return nil, Invalid(ObjVM, "iface_id", "iface %d is in datacenter %d", i.ID, i.DatacenterID)
		}
		iface = i
	} else {
		i, ip, err := s.reserveIface(tx, ifaceReq{obj: ObjVM, accountID: acct, id: o.ifaceID, ipID: o.ipID, dc: r.dc, version: r.ipVersion, bandwidth: r.bandwidth})
		if err != nil {
			return nil, err
		}
		iface = i
		op := s.newOp(tx, acct, opSpec{typ: "iface_create", ifaceID: i.ID, ip: ip.ID, keys: []string{workflow.IfaceKey(i.ID)}, eta: 5})
		ids = append(ids, op.ID)
		after = append(after, op.ID)
	}
	prov := r.provision()
	if prov != nil {
		if prov.SSHKey != "" {
			prov.AuthorizedKeys = append(prov.AuthorizedKeys, prov.SSHKey)
		}
		for _, id := range prov.Keys {
			k, ok := tx.SSHKey(id)
			if !ok || k.AccountID != acct {
				return nil, notFound(ObjSSHKey, "keys: ssh key", id)
			}
			prov.AuthorizedKeys = append(prov.AuthorizedKeys, k.Value)
		}
	}
	vm := store.VM{AccountID: acct, DatacenterID: r.dc, Hostname: r.hostname, Memory: r.memory, MaxMemory: r.maxMem,
		Cores: r.cores, AIActive: r.aiActive, State: store.VMBeingCreated, DiskIDs: append([]int64{diskID}, extra...),
		IfaceIDs: []int64{iface.ID}, Provision: prov, DateCreated: now(), DateUpdated: now()}
	r.tune.apply(&vm)
	if o.vmID != 0 {
		if tx.HasVM(o.vmID) {
			return nil, Errorf(ObjVM, KindDuplicate, "vm_id: vm %d already exists", o.vmID)
		}
		vm.ID = o.vmID
	} else {
		vm.ID = tx.NextID("vm", tx.HasVM)
	}
	vm.Domain = workflow.DomainName(vm.ID)
	tx.PutVM(vm)
	keys := []string{workflow.VMKey(vm.ID)}
	for _, id := range vm.DiskIDs {
		d, _ := tx.Disk(id)
		d.VMID = vm.ID
		tx.PutDisk(d)
		keys = append(keys, workflow.DiskKey(id))
	}
	iface.VMID = vm.ID
	tx.PutIface(iface)
	op := s.newOp(tx, acct, opSpec{typ: "vm_create", vmID: vm.ID, keys: append(keys, workflow.IfaceKey(iface.ID)),
		after: after, params: map[string]string{"hostname": vm.Hostname}, eta: 30})
	return append(ids, op.ID), nil
}

// CreateVM creates a VM on an existing data disk, and an iface for it
// unless it names one: the operations that do it, in order.
func (s *Service) CreateVM(ctx context.Context, c *Caller, req VMCreate) ([]Operation, error) {
	o, acct, err := s.creatorOf(c, req.Options, ObjVM)
	if err != nil {
		return nil, err
	}
	r, err := s.vmReqOf(req.VMSpec)
	if err != nil {
		return nil, err
	}
	r.sysDiskID = req.SysDiskID
	ops, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		return s.reserveVM(tx, acct, o, r, 0, nil)
	})
	if err != nil {
		return nil, err
	}
	return operationsOf(ops), nil
}

// CreateVMFrom creates a VM with a new system disk copied from
// req.SrcDiskID, and an iface unless it names one: the operations that do
// it, in order (the disk's first).
func (s *Service) CreateVMFrom(ctx context.Context, c *Caller, req VMCreateFrom) ([]Operation, error) {
	o, acct, err := s.creatorOf(c, req.Options, ObjVM)
	if err != nil {
		return nil, err
	}
	r, err := s.vmReqOf(req.VMSpec)
	if err != nil {
		return nil, err
	}
	dreq, err := s.sysDiskReq(req.Disk, r.dc)
	if err != nil {
		return nil, err
	}
	dreq.source = req.SrcDiskID
	dreq.accountID, dreq.id = acct, o.diskID
	if len(req.DataDisks) > MaxDataDisks {
		return nil, Invalid(ObjVM, "data_disks", "must list at most %d disks, got %d", MaxDataDisks, len(req.DataDisks))
	}
	ops, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		d, err := s.reserveDisk(tx, dreq)
		if err != nil {
			return nil, err
		}
		dop := s.newOp(tx, acct, opSpec{typ: "disk_create", diskID: d.ID, keys: []string{workflow.DiskKey(d.ID)},
			params: map[string]string{"source": strconv.FormatInt(d.Source, 10)}, eta: 10})
		ids, extra := []int64{dop.ID}, []int64{}
		for i, dd := range req.DataDisks {
			// Each is checked and charged to the quota as disk.create's
			// are, after the ones before it.
			x, err := s.reserveDisk(tx, diskReq{obj: ObjDisk, accountID: acct, dc: r.dc, name: dd.Name, sizeMB: dd.SizeMB})
			if err != nil {
				e := *Classify(err)
				e.Msg = fmt.Sprintf("data_disks[%d].%s", i, e.Msg)
				return nil, &e
			}
			xop := s.newOp(tx, acct, opSpec{typ: "disk_create", diskID: x.ID, keys: []string{workflow.DiskKey(x.ID)}, eta: 10})
			ids, extra = append(ids, xop.ID), append(extra, x.ID)
		}
		rest, err := s.reserveVM(tx, acct, o, r, d.ID, slices.Clone(ids), extra...)
		if err != nil {
			return nil, err
		}
		ids = append(ids, rest...)
		if req.Halted {
			create, _ := tx.Operation(ids[len(ids)-1])
			stop := s.newOp(tx, acct, opSpec{typ: "vm_stop", vmID: create.VMID, keys: []string{workflow.VMKey(create.VMID)}, after: []int64{create.ID}, eta: 10})
			ids = append(ids, stop.ID)
		}
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return operationsOf(ops), nil
}

// vmFor looks up a VM the caller may touch; unknown and foreign look alike.
func vmFor(tx *store.Tx, c *Caller, id int64) (store.VM, error) {
	v, ok := tx.VM(id)
	if !ok || !c.owns(v.AccountID) {
		return store.VM{}, notFound(ObjVM, "vm", id)
	}
	return v, nil
}

// vmOwner resolves a VM's account for submitOne.
func vmOwner(c *Caller, id int64) func(tx *store.Tx) (int64, error) {
	return func(tx *store.Tx) (int64, error) {
		v, err := vmFor(tx, c, id)
		return v.AccountID, err
	}
}

// likeMatch is the "~" filter: a case-insensitive SQL LIKE where '%'
// matches any run and '_' one character; without wildcards, a substring.
func likeMatch(pattern, s string) bool {
	p, str := strings.ToLower(pattern), strings.ToLower(s)
	if !strings.ContainsAny(p, "%_") {
		return strings.Contains(str, p)
	}
	var rec func(p, s string) bool
	rec = func(p, s string) bool {
		for len(p) > 0 {
			switch p[0] {
			case '%':
				for i := 0; i <= len(s); i++ {
					if rec(p[1:], s[i:]) {
						return true
					}
				}
				return false
			case '_':
				if len(s) == 0 {
					return false
				}
			default:
				if len(s) == 0 || s[0] != p[0] {
					return false
				}
			}
			p, s = p[1:], s[1:]
		}
		return len(s) == 0
	}
	return rec(p, str)
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

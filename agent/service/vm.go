package service

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// A hostname is one DNS label.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// MaxMemoryFloor is the seeds' rule: a VM created with less memory gets
// this vm_max_memory, so it can balloon up to it without a reboot.
const MaxMemoryFloor = 2048

type vmReq struct {
	dc, memory, maxMem, cores, aiActive int64
	hostname                            string
	bandwidth                           float64
	ipVersion                           int64
	ifaceID, sysDiskID                  int64
	prov                                store.Provision
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
		return invalid(ObjVM, field, "must be a multiple of 64 (MB)")
	}
	if mb < 128 || mb > s.cfg.Limits.MaxMemoryMB {
		return invalid(ObjVM, field, "must be between 128 and %d MB", s.cfg.Limits.MaxMemoryMB)
	}
	return nil
}

func (s *Service) checkCores(n int64) error {
	if n < 1 || n > s.cfg.Limits.MaxCores {
		return invalid(ObjVM, "cores", "must be between 1 and %d", s.cfg.Limits.MaxCores)
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
		return "", fault(ObjVM, KindInternal, "password: %v", err)
	}
	return h, nil
}

func checkPassword(p string) error {
	// Characters, not bytes: "short-é" is 7 characters in 8 bytes.
	if n := utf8.RuneCountInString(p); p != "" && (n < 8 || n > 128) {
		return invalid(ObjVM, "password", "must be 8 to 128 characters")
	}
	return nil
}

// parseVMSpec reads VMDescription (withSysDisk) or VMCreateFromDescription.
func (s *Service) parseVMSpec(sp *spec, withSysDisk bool) (vmReq, error) {
	var r vmReq
	var err error
	if r.dc, err = sp.int("datacenter_id", 0, true); err != nil {
		return r, err
	}
	if err := s.checkDatacenter(ObjVM, r.dc); err != nil {
		return r, err
	}
	if r.hostname, err = sp.str("hostname", "", true); err != nil {
		return r, err
	}
	if !hostnameRE.MatchString(r.hostname) {
		return r, invalid(ObjVM, "hostname", "must be 1-63 letters, digits or '-', not starting or ending with '-'")
	}
	if r.memory, err = sp.int("memory", 512, false); err != nil {
		return r, err
	}
	if err := s.checkMemory("memory", r.memory); err != nil {
		return r, err
	}
	if r.maxMem, err = sp.int("vm_max_memory", max(r.memory, MaxMemoryFloor), false); err != nil {
		return r, err
	}
	if err := s.checkMemory("vm_max_memory", r.maxMem); err != nil {
		return r, err
	}
	if r.maxMem < r.memory {
		return r, invalid(ObjVM, "vm_max_memory", "must be at least memory (%d MB)", r.memory)
	}
	if r.cores, err = sp.int("cores", 1, false); err != nil {
		return r, err
	}
	if err := s.checkCores(r.cores); err != nil {
		return r, err
	}
	if r.aiActive, err = sp.int("ai_active", 0, false); err != nil {
		return r, err
	}
	if r.aiActive != 0 && r.aiActive != 1 {
		return r, invalid(ObjVM, "ai_active", "must be 0 or 1")
	}
	if r.bandwidth, err = sp.float("bandwidth", s.cfg.Network.Bandwidth()); err != nil {
		return r, err
	}
	if err := s.checkBandwidth(ObjVM, r.bandwidth); err != nil {
		return r, err
	}
	if r.ipVersion, err = parseIPVersion(ObjVM, sp, "ip_version"); err != nil {
		return r, err
	}
	if r.ifaceID, err = sp.int("iface_id", 0, false); err != nil {
		return r, err
	}
	if withSysDisk {
		if r.sysDiskID, err = sp.int("sys_disk_id", 0, true); err != nil {
			return r, err
		}
	}
	if r.prov.Keys, err = sp.ints("keys"); err != nil {
		return r, err
	}
	for key, dst := range map[string]*string{"login": &r.prov.Login, "password": &r.prov.Password, "ssh_key": &r.prov.SSHKey, "run": &r.prov.Run} {
		if *dst, err = sp.str(key, "", false); err != nil {
			return r, err
		}
	}
	// The first-boot script is kept in the state with the VM: without a
	// bound every accepted call grew state.db by up to the 1 MiB body.
	if len(r.prov.Run) > MaxRunBytes {
		return r, invalid(ObjVM, "run", "must be at most %d bytes (16 KiB, as EC2 user-data), got %d", MaxRunBytes, len(r.prov.Run))
	}
	if len(r.prov.Keys) > MaxVMKeys {
		return r, invalid(ObjVM, "keys", "must list at most %d keys, got %d", MaxVMKeys, len(r.prov.Keys))
	}
	if r.prov.Login != "" && !hostnameRE.MatchString(r.prov.Login) {
		return r, invalid(ObjVM, "login", "must be letters, digits or '-'")
	}
	if err := checkPassword(r.prov.Password); err != nil {
		return r, err
	}
	if r.prov.Password, err = hashPassword(r.prov.Password); err != nil {
		return r, err
	}
	if r.prov.SSHKey != "" {
		if _, err := parseAuthorizedKey(ObjVM, "ssh_key", r.prov.SSHKey); err != nil {
			return r, err
		}
	}
	sp.ignore("shares")
	return r, sp.done()
}

// reserveVM records the VM and the ops that create it.
func (s *Service) reserveVM(tx *store.Tx, acct int64, o callOpts, r vmReq, diskID int64, after []int64) ([]int64, error) {
	var ids []int64
	if diskID == 0 {
		d, ok := tx.Disk(r.sysDiskID)
		if !ok || d.AccountID != acct {
			return nil, notFound(ObjDisk, "sys_disk_id: disk", r.sysDiskID)
		}
		if d.VMID != 0 {
			return nil, fault(ObjDisk, KindConflict, "sys_disk_id: disk %d is attached to vm %d; a disk attaches to one VM only", d.ID, d.VMID)
		}
		if d.State != store.DiskCreated || d.Type != store.DiskTypeData {
			return nil, fault(ObjDisk, KindConflict, "sys_disk_id: disk %d is %s %s, not a created data disk", d.ID, d.State, d.Type)
		}
		if d.DatacenterID != r.dc {
			return nil, invalid(ObjVM, "sys_disk_id", "disk %d is in datacenter %d; disk, iface and vm must be in the same datacenter", d.ID, d.DatacenterID)
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
			return nil, fault(ObjIface, KindConflict, "iface_id: iface %d is attached to vm %d", i.ID, i.VMID)
		}
		if i.DatacenterID != r.dc {
			return nil, invalid(ObjVM, "iface_id", "iface %d is in datacenter %d", i.ID, i.DatacenterID)
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
		Cores: r.cores, AIActive: r.aiActive, State: store.VMBeingCreated, DiskIDs: []int64{diskID},
		IfaceIDs: []int64{iface.ID}, Provision: prov, DateCreated: now(), DateUpdated: now()}
	if o.vmID != 0 {
		if tx.HasVM(o.vmID) {
			return nil, fault(ObjVM, KindDuplicate, "vm_id: vm %d already exists", o.vmID)
		}
		vm.ID = o.vmID
	} else {
		vm.ID = tx.NextID("vm", tx.HasVM)
	}
	vm.Domain = workflow.DomainName(vm.ID)
	tx.PutVM(vm)
	d, _ := tx.Disk(diskID)
	d.VMID = vm.ID
	tx.PutDisk(d)
	iface.VMID = vm.ID
	tx.PutIface(iface)
	op := s.newOp(tx, acct, opSpec{typ: "vm_create", vmID: vm.ID, keys: []string{workflow.VMKey(vm.ID), workflow.DiskKey(diskID), workflow.IfaceKey(iface.ID)},
		after: after, params: map[string]string{"hostname": vm.Hostname}, eta: 30})
	return append(ids, op.ID), nil
}

func (s *Service) vmCreate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjVM
	o, acct, err := s.creator(c, a, 1, ObjVM)
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "vm_spec", false)
	if err != nil {
		return nil, err
	}
	r, err := s.parseVMSpec(sp, true)
	if err != nil {
		return nil, err
	}
	ops, err := s.submit(acct, o, "hosting.vm.create", a.vals, func(tx *store.Tx) ([]int64, error) {
		return s.reserveVM(tx, acct, o, r, 0, nil)
	})
	if err != nil {
		return nil, err
	}
	return renderOps(ops), nil
}

func (s *Service) vmCreateFrom(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjVM
	o, acct, err := s.creator(c, a, 3, ObjVM)
	if err != nil {
		return nil, err
	}
	vsp, err := a.spec(0, "vm_spec", false)
	if err != nil {
		return nil, err
	}
	r, err := s.parseVMSpec(vsp, false)
	if err != nil {
		return nil, err
	}
	dsp, err := a.spec(1, "disk_spec", false)
	if err != nil {
		return nil, err
	}
	dsp.obj = ObjDisk
	dreq, err := s.parseDiskCopySpec(dsp, r.dc)
	if err != nil {
		return nil, err
	}
	if dreq.typ != store.DiskTypeData {
		return nil, invalid(ObjDisk, "type", "a VM's system disk is a data disk")
	}
	if dreq.source, err = a.int(2, "src_disk_id"); err != nil {
		return nil, err
	}
	dreq.accountID, dreq.id = acct, o.diskID
	ops, err := s.submit(acct, o, "hosting.vm.create_from", a.vals, func(tx *store.Tx) ([]int64, error) {
		d, err := s.reserveDisk(tx, dreq)
		if err != nil {
			return nil, err
		}
		dop := s.newOp(tx, acct, opSpec{typ: "disk_create", diskID: d.ID, keys: []string{workflow.DiskKey(d.ID)},
			params: map[string]string{"source": strconv.FormatInt(d.Source, 10)}, eta: 10})
		rest, err := s.reserveVM(tx, acct, o, r, d.ID, []int64{dop.ID})
		if err != nil {
			return nil, err
		}
		return append([]int64{dop.ID}, rest...), nil
	})
	if err != nil {
		return nil, err
	}
	return renderOps(ops), nil
}

// vmFor looks up a VM the caller may touch; unknown and foreign look alike.
func vmFor(tx *store.Tx, c *Caller, id int64) (store.VM, error) {
	v, ok := tx.VM(id)
	if !ok || !c.owns(v.AccountID) {
		return store.VM{}, notFound(ObjVM, "vm", id)
	}
	return v, nil
}

func (s *Service) vmAction(typ string) Handler {
	return func(ctx context.Context, c *Caller, a args) (any, error) {
		a.obj = ObjVM
		id, err := a.int(0, "vm_id")
		if err != nil {
			return nil, err
		}
		o, err := s.callOpts(c, a, 1)
		if err != nil {
			return nil, err
		}
		return s.submitOne(c, o, "hosting.vm."+strings.TrimPrefix(typ, "vm_"), a.vals, vmOwner(c, id), func(tx *store.Tx) (opSpec, error) {
			v, _ := tx.VM(id)
			if s.deleting(tx, workflow.VMKey(id)) {
				return opSpec{}, fault(ObjVM, KindConflict, "vm_id: vm %d is being deleted", id)
			}
			if v.State == store.VMLocked {
				return opSpec{}, fault(ObjVM, KindConflict, "vm_id: vm %d is locked", id)
			}
			eta := map[string]int64{"vm_start": 20, "vm_stop": 10, "vm_reboot": 30}[typ]
			return opSpec{typ: typ, vmID: id, keys: []string{workflow.VMKey(id)}, eta: eta}, nil
		})
	}
}

// vmOwner resolves a VM's account for submitOne.
func vmOwner(c *Caller, id int64) func(tx *store.Tx) (int64, error) {
	return func(tx *store.Tx) (int64, error) {
		v, err := vmFor(tx, c, id)
		return v.AccountID, err
	}
}

func (s *Service) vmUpdate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjVM
	id, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "update_spec", false)
	if err != nil {
		return nil, err
	}
	o, err := s.callOpts(c, a, 2)
	if err != nil {
		return nil, err
	}
	params := map[string]string{}
	for _, key := range []string{"memory", "vm_max_memory", "cores"} {
		if sp.has(key) {
			n, err := sp.int(key, 0, false)
			if err != nil {
				return nil, err
			}
			params[key] = strconv.FormatInt(n, 10)
		}
	}
	if sp.has("console") {
		on, err := sp.boolean("console", false)
		if err != nil {
			return nil, err
		}
		params["console"] = map[bool]string{true: "1", false: "0"}[on]
	}
	if sp.has("ssh_key") {
		if params["ssh_key"], err = sp.str("ssh_key", "", false); err != nil {
			return nil, err
		}
	}
	// The password's hash is a secret of the operation, not a param:
	// params are what operation.info and operation.list show.
	var secrets map[string]string
	if sp.has("password") {
		pw, err := sp.str("password", "", false)
		if err != nil {
			return nil, err
		}
		if err := checkPassword(pw); err != nil {
			return nil, err
		}
		h, err := hashPassword(pw)
		if err != nil {
			return nil, err
		}
		secrets = map[string]string{"password_hash": h}
	}
	if key := params["ssh_key"]; key != "" {
		if _, err := parseAuthorizedKey(ObjVM, "ssh_key", key); err != nil {
			return nil, err
		}
	}
	sp.ignore("shares")
	if err := sp.done(); err != nil {
		return nil, err
	}
	if len(params) == 0 && secrets == nil {
		// An operation that changes nothing would still take the VM's
		// turn and say DONE: refuse it, as disk.update does.
		return nil, fault(ObjVM, KindMissing, "update_spec: nothing to change (give one of memory, vm_max_memory, cores, console, password, ssh_key)")
	}
	return s.submitOne(c, o, "hosting.vm.update", a.vals, vmOwner(c, id), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(id)
		if s.deleting(tx, workflow.VMKey(id)) {
			return opSpec{}, fault(ObjVM, KindConflict, "vm_id: vm %d is being deleted", id)
		}
		mem, maxMem, cores := v.Memory, v.MaxMemory, v.Cores
		if p, ok := params["memory"]; ok {
			mem, _ = strconv.ParseInt(p, 10, 64)
			if err := s.checkMemory("memory", mem); err != nil {
				return opSpec{}, err
			}
		}
		if p, ok := params["vm_max_memory"]; ok {
			maxMem, _ = strconv.ParseInt(p, 10, 64)
			if err := s.checkMemory("vm_max_memory", maxMem); err != nil {
				return opSpec{}, err
			}
		}
		if mem > maxMem {
			return opSpec{}, invalid(ObjVM, "memory", "%d MB exceeds vm_max_memory (%d MB); raise vm_max_memory too, which takes effect at the next reboot", mem, maxMem)
		}
		if p, ok := params["cores"]; ok {
			cores, _ = strconv.ParseInt(p, 10, 64)
			if err := s.checkCores(cores); err != nil {
				return opSpec{}, err
			}
		}
		return opSpec{typ: "vm_update", vmID: id, keys: []string{workflow.VMKey(id)}, params: params, secrets: secrets, eta: 5}, nil
	})
}

func (s *Service) vmDelete(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjVM
	id, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	o, err := s.callOpts(c, a, 1)
	if err != nil {
		return nil, err
	}
	return s.submitOne(c, o, "hosting.vm.delete", a.vals, vmOwner(c, id), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(id)
		if s.deleting(tx, workflow.VMKey(id)) {
			return opSpec{}, fault(ObjVM, KindConflict, "vm_id: vm %d is already being deleted", id)
		}
		keys := []string{workflow.VMKey(id)}
		for _, d := range v.DiskIDs {
			keys = append(keys, workflow.DiskKey(d))
		}
		for _, i := range v.IfaceIDs {
			keys = append(keys, workflow.IfaceKey(i))
		}
		return opSpec{typ: "vm_delete", vmID: id, keys: keys, eta: 15}, nil
	})
}

// vmFilter is VMListOptions / VMCountOptions.
type vmFilter struct {
	ids, cores, dcs, memory []int64
	hostnames               []string
	like                    string
	state                   string
}

func parseVMFilter(sp *spec) (vmFilter, error) {
	var f vmFilter
	var err error
	for key, dst := range map[string]*[]int64{"id": &f.ids, "cores": &f.cores, "datacenter_id": &f.dcs, "memory": &f.memory} {
		if *dst, err = sp.ints(key); err != nil {
			return f, err
		}
	}
	if f.hostnames, err = sp.strs("hostname"); err != nil {
		return f, err
	}
	if f.like, err = sp.str("~hostname", "", false); err != nil {
		return f, err
	}
	if f.state, err = sp.str("state", "", false); err != nil {
		return f, err
	}
	if f.state != "" && !slices.Contains([]string{store.VMPaused, store.VMRunning, store.VMHalted, store.VMLocked, store.VMBeingCreated, store.VMDeleted}, f.state) {
		return f, invalid(ObjVM, "state", "must be one of paused, running, halted, locked, being_created, deleted")
	}
	return f, nil
}

func (f vmFilter) match(v *store.VM) bool {
	return (len(f.ids) == 0 || slices.Contains(f.ids, v.ID)) &&
		(len(f.cores) == 0 || slices.Contains(f.cores, v.Cores)) &&
		(len(f.dcs) == 0 || slices.Contains(f.dcs, v.DatacenterID)) &&
		(len(f.memory) == 0 || slices.Contains(f.memory, v.Memory)) &&
		(len(f.hostnames) == 0 || slices.Contains(f.hostnames, v.Hostname)) &&
		(f.like == "" || likeMatch(f.like, v.Hostname)) &&
		(f.state == "" || f.state == v.State)
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

var vmQuery = query[store.VM]{
	obj:   ObjVM,
	each:  (*store.Tx).EachVM,
	owner: func(v *store.VM) int64 { return v.AccountID },
	filter: func(sp *spec) (func(*store.VM) bool, error) {
		f, err := parseVMFilter(sp)
		return f.match, err
	},
	sortKeys: vmSortKeys,
	render:   func(tx *store.Tx, v store.VM) any { return renderVM(v) },
}

var vmSortKeys = map[string]func(a, b *store.VM) int{
	"id":            func(a, b *store.VM) int { return cmp64(a.ID, b.ID) },
	"cores":         func(a, b *store.VM) int { return cmp64(a.Cores, b.Cores) },
	"datacenter_id": func(a, b *store.VM) int { return cmp64(a.DatacenterID, b.DatacenterID) },
	"memory":        func(a, b *store.VM) int { return cmp64(a.Memory, b.Memory) },
	"hostname":      func(a, b *store.VM) int { return strings.Compare(a.Hostname, b.Hostname) },
	"state":         func(a, b *store.VM) int { return strings.Compare(a.State, b.State) },
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

// sortSpec reads sort_by: a field name, "-" in front for descending.
func sortSpec[T any](sp *spec, keys map[string]func(a, b *T) int) (func(a, b *T) bool, error) {
	by, err := sp.str("sort_by", "id", false)
	if err != nil {
		return nil, err
	}
	desc := strings.HasPrefix(by, "-")
	cmp, ok := keys[strings.TrimPrefix(by, "-")]
	if !ok {
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, invalid(sp.obj, "sort_by", "must be one of %s (prefix '-' for descending)", strings.Join(names, ", "))
	}
	byID := keys["id"]
	return func(a, b *T) bool {
		c := cmp(a, b)
		if c == 0 && byID != nil {
			c = byID(a, b)
		}
		if desc {
			return c > 0
		}
		return c < 0
	}, nil
}

func renderVM(v store.VM) map[string]any {
	return map[string]any{
		"id": v.ID, "hostname": v.Hostname, "description": v.Description, "memory": v.Memory,
		"vm_max_memory": v.MaxMemory, "cores": v.Cores, "ai_active": v.AIActive, "console": v.Console,
		"datacenter_id": v.DatacenterID, "state": v.State, "flex_shares": 0,
		"disks_id": append([]int64{}, v.DiskIDs...), "ifaces_id": append([]int64{}, v.IfaceIDs...),
		"date_created": v.DateCreated, "date_updated": v.DateUpdated,
	}
}

func (s *Service) vmInfo(ctx context.Context, c *Caller, a args) (any, error) {
	return lookupInfo(s.st, c, a, ObjVM, "vm_id", vmFor, s.renderVMInfo)
}

// renderVMInfo is VMReturn with what only vm.info returns.
func (s *Service) renderVMInfo(tx *store.Tx, v store.VM) map[string]any {
	out := renderVM(v)
	disks := []any{}
	for _, did := range v.DiskIDs {
		if d, ok := tx.Disk(did); ok {
			disks = append(disks, s.renderDisk(tx, d, false))
		}
	}
	ifaces := []any{}
	for _, iid := range v.IfaceIDs {
		if i, ok := tx.Iface(iid); ok {
			ifaces = append(ifaces, renderIface(tx, i, true))
		}
	}
	out["disks"], out["ifaces"] = disks, ifaces
	out["console_url"] = ""
	out["graph_urls"] = map[string]any{"vcpu": []any{}, "vdi": []any{}, "vif": []any{}}
	out["probes"] = map[string]any{}
	out["triggers"] = []any{}
	return out
}

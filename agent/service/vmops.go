package service

import (
	"context"
	"strconv"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// StartVM boots one of the caller's VMs.
func (s *Service) StartVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	return s.vmAction(c, "vm_start", id, opts)
}

// StopVM shuts one of the caller's VMs down.
func (s *Service) StopVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	return s.vmAction(c, "vm_stop", id, opts)
}

// RebootVM reboots one of the caller's VMs.
func (s *Service) RebootVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	return s.vmAction(c, "vm_reboot", id, opts)
}

func (s *Service) vmAction(c *Caller, typ string, id int64, opts CallOptions) (Operation, error) {
	o, err := s.checkOptions(c, opts, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	return s.submitOneOf(c, o, vmOwner(c, id), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(id)
		if s.deleting(tx, workflow.VMKey(id)) {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is being deleted", id)
		}
		if v.State == store.VMLocked {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is locked", id)
		}
		eta := map[string]int64{"vm_start": 20, "vm_stop": 10, "vm_reboot": 30}[typ]
		return opSpec{typ: typ, vmID: id, keys: []string{workflow.VMKey(id)}, eta: eta}, nil
	})
}

// VMUpdate is what hosting.vm.update changes; a nil field stays as it is.
type VMUpdate struct {
	Memory, MaxMemory, Cores *int64
	Console                  *bool
	// SSHKey is a public key line to add; "" adds none.
	SSHKey *string
	// Password is the clear text, kept only as a hash; "" removes it.
	Password *string
	// Hostname renames the VM's record (a DNS label, GandiHostname): the
	// guest is not changed now; a first-boot seed written later (new
	// credentials, a rebuild) carries it.
	Hostname *string
	VMTune   // description, label, note, cpu_shares (tune.go)
	Options  CallOptions
}

// UpdateVM changes one of the caller's VMs: memory at once (up to
// vm_max_memory), vm_max_memory and cores at the next reboot.
func (s *Service) UpdateVM(ctx context.Context, c *Caller, id int64, req VMUpdate) (Operation, error) {
	return s.updateVM(c, id, req, nil)
}

// updateVM is UpdateVM; fresh, when set, is called when the call makes
// its operation (not when its idempotency key answers it).
func (s *Service) updateVM(c *Caller, id int64, req VMUpdate, fresh func()) (Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	params, secrets, err := vmUpdateParams(req)
	if err != nil {
		return Operation{}, err
	}
	op, err := s.submitOneOf(c, o, vmOwner(c, id), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(id)
		if s.deleting(tx, workflow.VMKey(id)) {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is being deleted", id)
		}
		if err := s.checkVMUpdate(v, req); err != nil {
			return opSpec{}, err
		}
		if err := s.checkCredentials(v, req); err != nil { // credentials.go
			return opSpec{}, err
		}
		if fresh != nil {
			fresh()
		}
		return opSpec{typ: "vm_update", vmID: id, keys: []string{workflow.VMKey(id)}, params: params, input: vmUpdateInput(req), secrets: secrets, eta: 5}, nil
	})
	if err == nil && req.Console != nil && !*req.Console && s.console != nil {
		// Deactivating revokes the links handed out, open sessions or
		// not (ConsoleRight ends the open ones and refuses them only
		// while the console stays off): a reactivation must not revive
		// them.
		s.console.tokens.Revoke(ConsolePurpose, id)
	}
	return op, err
}

// vmUpdateParams checks what needs no VM and turns req into the
// operation's params and secrets.
func vmUpdateParams(req VMUpdate) (params, secrets map[string]string, err error) {
	params = map[string]string{}
	for key, n := range map[string]*int64{"memory": req.Memory, "vm_max_memory": req.MaxMemory, "cores": req.Cores} {
		if n != nil {
			params[key] = strconv.FormatInt(*n, 10)
		}
	}
	if req.Console != nil {
		params["console"] = map[bool]string{true: "1", false: "0"}[*req.Console]
	}
	if req.Hostname != nil {
		if err := GandiHostname(*req.Hostname); err != nil {
			return nil, nil, err
		}
		params["hostname"] = *req.Hostname
	}
	if req.SSHKey != nil && *req.SSHKey != "" {
		params["ssh_key"] = *req.SSHKey // "" adds no key: nothing to change
	}
	if changesCredentials(req) {
		params["effective"] = EffectiveNextBoot // credentials.go
	}
	// The password's hash is a secret of the operation, not a param:
	// params are what operation.info and operation.list show.
	if req.Password != nil {
		if err := checkPassword(*req.Password); err != nil {
			return nil, nil, err
		}
		h, err := hashPassword(*req.Password)
		if err != nil {
			return nil, nil, err
		}
		secrets = map[string]string{"password_hash": h}
	}
	if key := params["ssh_key"]; key != "" {
		if _, err := parseAuthorizedKey(ObjVM, "ssh_key", key); err != nil {
			return nil, nil, err
		}
	}
	if err := req.VMTune.check(); err != nil {
		return nil, nil, err
	}
	req.VMTune.params(params)
	if len(params) == 0 && secrets == nil {
		// An operation that changes nothing would still take the VM's
		// turn and say DONE: refuse it, as disk.update does.
		return nil, nil, Errorf(ObjVM, KindMissing, "update_spec: nothing to change (give one of memory, vm_max_memory, cores, console, password, ssh_key, description, label, note, cpu_shares, hostname)")
	}
	return params, secrets, nil
}

// checkVMUpdate checks the sizes req asks of VM v, as they will be.
func (s *Service) checkVMUpdate(v store.VM, req VMUpdate) error {
	mem, maxMem := v.Memory, v.MaxMemory
	if req.Memory != nil {
		mem = *req.Memory
		if err := s.checkMemory("memory", mem); err != nil {
			return err
		}
	}
	if req.MaxMemory != nil {
		maxMem = *req.MaxMemory
		if err := s.checkMemory("vm_max_memory", maxMem); err != nil {
			return err
		}
	}
	if mem > maxMem {
		return Invalid(ObjVM, "memory", "%d MB exceeds vm_max_memory (%d MB); raise vm_max_memory too, which takes effect at the next reboot", mem, maxMem)
	}
	if req.Cores != nil {
		if err := s.checkCores(*req.Cores); err != nil {
			return err
		}
	}
	return nil
}

// DeleteVM deletes one of the caller's VMs with its disks and ifaces.
func (s *Service) DeleteVM(ctx context.Context, c *Caller, id int64, opts CallOptions) (Operation, error) {
	o, err := s.checkOptions(c, opts, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	return s.submitOneOf(c, o, vmOwner(c, id), func(tx *store.Tx) (opSpec, error) {
		v, _ := tx.VM(id)
		if s.deleting(tx, workflow.VMKey(id)) {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is already being deleted", id)
		}
		if err := s.keptSnapshotsOfVM(tx, v); err != nil {
			return opSpec{}, err
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

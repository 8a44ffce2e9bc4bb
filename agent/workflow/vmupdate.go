package workflow

import (
	"context"
	"fmt"
	"strconv"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) applyVMUpdate(ctx context.Context, r *ops.Run) error {
	p := r.Op().Params
	var oldMax int64
	err := r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		if op.Data["old_max"] == "" {
			if op.Data == nil {
				op.Data = map[string]string{}
			}
			op.Data["old_max"] = strconv.FormatInt(v.MaxMemory, 10)
		}
		oldMax, _ = strconv.ParseInt(op.Data["old_max"], 10, 64)
		oldCores := v.Cores
		for key, dst := range map[string]*int64{"memory": &v.Memory, "vm_max_memory": &v.MaxMemory, "cores": &v.Cores, "console": &v.Console} {
			if raw, ok := p[key]; ok {
				*dst, _ = strconv.ParseInt(raw, 10, 64)
			}
		}
		// The hash moves from the operation to the VM's record in one
		// write; a re-run finds it gone and the VM already holds it.
		// Params["password"] is where an older agent journalled it.
		pw, ok := op.Secrets["password_hash"]
		if !ok {
			pw, ok = p["password"]
		}
		if ok {
			if v.Provision == nil {
				v.Provision = &store.Provision{}
			}
			v.Provision.Password = pw
			delete(op.Secrets, "password_hash")
			delete(op.Params, "password")
		}
		if key, ok := p["ssh_key"]; ok {
			if v.Provision == nil {
				v.Provision = &store.Provision{}
			}
			v.Provision.SSHKey = key
		}
		if v.MaxMemory != oldMax || v.Cores != oldCores {
			v.RestartPending = true
		}
		v.DateUpdated = now()
		tx.PutVM(v)
		return nil
	})
	if err != nil {
		return err
	}
	// The definition takes every change at the next start; memory within
	// the running maximum is also ballooned now.
	spec, err := s.DomainSpec(r.Op().VMID)
	if err != nil {
		return err
	}
	if err := s.hv.Define(ctx, spec); err != nil {
		return err
	}
	if raw, ok := p["memory"]; ok {
		mem, _ := strconv.ParseInt(raw, 10, 64)
		st, err := s.hv.State(ctx, spec.Name)
		if err != nil {
			return err
		}
		if st.Running && mem <= oldMax {
			return s.hv.SetMemory(ctx, spec.Name, mem)
		}
	}
	return nil
}

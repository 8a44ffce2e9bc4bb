package workflow

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Workflows) defineDomain(ctx context.Context, r *ops.Run) error {
	spec, err := s.DomainSpec(r.Op().VMID)
	if err != nil {
		return err
	}
	return s.hv.Define(ctx, spec)
}

// ensureDomain reads the state of the operation's VM's domain and, when
// the definition is gone, defines it again from the records first (with
// its first-boot seed if that went too): every step finds the domain it
// works on, whatever a crash lost. libvirt's test driver loses every
// domain with the agent process; a host crash can lose libxl's file. A
// domain defined again is halted: power state is the operation's to set.
func (s *Workflows) ensureDomain(ctx context.Context, r *ops.Run) (host.State, error) {
	name := DomainName(r.Op().VMID)
	st, err := s.hv.State(ctx, name)
	if err != nil || st.Exists {
		return st, err
	}
	if _, err := s.vmOf(r); err != nil {
		return st, err
	}
	s.log.Warn("domain definition lost; defining it again", "op_id", r.Op().ID, "vm_id", r.Op().VMID, "op", r.Op().Type)
	if _, ok := s.seedPath(r.Op().VMID); !ok {
		if err := s.writeSeed(ctx, r); err != nil {
			return st, err
		}
	}
	if err := s.defineDomain(ctx, r); err != nil {
		return st, err
	}
	return s.hv.State(ctx, name)
}

func (s *Workflows) undefineDomain(ctx context.Context, r *ops.Run) error {
	return s.hv.Undefine(ctx, DomainName(r.Op().VMID))
}

func (s *Workflows) destroyDomain(ctx context.Context, r *ops.Run) error {
	return s.tearDown(ctx, DomainName(r.Op().VMID), s.hv.Destroy)
}

func (s *Workflows) startDomain(ctx context.Context, r *ops.Run) error {
	name := DomainName(r.Op().VMID)
	// A host crash can lose a definition libvirt had acknowledged (the lab
	// showed libxl's config file gone after a reset), and with it a seed
	// not yet on disk: make both again rather than fail the resumed step.
	if _, err := s.ensureDomain(ctx, r); err != nil {
		return err
	}
	if err := s.hv.Start(ctx, name); err != nil {
		return err
	}
	_, err := s.hv.WaitFor(ctx, name, func(st host.State) bool { return st.Running })
	return err
}

// finishWithState is the last step of a power operation: the VM's
// record says the state the operation brought it to.
func (s *Workflows) finishWithState(state string) func(ctx context.Context, r *ops.Run) error {
	return func(ctx context.Context, r *ops.Run) error {
		return r.Update(func(tx *store.Tx, op *store.Operation) error {
			fresh, err := freshStarted(*op)
			if err != nil {
				return err
			}
			v, ok := RecordVMState(tx, op.VMID, state, fresh)
			if !ok {
				return fmt.Errorf("vm %d has no record", op.VMID)
			}
			if state == store.VMRunning {
				for _, id := range v.IfaceIDs {
					if i, ok := tx.Iface(id); ok && i.State != store.IfaceUsed {
						i.State = store.IfaceUsed
						tx.PutIface(i)
					}
				}
			}
			return nil
		})
	}
}

// freshStarted reports whether the operation started the domain afresh
// from its definition, which applied every pending change.
func freshStarted(op store.Operation) (bool, error) {
	switch op.Type {
	case "vm_create":
		return true, nil
	case "vm_start":
		p, err := ops.ProgressOf[StartProgress](op)
		return p.FreshStart, err
	case "vm_reboot", "disk_update":
		p, err := ops.ProgressOf[RebootProgress](op)
		return p.FreshStart, err
	}
	return false, nil
}

// madeForVM returns what the call that created a VM made for it: the
// disk and iface of the operations vm_create follows (vm.create_from's
// disk_create, and the iface_create of a VM not given an iface). A disk
// or iface the caller named is not among them.
func madeForVM(tx *store.Tx, op store.Operation) (disks, ifaces []int64) {
	for _, dep := range op.After {
		d, ok := tx.Operation(dep)
		if !ok || d.VMID != 0 && d.VMID != op.VMID {
			continue
		}
		switch d.Type {
		case "disk_create":
			disks = append(disks, d.DiskID)
		case "iface_create":
			ifaces = append(ifaces, d.IfaceID)
		}
	}
	return disks, ifaces
}

// abandonVM forgets a VM whose creation failed or was cancelled, and what
// the same call made for it: the disk, once its volume is deleted (a
// creation cancelled before it ran leaves it detached, in the account's
// list), and the iface, whose addresses go back to the account's
// released list. A disk or iface the caller named is detached and kept.
func (s *Workflows) abandonVM(tx *store.Tx, op store.Operation) {
	disks, ifaces := madeForVM(tx, op)
	p, err := ops.ProgressOf[VMCreateProgress](op)
	if err != nil {
		// Kept, as when their volumes were not deleted: a disk record
		// too many is seen and deleted, a volume without one is not.
		s.log.Error("abandoning a vm: keeping the disks made for it", "op_id", op.ID, "err", err)
	}
	for _, id := range disks {
		if d, ok := tx.Disk(id); ok && p.MadeVolumesDeleted && (d.VMID == 0 || d.VMID == op.VMID) {
			tx.DeleteDisk(id)
		}
	}
	for _, id := range ifaces {
		if i, ok := tx.Iface(id); ok && i.State != store.IfaceBeingCreated && (i.VMID == 0 || i.VMID == op.VMID) {
			ipam.Release(tx, i)
			tx.DeleteIface(id)
		}
	}
	v, ok := tx.VM(op.VMID)
	if !ok {
		return
	}
	for _, id := range v.DiskIDs {
		if d, ok := tx.Disk(id); ok && d.VMID == v.ID {
			d.VMID = 0
			tx.PutDisk(d)
		}
	}
	for _, id := range v.IfaceIDs {
		if i, ok := tx.Iface(id); ok && i.VMID == v.ID {
			i.VMID = 0
			if i.State == store.IfaceUsed {
				i.State = store.IfaceFree
			}
			tx.PutIface(i)
		}
	}
	tx.DeleteVM(v.ID)
}

// forgetVM drops the VM, its system disk and first iface, and frees the rest.
func (s *Workflows) forgetVM(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return nil
		}
		for i, id := range v.DiskIDs {
			d, ok := tx.Disk(id)
			if !ok {
				continue
			}
			if i == 0 {
				tx.DeleteDisk(id)
				continue
			}
			d.VMID, d.DateUpdated = 0, now()
			tx.PutDisk(d)
		}
		for n, id := range v.IfaceIDs {
			i, ok := tx.Iface(id)
			if !ok {
				continue
			}
			if n == 0 {
				ipam.Release(tx, i)
				tx.DeleteIface(id)
				continue
			}
			i.VMID, i.State, i.DateUpdated = 0, store.IfaceFree, now()
			tx.PutIface(i)
		}
		tx.DeleteVM(v.ID)
		return nil
	})
}

func (s *Workflows) IsRunning(ctx context.Context, name string) (bool, error) {
	st, err := s.hv.State(ctx, name)
	return st.Running, err
}

// vmRunning is isRunning for a step that changes the VM's domain: a lost
// definition is made again first, so the change lands on a domain.
func (s *Workflows) vmRunning(ctx context.Context, r *ops.Run) (bool, error) {
	st, err := s.ensureDomain(ctx, r)
	return st.Running, err
}

// StartProgress is vm_start's: whether it found the domain down, so that
// its start was a fresh one from the definition. A running domain is
// left as it is and a paused one only resumed: neither applies a change
// waiting for a fresh start (RestartPending), which then still waits.
type StartProgress struct {
	FreshStart bool `json:"fresh_start,omitempty"`
}

// startFresh is startDomain for vm_start, journalling first whether the
// start is a fresh one (a resumed step finds it journalled).
func (s *Workflows) startFresh(ctx context.Context, r *ops.Run) error {
	st, err := s.hv.State(ctx, DomainName(r.Op().VMID))
	if err != nil {
		return err
	}
	if p, err := ops.Progress[StartProgress](r); err != nil {
		return err
	} else if !st.Running && !p.FreshStart {
		if err := ops.SetProgress(r, StartProgress{FreshStart: true}); err != nil {
			return err
		}
	}
	return s.startDomain(ctx, r)
}

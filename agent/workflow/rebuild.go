package workflow

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// A rebuild reinstalls a VM's system disk from an image (or another disk
// of the account), as vm_rebuild in hosting.vm.rebuild's chain: vm_stop
// if the VM runs, disk_detach of the system disk, vm_rebuild, disk_attach
// of the new disk at position 0 (which puts the old one back if the
// rebuild failed) and vm_start. vm_rebuild is disk_rollback's twin with a
// seed step: the new disk is the operation's, the old one is in state
// rollback while it runs, and it is deleted at the end.
//
// The seed: a VM with a first-boot record gets a new seed under the next
// instance-id (SeedGen+1), so cloud-init on the new system applies the
// hostname, addresses, users, keys and run command again. The seed file
// is written before the swap and the swap's record write bumps SeedGen, so
// the record never names a seed that is not there; if the rebuild fails
// before the swap, the seed step's Undo writes the seed the record names
// again, and the old system does not see a new instance.

// VMRebuild is vm_rebuild's input: the system disk the new one (the
// operation's disk, cloned from Source) replaces.
type VMRebuild struct {
	OldDiskID int64 `json:"old_disk_id"`
	Source    int64 `json:"source"`
}

func (s *Workflows) registerRebuild() {
	s.eng.Register("vm_rebuild", ops.Workflow{
		Steps: []ops.Step{
			{Name: "clone", Do: s.cloneRebuildSource, Undo: s.undoVolume},
			{Name: "seed", Do: s.writeRebuildSeed, Undo: s.rewriteCurrentSeed},
			{Name: "swap", Do: swapRebuilt, Atomic: true, NoReturn: true},
			{Name: "delete_old_volume", Do: s.deleteReplacedVolume},
			{Name: "forget_old", Do: forgetReplacedDisk, Atomic: true},
		},
		Abandon: s.abandonRebuild,
	})
}

func rebuildInput(op store.Operation) (VMRebuild, error) {
	return ops.InputOf[VMRebuild](op)
}

// cloneRebuildSource makes the new system disk's volume from the source.
func (s *Workflows) cloneRebuildSource(ctx context.Context, r *ops.Run) error {
	// The swap cannot be undone and reads the input: one that does not
	// decode must fail here, where the rebuild still can.
	if _, err := ops.Input[VMRebuild](r); err != nil {
		return err
	}
	return s.createVolume(ctx, r)
}

// rebuildSeed is a seed of the VM's first-boot record, under the
// instance-id of generation gen(SeedGen). has is false for a VM
// created without one (it boots the new system without a seed, as it
// booted the first) or on a host that keeps no seeds.
func (s *Workflows) rebuildSeed(vmID int64, gen func(int64) int64) (spec host.SeedSpec, has bool, err error) {
	if s.cfg.Seeds == nil {
		return spec, false, nil
	}
	s.st.View(func(tx *store.Tx) {
		v, ok := tx.VM(vmID)
		if !ok {
			err = fmt.Errorf("vm %d has no record", vmID)
			return
		}
		if v.Provision == nil {
			return
		}
		if g := gen(v.SeedGen); g != v.SeedGen {
			// The new system boots for the first time.
			v.SeedGen, v.SeedAgain = g, false
		}
		spec, has = s.seedSpec(tx, v), true
	})
	return spec, has, err
}

// writeRebuildSeed writes the next seed. The VM's key is held from
// submission to the swap, so SeedGen+1 read here is the one the swap
// records, however often the step runs.
func (s *Workflows) writeRebuildSeed(ctx context.Context, r *ops.Run) error {
	spec, has, err := s.rebuildSeed(r.Op().VMID, func(g int64) int64 { return g + 1 })
	if err != nil || !has {
		return err
	}
	return s.cfg.Seeds.Write(ctx, r.Op().VMID, spec)
}

// rewriteCurrentSeed puts back the seed the VM's record names (the swap
// did not happen, so SeedGen is the old one).
func (s *Workflows) rewriteCurrentSeed(ctx context.Context, r *ops.Run) error {
	spec, has, err := s.rebuildSeed(r.Op().VMID, func(g int64) int64 { return g })
	if err != nil || !has {
		return err
	}
	return s.cfg.Seeds.Write(ctx, r.Op().VMID, spec)
}

// swapRebuilt makes the new disk the one the VM gets: created, owner of
// the old disk's snapshots (a vm.disk_rollback can still return to the
// system before the rebuild), the old one on its way out, and the VM's
// seed generation the one written.
func swapRebuilt(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		in, err := rebuildInput(*op)
		if err != nil {
			return err
		}
		if err := swapDisk(tx, op.DiskID, in.OldDiskID); err != nil {
			return err
		}
		if v, ok := tx.VM(op.VMID); ok {
			v.SeedGen++
			v.SeedAgain, v.SeedUnbooted = false, true
			v.DateUpdated = now()
			tx.PutVM(v)
		}
		return nil
	})
}

func (s *Workflows) deleteReplacedVolume(ctx context.Context, r *ops.Run) error {
	in, err := rebuildInput(r.Op())
	if err != nil {
		return err
	}
	if old, ok := s.diskOf(in.OldDiskID); ok {
		return s.notOurs(r.Op().ID, s.vols.Delete(ctx, old.Volume, s.ownMark(0)), old.Volume)
	}
	return nil
}

func forgetReplacedDisk(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		in, err := rebuildInput(*op)
		if err == nil {
			tx.DeleteDisk(in.OldDiskID)
		}
		return err
	})
}

// abandonRebuild forgets the new disk and gives the old one back its
// state; the chain's disk_attach (Recover) attaches it again.
func (s *Workflows) abandonRebuild(tx *store.Tx, op store.Operation) {
	if d, ok := tx.Disk(op.DiskID); ok && d.State == store.DiskBeingCreated {
		tx.DeleteDisk(d.ID)
	}
	in, err := rebuildInput(op)
	if err != nil {
		s.log.Error("abandoning a rebuild: the old system disk is unknown", "op_id", op.ID, "err", err)
		return
	}
	if old, ok := tx.Disk(in.OldDiskID); ok && old.State == store.DiskRollback {
		old.State, old.DateUpdated = store.DiskCreated, now()
		tx.PutDisk(old)
	}
}

package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// New credentials on an existing VM (vm.update's password and ssh_key,
// Service.ResetPassword) reach the guest through a new first-boot seed:
// vm_update's "seed" step writes it under the next instance-id (the
// generation journalled in the operation's progress before the write),
// and the "apply" step's record write moves the credentials to the VM
// and makes that generation current (VM.SeedGen) and the VM's next boot
// a fresh start (RestartPending), in one transaction. cloud-init sees
// the new instance-id at that boot and applies the seed again (see
// storage/nocloud's again.go for what a later seed does and keeps).
//
// A fresh start, not a reboot, because a running QEMU keeps the seed it
// opened: the new one replaces the file, not what the process reads.
// A rollback before the record write rewrites the seed from the record.

// ErrNoSeeds is new credentials asked of an agent that writes no seeds.
var ErrNoSeeds = errors.New("this agent writes no first-boot seeds (no seed directory configured)")

// HasSeeds reports whether this agent writes first-boot seeds, without
// which new credentials cannot reach a guest.
func (s *Workflows) HasSeeds() bool { return s.cfg.Seeds != nil }

// withCredentials is v as it will be once op's credentials are applied:
// the password hash (a secret of the operation until then) and the key
// added to the ones the guest authorizes.
func withCredentials(v store.VM, op store.Operation, in VMUpdate) store.VM {
	hash, setPW := op.Secrets["password_hash"]
	key := ""
	if in.SSHKey != nil {
		key = *in.SSHKey
	}
	if !setPW && key == "" {
		return v
	}
	p := store.Provision{}
	if v.Provision != nil {
		p = *v.Provision
		p.AuthorizedKeys = slices.Clone(p.AuthorizedKeys)
	}
	if setPW {
		p.Password = hash
	}
	if key != "" {
		p.SSHKey = key
		if !slices.Contains(p.AuthorizedKeys, key) {
			p.AuthorizedKeys = append(p.AuthorizedKeys, key)
		}
	}
	v.Provision = &p
	return v
}

// changesCredentials reports whether op brings credentials for the guest.
func changesCredentials(op store.Operation, in VMUpdate) bool {
	_, setPW := op.Secrets["password_hash"]
	return setPW || in.SSHKey != nil && *in.SSHKey != ""
}

// writeCredentialSeed is vm_update's "seed" step: nothing without new
// credentials, else the seed of the VM as the update will make it, under
// the next generation's instance-id.
func (s *Workflows) writeCredentialSeed(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[VMUpdate](r)
	if err != nil {
		return err
	}
	if !changesCredentials(r.Op(), in) {
		return nil
	}
	if s.cfg.Seeds == nil {
		return ErrNoSeeds
	}
	var spec host.SeedSpec
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		p, err := ops.ProgressOf[VMUpdateProgress](*op)
		if err != nil {
			return err
		}
		if p.SeedGen == 0 {
			// Journal the generation before the seed exists: a resumed
			// step writes the same one, never one more.
			p.SeedGen = v.SeedGen + 1
			if err := ops.PutProgress(op, p); err != nil {
				return err
			}
		}
		v = withCredentials(v, *op, in)
		// A rebuilt system not booted yet still gets a first boot's seed.
		v.SeedGen, v.SeedAgain = p.SeedGen, !v.SeedUnbooted
		spec = s.seedSpec(tx, v)
		return nil
	})
	if err != nil {
		return err
	}
	return s.cfg.Seeds.Write(ctx, r.Op().VMID, spec)
}

// restoreSeed undoes writeCredentialSeed: the seed is the record's again
// (none when the record has nothing for a guest to apply). Nothing was
// written before the generation was journalled, and once the record took
// that generation the seed is already the record's.
func (s *Workflows) restoreSeed(ctx context.Context, r *ops.Run) error {
	p, err := ops.Progress[VMUpdateProgress](r)
	if err != nil || s.cfg.Seeds == nil || p.SeedGen == 0 {
		return err
	}
	v, err := s.vmOf(r)
	if err != nil || v.SeedGen >= p.SeedGen {
		return err
	}
	if v.Provision == nil {
		return s.cfg.Seeds.Remove(ctx, v.ID)
	}
	var spec host.SeedSpec
	// The record says which kind the current seed is (SeedAgain): a
	// rebuild's first boot, not yet booted, keeps its run command.
	s.st.View(func(tx *store.Tx) { spec = s.seedSpec(tx, v) })
	return s.cfg.Seeds.Write(ctx, v.ID, spec)
}

// commitCredentials is the part of vm_update's record write that applies
// its credentials to v: the password hash moves from the operation to
// the VM (a re-run finds it gone and the VM already holds it), the key
// joins the authorized ones, and the generation the seed step wrote
// becomes current, for the next fresh start.
func commitCredentials(v *store.VM, op *store.Operation, in VMUpdate, seedGen int64) {
	nv := withCredentials(*v, *op, in)
	delete(op.Secrets, "password_hash")
	if seedGen > nv.SeedGen {
		nv.SeedGen, nv.SeedAgain, nv.RestartPending = seedGen, !nv.SeedUnbooted, true
	}
	*v = nv
}

package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// A VM's CD-ROM: the operator registers ISO images (EnsureISO, from the
// configuration); a VM has at most one attached, read-only, and boots
// from it or from its system disk (store.VM.ISOID, BootType). Three
// operations change that, each in two steps:
//
//	record  the VM's record (Atomic), what it was kept in the progress,
//	        so that the Undo puts it back
//	define  the domain's definition rendered again from the records
//
// A running domain keeps what it was started with: the change takes
// effect at its next boot, which the record's RestartPending makes a
// fresh start (vm.reboot stops and starts it). Every start defines the
// domain from the records first, so a crash between the steps loses
// nothing either way.

// The operation types.
const (
	OpISOAttach = "vm_iso_attach"
	OpISODetach = "vm_iso_detach"
	OpBootType  = "vm_boot_type"
)

// ISOChange is the input of the three operations: the ISO to attach
// (vm_iso_attach) or the boot type to set (vm_boot_type, "" the default:
// the system disk); vm_iso_detach has none, and sets the boot type back
// to the default too, since there is nothing left to boot from.
type ISOChange struct {
	ISOID    int64  `json:"iso_id,omitempty"`
	BootType string `json:"boot_type,omitempty"`
}

// ISOProgress keeps what the record step replaced, for its Undo.
type ISOProgress struct {
	Saved    bool   `json:"saved,omitempty"`
	ISOID    int64  `json:"iso_id,omitempty"`
	BootType string `json:"boot_type,omitempty"`
}

func (s *Workflows) registerISO() {
	for _, typ := range []string{OpISOAttach, OpISODetach, OpBootType} {
		s.eng.Register(typ, ops.Workflow{Steps: []ops.Step{
			{Name: "record", Do: s.recordISOChange, Undo: undoISOChange, Atomic: true},
			{Name: "define", Do: s.defineDomain},
		}})
	}
}

// recordISOChange writes the change to the VM's record, keeping what it
// replaces in the same write.
func (s *Workflows) recordISOChange(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[ISOChange](r)
	if err != nil {
		return err
	}
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		if err := ops.PutProgress(op, ISOProgress{Saved: true, ISOID: v.ISOID, BootType: v.BootType}); err != nil {
			return err
		}
		switch op.Type {
		case OpISOAttach:
			if _, ok := tx.ISO(in.ISOID); !ok {
				return fmt.Errorf("iso %d has no record", in.ISOID)
			}
			// Checked at submission; an attach queued before this one
			// may have attached another since, which stays.
			if v.ISOID != 0 && v.ISOID != in.ISOID {
				return fmt.Errorf("iso_id: vm %d has iso %d attached (since the call); a VM has one CD-ROM: detach it first", v.ID, v.ISOID)
			}
			v.ISOID = in.ISOID
		case OpISODetach:
			v.ISOID, v.BootType = 0, ""
		case OpBootType:
			// Checked at submission; an operation queued before this one
			// may have detached the ISO since.
			if in.BootType == store.BootCDROM && v.ISOID == 0 {
				return fmt.Errorf("boot_type: vm %d has no ISO attached to boot from (detached since the call)", v.ID)
			}
			v.BootType = in.BootType
		default:
			return fmt.Errorf("operation type %q changes no CD-ROM", op.Type)
		}
		if running {
			v.RestartPending = true
		}
		v.DateUpdated = now()
		tx.PutVM(v)
		return nil
	})
}

// undoISOChange puts back what the record step replaced, if it ran.
func undoISOChange(ctx context.Context, r *ops.Run) error {
	p, err := ops.Progress[ISOProgress](r)
	if err != nil || !p.Saved {
		return err
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		if v, ok := tx.VM(op.VMID); ok {
			v.ISOID, v.BootType, v.DateUpdated = p.ISOID, p.BootType, now()
			tx.PutVM(v)
		}
		return nil
	})
}

// cdromSpec adds the VM's CD-ROM, and booting from it, to its domain.
func cdromSpec(tx *store.Tx, v store.VM, spec *host.DomainSpec) {
	if v.ISOID == 0 {
		return
	}
	if iso, ok := tx.ISO(v.ISOID); ok {
		spec.CDROM = iso.Path
		spec.BootCDROM = v.BootType == store.BootCDROM
	}
}

// ISOSpec is an ISO image the operator registers from configuration.
type ISOSpec struct {
	Label, File string
}

// ErrNotISO is a registered file that is no ISO 9660 image.
var ErrNotISO = errors.New("not an ISO 9660 image (no CD001 at offset 32769)")

// EnsureISO registers an ISO once, by label: its record names the file,
// used in place. A label registered before with another file (the
// operator moved it) gets the new one; VMs that have it attached see it
// at their next boot.
func (s *Workflows) EnsureISO(ctx context.Context, spec ISOSpec) error {
	size, err := checkISO(spec.File)
	if err != nil {
		return fmt.Errorf("iso %q: %w", spec.Label, err)
	}
	return s.st.Update(func(tx *store.Tx) error {
		var found *store.ISO
		tx.EachISO(func(i *store.ISO) bool {
			if i.Label == spec.Label {
				c := *i
				found = &c
			}
			return found == nil
		})
		t := now()
		if found == nil {
			tx.PutISO(store.ISO{ID: tx.NextID("iso", func(n int64) bool { _, ok := tx.ISO(n); return ok }),
				Label: spec.Label, Path: spec.File, SizeMB: size, DatacenterID: s.cfg.DatacenterID, DateCreated: t, DateUpdated: t})
			return nil
		}
		if found.Path != spec.File || found.SizeMB != size {
			found.Path, found.SizeMB, found.DateUpdated = spec.File, size, t
			tx.PutISO(*found)
		}
		return nil
	})
}

// checkISO reads the ISO 9660 volume descriptor's mark and returns the
// file's size in MB, rounded up.
func checkISO(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a regular file", path)
	}
	mark := make([]byte, 5)
	if _, err := f.ReadAt(mark, 0x8001); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if !bytes.Equal(mark, []byte("CD001")) {
		return 0, fmt.Errorf("%s: %w", path, ErrNotISO)
	}
	return (fi.Size() + 1<<20 - 1) >> 20, nil
}

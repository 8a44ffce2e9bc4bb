package service

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// A VM's CD-ROM: ISO images the operator registered (configuration
// [[isos]]) are everyone's to list; one at a time is attached to a VM,
// read-only, and the VM boots from it (boot type "cdrom") or from its
// system disk ("default"). Detaching the ISO sets the boot type back to
// "default". A change reaches the domain's definition at once and the
// guest at its next boot (the operation's param effective=next_boot;
// vm.reboot then stops and starts the VM). Only HVM and QEMU domains
// have a CD-ROM: on a Xen PV host every call is refused.

// Boot types, as the Gigas document names them.
const (
	BootDefault = "default"
	BootCDROM   = store.BootCDROM
)

// ISO is a registered ISO image, as a client sees it.
type ISO struct {
	ID, DatacenterID, SizeMB int64
	Label                    string
	DateCreated, DateUpdated time.Time
}

// ISOFilter selects ISOs: each list, when not empty, must hold the value.
type ISOFilter struct {
	IDs    []int64
	Labels []string
}

// ISOs lists the registered ISOs that match f, by id. They are everyone's,
// as images are; where each file lies on the host is not said.
func (s *Service) ISOs(f ISOFilter) []ISO {
	out := []ISO{}
	s.st.View(func(tx *store.Tx) {
		tx.EachISO(func(i *store.ISO) bool {
			if (len(f.IDs) == 0 || slices.Contains(f.IDs, i.ID)) && (len(f.Labels) == 0 || slices.Contains(f.Labels, i.Label)) {
				out = append(out, ISO{ID: i.ID, DatacenterID: i.DatacenterID, SizeMB: i.SizeMB, Label: i.Label,
					DateCreated: i.DateCreated, DateUpdated: i.DateUpdated})
			}
			return true
		})
	})
	slices.SortFunc(out, func(a, b ISO) int { return int(a.ID - b.ID) })
	return out
}

// ISOAttach asks to attach a registered ISO to a VM as its CD-ROM.
type ISOAttach struct {
	VMID, ISOID int64
	Options     CallOptions
}

// ISODetach asks to detach a VM's ISO.
type ISODetach struct {
	VMID    int64
	Options CallOptions
}

// BootTypeChange asks a VM to boot from its CD-ROM ("cdrom") or from its
// system disk ("default") from its next boot on.
type BootTypeChange struct {
	VMID     int64
	BootType string
	Options  CallOptions
}

// AttachISO attaches a registered ISO to one of the caller's VMs; one that
// has an ISO already must detach it first.
func (s *Service) AttachISO(ctx context.Context, c *Caller, req ISOAttach) (Operation, error) {
	if req.ISOID <= 0 {
		return Operation{}, Invalid(ObjVM, "iso_id", "must be a positive id")
	}
	isoID := req.ISOID
	return s.isoOp(c, req.Options, req.VMID, "iso_id", func(tx *store.Tx, v store.VM) (opSpec, error) {
		if _, ok := tx.ISO(isoID); !ok {
			return opSpec{}, Errorf(ObjVM, KindNotFound, "iso_id: iso %d does not exist (hosting.iso.list lists them)", isoID)
		}
		if v.ISOID != 0 {
			return opSpec{}, Errorf(ObjVM, KindConflict, "iso_id: vm %d has iso %d attached; a VM has one CD-ROM: detach it first", v.ID, v.ISOID)
		}
		return isoSpec(workflow.OpISOAttach, v.ID, workflow.ISOChange{ISOID: isoID},
			map[string]string{"iso_id": strconv.FormatInt(isoID, 10)}), nil
	})
}

// DetachISO detaches the ISO of one of the caller's VMs; the VM boots from
// its system disk again.
func (s *Service) DetachISO(ctx context.Context, c *Caller, req ISODetach) (Operation, error) {
	return s.isoOp(c, req.Options, req.VMID, "vm_id", func(tx *store.Tx, v store.VM) (opSpec, error) {
		if v.ISOID == 0 {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d has no ISO attached", v.ID)
		}
		return isoSpec(workflow.OpISODetach, v.ID, workflow.ISOChange{},
			map[string]string{"iso_id": strconv.FormatInt(v.ISOID, 10), "boot_type": BootDefault}), nil
	})
}

// SetBootType makes one of the caller's VMs boot from its CD-ROM or from
// its system disk; "cdrom" needs an ISO attached.
func (s *Service) SetBootType(ctx context.Context, c *Caller, req BootTypeChange) (Operation, error) {
	bt := req.BootType
	if bt != BootDefault && bt != BootCDROM {
		return Operation{}, Invalid(ObjVM, "boot_type", "must be %s or %s, got %q", BootDefault, BootCDROM, bt)
	}
	return s.isoOp(c, req.Options, req.VMID, "boot_type", func(tx *store.Tx, v store.VM) (opSpec, error) {
		if bt == BootCDROM && v.ISOID == 0 {
			return opSpec{}, Errorf(ObjVM, KindConflict, "boot_type: vm %d has no ISO attached to boot from; hosting.vm.iso_attach one first", v.ID)
		}
		in := workflow.ISOChange{}
		if bt == BootCDROM {
			in.BootType = store.BootCDROM
		}
		return isoSpec(workflow.OpBootType, v.ID, in, map[string]string{"boot_type": bt}), nil
	})
}

// isoOp submits a CD-ROM operation on one of the caller's VMs, refused on a
// host whose domains have no CD-ROM (Xen PV) and on a locked VM.
func (s *Service) isoOp(c *Caller, opts CallOptions, vmID int64, field string, reserve func(tx *store.Tx, v store.VM) (opSpec, error)) (Operation, error) {
	if s.cfg.NoCDROM {
		return Operation{}, Errorf(ObjVM, KindConflict, "%s: this host runs Xen PV domains, which have no CD-ROM and boot their kernel directly; ISOs need an HVM or QEMU host", field)
	}
	o, err := s.checkOptions(c, opts, ObjVM)
	if err != nil {
		return Operation{}, err
	}
	return s.vmDeviceOp(c, o, vmID, func(tx *store.Tx, v store.VM) (opSpec, error) {
		if v.State == store.VMLocked {
			return opSpec{}, Errorf(ObjVM, KindConflict, "vm_id: vm %d is locked", v.ID)
		}
		return reserve(tx, v)
	})
}

func isoSpec(typ string, vmID int64, in workflow.ISOChange, params map[string]string) opSpec {
	params["effective"] = "next_boot"
	return opSpec{typ: typ, vmID: vmID, keys: []string{workflow.VMKey(vmID)}, eta: 5, params: params, input: in}
}

// bootTypeOf is a VM's boot type as a client sees it.
func bootTypeOf(v store.VM) string {
	if v.BootType == store.BootCDROM && v.ISOID != 0 {
		return BootCDROM
	}
	return BootDefault
}

package gigas

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
)

// PUT /account/{account_id}/virtual_machine/{virtual_machine_id} is three
// calls in the document, told apart by their fields: template_id is a
// rebuild (with required_startup), status a power change (with force),
// anything else an edit. Mixing them is refused, naming the field.

var (
	rebuildFields = []string{"template_id", "required_startup"}
	statusFields  = []string{"status", "force"}
)

func (s *Server) putVM(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	set := b.set()
	switch {
	case len(set) == 0:
		return 0, nil, &apiError{Status: http.StatusBadRequest, Code: CodeMissing, Msg: "body: nothing to change (give template_id, status, or the fields to edit)"}
	case b.has("template_id"):
		if err := only(set, "template_id", rebuildFields); err != nil {
			return 0, nil, err
		}
		return s.rebuild(ctx, k, id, b)
	case b.has("status"):
		if err := only(set, "status", statusFields); err != nil {
			return 0, nil, err
		}
		return s.power(ctx, k, id, b)
	}
	return s.edit(ctx, k, id, b)
}

// only refuses fields outside allowed in a call that key decides.
func only(set []string, key string, allowed []string) error {
	for _, f := range set {
		if !slices.Contains(allowed, f) {
			return invalid(f, "cannot be given with "+key+" (that call takes only "+strings.Join(allowed, ", ")+")")
		}
	}
	return nil
}

func (s *Server) rebuild(ctx context.Context, k *call, id int64, b *body) (int, any, error) {
	tid, err := b.int("template_id")
	if err != nil {
		return 0, nil, err
	}
	img, err := s.image("template_id", *tid)
	if err != nil {
		return 0, nil, err
	}
	start, err := b.bool("required_startup")
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	ops, err := s.svc.RebuildVM(ctx, k.c, id, service.RebuildRequest{SourceDiskID: img.DiskID, StartAfter: start, SourceField: "template_id", Options: k.opts(0)})
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return accepted(k, ops, nil)
}

func (s *Server) power(ctx context.Context, k *call, id int64, b *body) (int, any, error) {
	status, err := b.str("status")
	if err != nil {
		return 0, nil, err
	}
	force, err := b.bool("force")
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	forced := force != nil && *force
	var op service.Operation
	switch *status {
	case "online":
		if forced {
			return 0, nil, invalid("force", "applies to status offline only")
		}
		op, err = s.svc.StartVM(ctx, k.c, id, k.opts(0))
	case "offline":
		do := s.svc.StopVM
		if forced {
			do = s.svc.ForceStopVM
		}
		op, err = do(ctx, k.c, id, k.opts(0))
	default:
		return 0, nil, invalid("status", "must be online or offline, got "+*status)
	}
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return accepted(k, []service.Operation{op}, nil)
}

// edit applies the document's editable fields: memory, cpus, label,
// note, cpu_shares and the console extension (one vm_update), primary_disk_size (a growth of the
// system disk), boot_type and rate_limit (of the VM's first interface).
// Every field is checked before anything is submitted; the service then
// checks each change in its own transaction, so one refused after
// another was accepted leaves the accepted one running (listed in the
// error's message).
func (s *Server) edit(ctx context.Context, k *call, id int64, b *body) (int, any, error) {
	b.ignore("max_memory", "noreboot") // deprecated; the agent never reboots on its own
	if err := notHere(b, "cpu_type", "the host's CPU is what the guest sees; it cannot be chosen"); err != nil {
		return 0, nil, err
	}
	info, err := s.svc.VM(k.c, id)
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	upd, err := vmUpdateOf(b, info)
	if err != nil {
		return 0, nil, err
	}
	size, err := b.int("primary_disk_size")
	if err != nil {
		return 0, nil, err
	}
	var sizeMB *int64
	if size != nil {
		mb, err := gbToMB("primary_disk_size", *size)
		if err != nil {
			return 0, nil, err
		}
		if len(info.Disks) == 0 {
			return 0, nil, &apiError{Status: http.StatusConflict, Code: CodeConflict, Msg: "primary_disk_size: the VM has no primary disk"}
		}
		sizeMB = &mb
	}
	boot, err := b.str("boot_type")
	if err != nil {
		return 0, nil, err
	}
	if boot != nil && *boot != service.BootDefault && *boot != service.BootCDROM {
		return 0, nil, invalid("boot_type", "must be default or cdrom, got "+*boot)
	}
	bw, err := rateLimit(b)
	if err != nil {
		return 0, nil, err
	}
	if bw != nil && len(info.Ifaces) == 0 {
		return 0, nil, &apiError{Status: http.StatusConflict, Code: CodeConflict, Msg: "rate_limit: the VM has no network interface"}
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	var ops []service.Operation
	step := func(op service.Operation, err error) error {
		if err != nil {
			e := asError(err, vmRename)
			if len(ops) > 0 {
				e.Msg += " (accepted before it: " + done(ops) + ")"
			}
			return e
		}
		ops = append(ops, op)
		return nil
	}
	if upd.Memory != nil || upd.Cores != nil || upd.Label != nil || upd.Note != nil || upd.CPUShares != nil || upd.Console != nil || upd.Hostname != nil {
		upd.Options = k.opts(len(ops))
		if err := step(s.svc.UpdateVM(ctx, k.c, id, upd)); err != nil {
			return 0, nil, err
		}
	}
	if sizeMB != nil {
		if err := step(s.svc.UpdateDisk(ctx, k.c, info.Disks[0].ID, service.DiskUpdate{SizeMB: sizeMB, Options: k.opts(len(ops))})); err != nil {
			return 0, nil, err
		}
	}
	if boot != nil {
		if err := step(s.svc.SetBootType(ctx, k.c, service.BootTypeChange{VMID: id, BootType: *boot, Options: k.opts(len(ops))})); err != nil {
			return 0, nil, err
		}
	}
	if bw != nil {
		if err := step(s.svc.UpdateIface(ctx, k.c, service.IfaceUpdate{ID: info.Ifaces[0].ID, Bandwidth: bw, Options: k.opts(len(ops))})); err != nil {
			return 0, nil, err
		}
	}
	return accepted(k, ops, nil)
}

// vmUpdateOf reads the edit's fields that go into one vm_update.
func vmUpdateOf(b *body, info service.VMInfo) (upd service.VMUpdate, err error) {
	if upd.Memory, err = b.int("memory"); err != nil {
		return upd, err
	}
	if upd.Memory != nil && *upd.Memory > info.MaxMemory {
		// The document has one memory: above the VM's ceiling, raise it
		// too (at the next reboot, which the document warns of).
		upd.MaxMemory = upd.Memory
	}
	if upd.Cores, err = b.int("cpus"); err != nil {
		return upd, err
	}
	if upd.Label, err = b.str("label"); err != nil {
		return upd, err
	}
	// Informative, says the document: the record's name, which the guest
	// gets only from a seed written later (new credentials, a rebuild).
	if upd.Hostname, err = b.str("hostname"); err != nil {
		return upd, err
	}
	if upd.Hostname != nil {
		if err := service.GigasHostname(*upd.Hostname); err != nil {
			return upd, svcErr(err, nil)
		}
	}
	if upd.Note, err = b.str("note"); err != nil {
		return upd, err
	}
	if upd.CPUShares, err = b.int("cpu_shares"); err != nil {
		return upd, err
	}
	// An extension, as the Gandi face's hosting.vm.update {"console":
	// ...}: false turns the console off and revokes its links;
	// remote_console turns it on by itself.
	if upd.Console, err = b.bool("console"); err != nil {
		return upd, err
	}
	return upd, nil
}

func done(ops []service.Operation) string {
	list := make([]string, len(ops))
	for i, o := range ops {
		list[i] = "operation " + strconv.FormatInt(o.ID, 10) + " " + o.Type
	}
	return strings.Join(list, ", ")
}

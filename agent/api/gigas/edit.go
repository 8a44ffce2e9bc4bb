package gigas

import (
	"context"
	"fmt"
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
	if *status == "offline" {
		// Offline already, with nothing running or queued on it: the
		// document's wish holds, and a vm_stop would only take the VM's
		// turn to say DONE. 200 with the VM, as a read answers, says
		// so; a VM with work under way (locked) gets its vm_stop queued
		// after it.
		if v, err := s.view(k, id); err != nil {
			return 0, nil, err
		} else if st, _ := statusOf(v.vm.PowerState); st == "offline" && !v.locked {
			return http.StatusOK, vmResource(v), nil
		}
	}
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
	if same, ok := unchanged(info, upd, sizeMB, boot, bw); ok {
		// As the service refuses a vm_update that changes nothing (the
		// Gandi faces' fault): an operation would only take the VM's
		// turn to say DONE.
		return 0, nil, &apiError{Status: http.StatusBadRequest, Code: CodeMissing,
			Msg: "body: nothing to change: " + strings.Join(same, "; ")}
	}
	vmFields := upd.Memory != nil || upd.Cores != nil || upd.Label != nil || upd.Note != nil || upd.CPUShares != nil || upd.Console != nil || upd.Hostname != nil
	steps := 0
	for _, given := range []bool{vmFields, sizeMB != nil, boot != nil, bw != nil} {
		if given {
			steps++
		}
	}
	k.plan(steps)
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
	if vmFields {
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

// unchanged says whether an edit changes nothing, and why: each field
// given holds the VM's value already, or is one the face ignores.
func unchanged(info service.VMInfo, upd service.VMUpdate, sizeMB *int64, boot *string, bw *float64) ([]string, bool) {
	var same []string
	changes := false
	eq := func(field string, given bool, equal bool, now any) {
		switch {
		case !given:
		case equal:
			same = append(same, fmt.Sprintf("%s is %v already", field, now))
		default:
			changes = true
		}
	}
	eq("memory", upd.Memory != nil, upd.Memory != nil && *upd.Memory == info.Memory, info.Memory)
	eq("cpus", upd.Cores != nil, upd.Cores != nil && *upd.Cores == info.Cores, info.Cores)
	eq("label", upd.Label != nil, upd.Label != nil && *upd.Label == info.Label, strconv.Quote(info.Label))
	eq("hostname", upd.Hostname != nil, upd.Hostname != nil && *upd.Hostname == info.Hostname, strconv.Quote(info.Hostname))
	eq("note", upd.Note != nil, upd.Note != nil && *upd.Note == info.Note, strconv.Quote(info.Note))
	eq("cpu_shares", upd.CPUShares != nil, upd.CPUShares != nil && *upd.CPUShares == info.CPUShares, info.CPUShares)
	eq("console", upd.Console != nil, upd.Console != nil && *upd.Console == (info.Console == 1), info.Console == 1)
	var disk int64
	if len(info.Disks) > 0 {
		disk = info.Disks[0].SizeMB
	}
	eq("primary_disk_size", sizeMB != nil, sizeMB != nil && *sizeMB == disk, fmt.Sprintf("%d GB", disk/1024))
	eq("boot_type", boot != nil, boot != nil && *boot == info.BootType, info.BootType)
	var rate float64
	if len(info.Ifaces) > 0 {
		rate = info.Ifaces[0].Bandwidth
	}
	eq("rate_limit", bw != nil, bw != nil && *bw == rate, rateOf(rate))
	if upd.Description != nil || upd.MaxMemory != nil || upd.Password != nil || upd.SSHKey != nil {
		changes = true // not from this face's fields today; never a no-op here
	}
	if changes {
		return nil, false
	}
	if len(same) == 0 {
		same = append(same, "max_memory and noreboot are ignored")
	}
	return same, true
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

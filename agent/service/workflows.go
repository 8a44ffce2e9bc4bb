package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func (s *Service) registerWorkflows() {
	s.eng.Register("disk_create", ops.Workflow{
		Steps:   []ops.Step{{Name: "create_volume", Do: s.createVolume, Undo: s.undoVolume}, {Name: "finish", Do: s.finishDisk, Atomic: true}},
		Abandon: abandonDisk,
	})
	s.eng.Register("iface_create", ops.Workflow{
		Steps:   []ops.Step{{Name: "finish", Do: s.finishIface, Atomic: true}},
		Abandon: abandonIface,
	})
	s.eng.Register("vm_create", ops.Workflow{
		Steps: []ops.Step{
			// The first step's Undo runs last in a rollback: what the
			// call made before the VM (its disk's volume) goes then.
			{Name: "seed", Do: s.writeSeed, Undo: func(ctx context.Context, r *ops.Run) error {
				if err := s.removeSeed(ctx, r); err != nil {
					return err
				}
				return s.deleteCreatedVolumes(ctx, r)
			}},
			{Name: "define", Do: s.defineDomain, Undo: s.undefineDomain},
			{Name: "start", Do: s.startDomain, Undo: s.destroyDomain},
			{Name: "wire", Do: s.wireStep, Undo: s.unwireVM},
			{Name: "finish", Do: s.setVMState(store.VMRunning), Atomic: true},
		},
		Abandon: abandonVM,
		// A disk or iface operation of the same call failed: the volume
		// a disk operation made before the other failed goes too.
		Recover: s.deleteCreatedVolumes,
	})
	s.eng.Register("vm_start", ops.Workflow{Recover: s.restoreRunning, Steps: []ops.Step{
		// Defining first makes pending changes (memory, disks) take effect.
		{Name: "start", Do: func(ctx context.Context, r *ops.Run) error {
			if err := s.defineDomain(ctx, r); err != nil {
				return err
			}
			return s.startDomain(ctx, r)
		}},
		{Name: "wire", Do: s.wireStep},
		{Name: "finish", Do: s.setVMState(store.VMRunning), Atomic: true},
	}})
	s.eng.Register("vm_stop", ops.Workflow{Steps: []ops.Step{
		{Name: "stop", Do: s.stopDomain, Prepare: s.prepareStop},
		{Name: "unplug", Do: s.unplugVM},
		{Name: "finish", Do: s.setVMState(store.VMHalted), Atomic: true},
	}})
	s.eng.Register("vm_reboot", ops.Workflow{Steps: []ops.Step{
		{Name: "reboot", Do: s.rebootDomain},
		{Name: "wire", Do: s.wireStep},
		{Name: "finish", Do: s.setVMState(store.VMRunning), Atomic: true},
	}})
	s.eng.Register("vm_update", ops.Workflow{Steps: []ops.Step{{Name: "apply", Do: s.applyVMUpdate}}})
	s.eng.Register("vm_delete", ops.Workflow{Steps: []ops.Step{
		{Name: "destroy", Do: s.destroyDomain, NoReturn: true},
		{Name: "unwire", Do: s.unwireVM},
		{Name: "undefine", Do: s.undefineDomain},
		{Name: "delete_volume", Do: s.deleteSystemVolume},
		{Name: "forget", Do: s.forgetVM, Atomic: true},
	}})
	s.eng.Register("disk_delete", ops.Workflow{Steps: []ops.Step{
		{Name: "delete_volume", Do: s.deleteDiskVolume, NoReturn: true},
		{Name: "forget", Do: forgetDisk, Atomic: true},
	}})
	s.eng.Register("disk_update", ops.Workflow{Steps: []ops.Step{
		{Name: "apply", Do: s.applyDiskUpdate},
		{Name: "reboot", Do: s.rebootIfAsked},
		{Name: "finish", Do: finishDiskUpdate, Atomic: true},
	}})
	s.eng.Register("iface_delete", ops.Workflow{Steps: []ops.Step{
		{Name: "unwire", Do: s.unwireStep},
		{Name: "forget", Do: forgetIface, Atomic: true},
	}})
	s.eng.Register("iface_update", ops.Workflow{Steps: []ops.Step{
		{Name: "record", Do: recordIfaceUpdate, Atomic: true},
		{Name: "apply", Do: s.applyIfaceUpdate},
	}})
	s.eng.Register("ip_update", ops.Workflow{Steps: []ops.Step{{Name: "record", Do: recordIPUpdate, Atomic: true}}})
	s.eng.Register("disk_attach", ops.Workflow{
		Steps:   []ops.Step{{Name: "attach", Do: s.attachDisk, Undo: s.detachDisk}},
		Abandon: abandonDiskAttach,
		Recover: s.restoreOldDisk,
	})
	s.eng.Register("disk_detach", ops.Workflow{Steps: []ops.Step{{Name: "detach", Do: s.detachDisk}}})
	s.eng.Register("iface_attach", ops.Workflow{
		Steps: []ops.Step{
			{Name: "attach", Do: s.attachIface, Undo: s.detachIface},
			{Name: "wire", Do: s.wireAttached, Undo: s.unwireStep},
		},
		Abandon: abandonIfaceAttach,
	})
	s.eng.Register("iface_detach", ops.Workflow{Steps: []ops.Step{
		{Name: "detach", Do: s.detachIface},
		{Name: "unwire", Do: s.unwireStep},
	}})
	s.registerRollback()
	s.eng.OnFinish(s.afterOperation)
}

// afterOperation re-reads the true state of the VM an operation worked
// on: after a failure, so vm.info never reports what the operation hoped
// for; after success too, because a lifecycle event that arrived while
// the operation still held the VM was not applied then.
func (s *Service) afterOperation(op store.Operation) {
	if op.VMID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.refreshVMState(ctx, op.VMID)
}

// uuidFor derives a stable domain UUID from a VM id, so defining again is
// idempotent and a redefinition after a crash is the same domain.
func (s *Service) uuidFor(vmID int64) string {
	h := sha256.Sum256([]byte("xenagent-vm-" + s.st.Instance() + "-" + strconv.FormatInt(vmID, 10)))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func (s *Service) kernelFiles(version string) (kernel, initrd string, err error) {
	if version == "" || s.cfg.KernelsDir == "" {
		return "", "", nil
	}
	dir := filepath.Join(s.cfg.KernelsDir, filepath.Base(version))
	kernel = filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(kernel); err != nil {
		return "", "", fmt.Errorf("kernel %q: %w", version, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "initrd.img")); err == nil {
		initrd = filepath.Join(dir, "initrd.img")
	}
	return kernel, initrd, nil
}

// domainSpec builds the domain from the records: disks in position order,
// the system disk's kernel and cmdline for direct boot.
func (s *Service) domainSpec(vmID int64) (host.DomainSpec, error) {
	var spec host.DomainSpec
	var err error
	s.st.View(func(tx *store.Tx) {
		v, ok := tx.VM(vmID)
		if !ok {
			err = fmt.Errorf("vm %d has no record", vmID)
			return
		}
		spec = host.DomainSpec{Name: v.Domain, UUID: s.uuidFor(v.ID), VMID: v.ID, Owner: s.st.Instance(), MemoryMB: v.Memory, MaxMemMB: v.MaxMemory, VCPUs: v.Cores}
		for i, did := range v.DiskIDs {
			d, ok := tx.Disk(did)
			if !ok {
				continue
			}
			if i == 0 {
				spec.Cmdline = d.Cmdline
				if spec.Kernel, spec.Initrd, err = s.kernelFiles(d.KernelVersion); err != nil {
					return
				}
			}
			spec.Disks = append(spec.Disks, host.DiskSpec{Path: s.vols.Path(d.Volume), Block: s.vols.IsBlock(), ReadOnly: contains(v.ReadOnly, did)})
		}
		if v.Provision != nil {
			if _, serr := os.Stat(s.seedPath(v.ID)); serr == nil {
				spec.Seed = s.seedPath(v.ID)
			}
		}
		for n, iid := range v.IfaceIDs {
			i, ok := tx.Iface(iid)
			if !ok {
				continue
			}
			spec.Ifaces = append(spec.Ifaces, s.ifaceSpec(i))
			if n == 0 && spec.Kernel != "" {
				spec.Cmdline = strings.TrimSpace(spec.Cmdline + " " + s.ipArg(tx, i, v.Hostname))
			}
		}
	})
	return spec, err
}

// ipArg is the kernel's ip= argument for a directly booted guest's first
// interface (ip=ADDR::GW:MASK:HOST:eth0:off), so an image can bring its
// network up from the command line, as the lab's guests do.
func (s *Service) ipArg(tx *store.Tx, i store.Iface, hostname string) string {
	pool := s.cfg.Network.V4
	if pool == nil {
		return ""
	}
	for _, id := range i.IPIDs {
		ip, ok := tx.IP(id)
		if !ok || ip.Version != 4 {
			continue
		}
		gw := ""
		if pool.Gateway.IsValid() {
			gw = pool.Gateway.String()
		}
		m := net.CIDRMask(pool.Prefix.Bits(), 32)
		mask := fmt.Sprintf("%d.%d.%d.%d", m[0], m[1], m[2], m[3])
		return fmt.Sprintf("ip=%s::%s:%s:%s:eth0:off", ip.Addr, gw, mask, hostname)
	}
	return ""
}

func (s *Service) ifaceSpec(i store.Iface) host.IfaceSpec {
	return host.IfaceSpec{MAC: i.MAC, Bridge: s.cfg.Network.Bridge, Target: tapName(i.ID)}
}

func (s *Service) vmOf(r *ops.Run) (store.VM, error) {
	var v store.VM
	var ok bool
	s.st.View(func(tx *store.Tx) { v, ok = tx.VM(r.Op().VMID) })
	if !ok {
		return v, fmt.Errorf("vm %d has no record", r.Op().VMID)
	}
	return v, nil
}

func (s *Service) diskOf(id int64) (store.Disk, bool) {
	var d store.Disk
	var ok bool
	s.st.View(func(tx *store.Tx) { d, ok = tx.Disk(id) })
	return d, ok
}

// --- disks ---

func (s *Service) createVolume(ctx context.Context, r *ops.Run) error {
	d, ok := s.diskOf(r.Op().DiskID)
	if !ok {
		return fmt.Errorf("disk %d has no record", r.Op().DiskID)
	}
	if d.Source == 0 {
		return s.madeVolume(d.Volume, s.vols.Create(ctx, d.Volume, d.SizeMB, s.ownMark(r.Op().ID)))
	}
	src, ok := s.diskOf(d.Source)
	if !ok {
		return fmt.Errorf("source disk %d is gone", d.Source)
	}
	return s.madeVolume(d.Volume, s.vols.Clone(ctx, src.Volume, d.Volume, d.SizeMB, s.ownMark(r.Op().ID)))
}

// madeVolume remembers a volume name found taken by another maker, so
// that the next disk id skips it.
func (s *Service) madeVolume(name string, err error) error {
	if errors.Is(err, host.ErrExists) {
		s.setTaken([]string{name}, true)
	}
	return err
}

// deleteDiskVolume deletes the disk's volume, if this agent made it.
func (s *Service) deleteDiskVolume(ctx context.Context, r *ops.Run) error {
	if d, ok := s.diskOf(r.Op().DiskID); ok {
		return s.notOurs(s.vols.Delete(ctx, d.Volume, s.ownMark(0)), d.Volume)
	}
	return nil
}

// undoVolume deletes the disk's volume only if this operation made it:
// a name found taken by someone else is never undone.
func (s *Service) undoVolume(ctx context.Context, r *ops.Run) error {
	if d, ok := s.diskOf(r.Op().DiskID); ok {
		return s.notOurs(s.vols.Delete(ctx, d.Volume, s.ownMark(r.Op().ID)), d.Volume)
	}
	return nil
}

func (s *Service) finishDisk(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		d, ok := tx.Disk(op.DiskID)
		if !ok {
			return fmt.Errorf("disk %d has no record", op.DiskID)
		}
		d.State, d.DateUpdated = store.DiskCreated, now()
		tx.PutDisk(d)
		return nil
	})
}

func abandonDisk(tx *store.Tx, op store.Operation) { tx.DeleteDisk(op.DiskID) }

func forgetDisk(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		tx.DeleteDisk(op.DiskID)
		return nil
	})
}

// --- ifaces ---

func (s *Service) finishIface(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		i, ok := tx.Iface(op.IfaceID)
		if !ok {
			return fmt.Errorf("iface %d has no record", op.IfaceID)
		}
		i.State = store.IfaceFree
		if i.VMID != 0 {
			i.State = store.IfaceUsed
		}
		i.DateUpdated = now()
		tx.PutIface(i)
		for _, id := range i.IPIDs {
			if ip, ok := tx.IP(id); ok {
				ip.State, ip.DateUpdated = "created", now()
				tx.PutIP(ip)
			}
		}
		return nil
	})
}

func abandonIface(tx *store.Tx, op store.Operation) {
	if i, ok := tx.Iface(op.IfaceID); ok {
		releaseIPs(tx, i)
		tx.DeleteIface(i.ID)
	}
}

func forgetIface(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		abandonIface(tx, *op)
		return nil
	})
}

// --- VM lifecycle ---

func (s *Service) defineDomain(ctx context.Context, r *ops.Run) error {
	spec, err := s.domainSpec(r.Op().VMID)
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
func (s *Service) ensureDomain(ctx context.Context, r *ops.Run) (host.State, error) {
	name := domainName(r.Op().VMID)
	st, err := s.hv.State(ctx, name)
	if err != nil || st.Exists {
		return st, err
	}
	if _, err := s.vmOf(r); err != nil {
		return st, err
	}
	s.log.Warn("domain definition lost; defining it again", "vm_id", r.Op().VMID, "op", r.Op().Type)
	if _, serr := os.Stat(s.seedPath(r.Op().VMID)); errors.Is(serr, os.ErrNotExist) {
		if err := s.writeSeed(ctx, r); err != nil {
			return st, err
		}
	}
	if err := s.defineDomain(ctx, r); err != nil {
		return st, err
	}
	return s.hv.State(ctx, name)
}

func (s *Service) undefineDomain(ctx context.Context, r *ops.Run) error {
	return s.hv.Undefine(ctx, domainName(r.Op().VMID))
}

func (s *Service) destroyDomain(ctx context.Context, r *ops.Run) error {
	s.countBeforeTeardown(ctx)
	return s.hv.Destroy(ctx, domainName(r.Op().VMID))
}

func (s *Service) startDomain(ctx context.Context, r *ops.Run) error {
	name := domainName(r.Op().VMID)
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

func (s *Service) setVMState(state string) func(ctx context.Context, r *ops.Run) error {
	return func(ctx context.Context, r *ops.Run) error {
		return r.Update(func(tx *store.Tx, op *store.Operation) error {
			v, ok := tx.VM(op.VMID)
			if !ok {
				return fmt.Errorf("vm %d has no record", op.VMID)
			}
			v.State, v.DateUpdated = state, now()
			if op.Type == "vm_start" || op.Type == "vm_create" || op.Data["fresh_start"] == "1" {
				v.RestartPending = false
			}
			tx.PutVM(v)
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

// deleteCreatedVolumes deletes the volumes of the disks a failed VM
// creation made for it; their records go in abandonVM.
func (s *Service) deleteCreatedVolumes(ctx context.Context, r *ops.Run) error {
	var vols []string
	s.st.View(func(tx *store.Tx) {
		disks, _ := madeForVM(tx, r.Op())
		for _, id := range disks {
			if d, ok := tx.Disk(id); ok && (d.VMID == 0 || d.VMID == r.Op().VMID) {
				vols = append(vols, d.Volume)
			}
		}
	})
	for _, v := range vols {
		if err := s.notOurs(s.vols.Delete(ctx, v, s.ownMark(0)), v); err != nil {
			return err
		}
	}
	// abandonVM forgets the disks only once their volumes are gone (an
	// operation cancelled before it ran deletes nothing).
	return r.Set("made_volumes_deleted", "1")
}

// abandonVM forgets a VM whose creation failed or was cancelled, and what
// the same call made for it: the disk, once its volume is deleted (a
// creation cancelled before it ran leaves it detached, in the account's
// list), and the iface, whose addresses go back to the account's
// released list. A disk or iface the caller named is detached and kept.
func abandonVM(tx *store.Tx, op store.Operation) {
	disks, ifaces := madeForVM(tx, op)
	for _, id := range disks {
		if d, ok := tx.Disk(id); ok && op.Data["made_volumes_deleted"] == "1" && (d.VMID == 0 || d.VMID == op.VMID) {
			tx.DeleteDisk(id)
		}
	}
	for _, id := range ifaces {
		if i, ok := tx.Iface(id); ok && i.State != store.IfaceBeingCreated && (i.VMID == 0 || i.VMID == op.VMID) {
			releaseIPs(tx, i)
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

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// prepareStop journals the stop's deadline, and the first stop message
// as sent, in the write that begins the step: a restarted agent keeps the
// original deadline.
func (s *Service) prepareStop(data map[string]string) {
	if data["deadline"] == "" {
		data["deadline"] = time.Now().Add(s.cfg.Timeouts.Stop).Format(time.RFC3339Nano)
		data["messages"] = "1"
	}
}

// stopDomain is the seeds' stop: a stop message, a second one half way,
// and power off at the deadline (5 minutes in all by default). Waits wake
// on lifecycle events, not on a polling loop.
func (s *Service) stopDomain(ctx context.Context, r *ops.Run) error {
	s.countBeforeTeardown(ctx)
	name := domainName(r.Op().VMID)
	events, stop := s.hv.Watch(name)
	defer stop()
	total, messages := s.cfg.Timeouts.Stop, max(s.cfg.Timeouts.StopMessages, 1)
	deadline := parseTime(r.Data("deadline"))
	if deadline.IsZero() {
		return errors.New("stop began without a journalled deadline")
	}
	sent, _ := strconv.Atoi(r.Data("messages"))
	at := func(i int) time.Time {
		return deadline.Add(-total).Add(time.Duration(i) * total / time.Duration(messages))
	}
	// A stop that finds no domain defines it (halted): the next start or
	// reboot needs it.
	st, err := s.ensureDomain(ctx, r)
	if err != nil || !st.Running {
		return err
	}
	if sent >= 1 && sent < messages+1 && time.Now().Before(at(sent)) {
		// The latest journalled message may not have reached the guest
		// before a restart; sending it again is harmless.
		if err := s.hv.Shutdown(ctx, name); err != nil {
			return err
		}
	}
	for {
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		if !st.Running {
			return nil
		}
		now := time.Now()
		if !now.Before(deadline) {
			s.log.Info("guest ignored stop messages; powering off", "vm_id", r.Op().VMID, "messages", sent)
			if err := r.Set("forced", "1"); err != nil {
				return err
			}
			if err := s.hv.Destroy(ctx, name); err != nil {
				return err
			}
			_, err := s.hv.WaitFor(ctx, name, func(st host.State) bool { return !st.Running })
			return err
		}
		next := deadline
		if sent < messages {
			if !now.Before(at(sent)) {
				// Journal before acting: a resumed stop does not resend early.
				if err := r.Set("messages", strconv.Itoa(sent+1)); err != nil {
					return err
				}
				if err := s.hv.Shutdown(ctx, name); err != nil {
					return err
				}
				sent++
				continue
			}
			next = at(sent)
		}
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-events:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		timer.Stop()
	}
}

// rebootDomain is the seeds' reboot: a reboot message, then a hard reset
// if the guest has not come back within the timeout (2 minutes by
// default). "Came back" is a reboot event (QEMU) or a new domain id (Xen
// recreates the domain).
func (s *Service) rebootDomain(ctx context.Context, r *ops.Run) error {
	s.countBeforeTeardown(ctx)
	name := domainName(r.Op().VMID)
	events, stop := s.hv.Watch(name)
	defer stop()
	st, err := s.hv.State(ctx, name)
	if err != nil {
		return err
	}
	if !st.Running {
		// Rebooting a halted VM boots it. So does a resumed reboot that
		// finds the guest down (the crash that stopped the agent took it)
		// or its domain gone, defined again from the records, which
		// applies a pending change too. (A Xen reboot recreates the
		// domain, but Start is a no-op on one that is back already.)
		if !st.Exists {
			if err := r.Set("fresh_start", "1"); err != nil {
				return err
			}
		}
		return s.startDomain(ctx, r)
	}
	if v, err := s.vmOf(r); err == nil && v.RestartPending {
		return s.restartFresh(ctx, r)
	}
	deadline := parseTime(r.Data("deadline"))
	beforeID, _ := strconv.ParseUint(r.Data("before_id"), 10, 64)
	if r.Data("sent") == "" {
		deadline, beforeID = time.Now().Add(s.cfg.Timeouts.Reboot), uint64(st.ID)
		if err := r.SetMany(map[string]string{"deadline": deadline.Format(time.RFC3339Nano), "before_id": strconv.FormatUint(beforeID, 10), "sent": "1"}); err != nil {
			return err
		}
		if err := s.hv.Reboot(ctx, name); err != nil {
			return err
		}
		if !s.hv.RebootReportsItself() {
			return nil
		}
	}
	for {
		st, err := s.hv.State(ctx, name)
		if err != nil {
			return err
		}
		if st.Running && uint64(st.ID) != beforeID && st.ID != 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			s.log.Info("guest did not reboot in time; resetting", "vm_id", r.Op().VMID)
			if err := r.Set("forced", "1"); err != nil {
				return err
			}
			if st.Running {
				if err := s.hv.Reset(ctx, name); err != nil {
					return err
				}
			}
			return s.startDomain(ctx, r)
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case ev := <-events:
			timer.Stop()
			if ev.Kind == host.EventRebooted {
				return nil
			}
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// restartFresh is a reboot that applies a changed definition (the seeds:
// raise vm_max_memory, then reboot): the guest is asked to stop, powered
// off at the reboot deadline if it does not, and started from the
// definition.
func (s *Service) restartFresh(ctx context.Context, r *ops.Run) error {
	name := domainName(r.Op().VMID)
	deadline := parseTime(r.Data("deadline"))
	if deadline.IsZero() {
		deadline = time.Now().Add(s.cfg.Timeouts.Reboot)
		if err := r.SetMany(map[string]string{"deadline": deadline.Format(time.RFC3339Nano), "fresh_start": "1"}); err != nil {
			return err
		}
	}
	if err := s.hv.Shutdown(ctx, name); err != nil {
		return err
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	_, err := s.hv.WaitFor(wctx, name, func(st host.State) bool { return !st.Running })
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.Set("forced", "1"); err != nil {
			return err
		}
		if err := s.hv.Destroy(ctx, name); err != nil {
			return err
		}
	}
	if err := s.defineDomain(ctx, r); err != nil {
		return err
	}
	return s.startDomain(ctx, r)
}

func (s *Service) applyVMUpdate(ctx context.Context, r *ops.Run) error {
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
	spec, err := s.domainSpec(r.Op().VMID)
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

func (s *Service) deleteSystemVolume(ctx context.Context, r *ops.Run) error {
	v, err := s.vmOf(r)
	if err != nil {
		return nil // already forgotten
	}
	if err := s.removeSeed(ctx, r); err != nil {
		return err
	}
	if len(v.DiskIDs) == 0 {
		return nil
	}
	if d, ok := s.diskOf(v.DiskIDs[0]); ok {
		return s.notOurs(s.vols.Delete(ctx, d.Volume, s.ownMark(0)), d.Volume)
	}
	return nil
}

// forgetVM drops the VM, its system disk and first iface, and frees the rest.
func (s *Service) forgetVM(ctx context.Context, r *ops.Run) error {
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
				releaseIPs(tx, i)
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

// --- attach / detach ---

func (s *Service) isRunning(ctx context.Context, name string) (bool, error) {
	st, err := s.hv.State(ctx, name)
	return st.Running, err
}

// vmRunning is isRunning for a step that changes the VM's domain: a lost
// definition is made again first, so the change lands on a domain.
func (s *Service) vmRunning(ctx context.Context, r *ops.Run) (bool, error) {
	st, err := s.ensureDomain(ctx, r)
	return st.Running, err
}

func (s *Service) attachDisk(ctx context.Context, r *ops.Run) error {
	return s.attachDiskID(ctx, r, r.Op().DiskID)
}

// attachDiskID attaches a disk as the operation's parameters say: at a
// position (0 swaps with the system disk unless "insert" asks to shift
// the others), read-only or read/write.
func (s *Service) attachDiskID(ctx context.Context, r *ops.Run, diskID int64) error {
	name := domainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	pos, _ := strconv.Atoi(r.Op().Params["position"])
	insert := r.Op().Params["insert"] == "1"
	readOnly := r.Op().Params["access"] == "read"
	var at int
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		if d, ok := tx.Disk(diskID); ok && d.VMID != v.ID {
			d.VMID = v.ID
			tx.PutDisk(d)
		}
		if i := slices.Index(v.DiskIDs, diskID); i >= 0 {
			at = i // already recorded before a restart
			return nil
		}
		switch {
		case pos == 0 && !running && len(v.DiskIDs) > 0 && !insert:
			// Position 0 swaps with the current system disk.
			v.DiskIDs = append(v.DiskIDs, v.DiskIDs[0])
			v.DiskIDs[0] = diskID
			at = 0
		case pos < 0 || pos >= len(v.DiskIDs) || running:
			// A running guest gets the disk appended: its devices cannot shift.
			v.DiskIDs = append(v.DiskIDs, diskID)
			at = len(v.DiskIDs) - 1
		default:
			v.DiskIDs = slices.Insert(v.DiskIDs, pos, diskID)
			at = pos
		}
		if readOnly && !contains(v.ReadOnly, diskID) {
			v.ReadOnly = append(v.ReadOnly, diskID)
		}
		v.DateUpdated = now()
		tx.PutVM(v)
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	d, _ := s.diskOf(diskID)
	return s.hv.AttachDisk(ctx, name, at, host.DiskSpec{Path: s.vols.Path(d.Volume), Block: s.vols.IsBlock(), ReadOnly: readOnly})
}

func (s *Service) detachDisk(ctx context.Context, r *ops.Run) error {
	name := domainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		if v, ok := tx.VM(op.VMID); ok {
			if i := slices.Index(v.DiskIDs, op.DiskID); i >= 0 {
				if i == 0 && running {
					return errors.New("the system disk can be detached only from a halted VM")
				}
				v.DiskIDs = slices.Delete(v.DiskIDs, i, i+1)
				v.ReadOnly = slices.DeleteFunc(v.ReadOnly, func(x int64) bool { return x == op.DiskID })
				v.DateUpdated = now()
				tx.PutVM(v)
			}
		}
		if d, ok := tx.Disk(op.DiskID); ok && d.VMID == op.VMID {
			d.VMID = 0
			tx.PutDisk(d)
		}
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	d, _ := s.diskOf(r.Op().DiskID)
	return s.hv.DetachDisk(ctx, name, s.vols.Path(d.Volume))
}

// redefineUnless finishes a device change on a halted VM: the records
// changed, so the definition is rendered again from them. A running VM
// gets its device hot-plugged by the caller instead.
func (s *Service) redefineUnless(ctx context.Context, r *ops.Run, err error, running bool) error {
	if err != nil || running {
		return err
	}
	spec, err := s.domainSpec(r.Op().VMID)
	if err != nil {
		return err
	}
	return s.hv.Define(ctx, spec)
}

func abandonDiskAttach(tx *store.Tx, op store.Operation) {
	v, _ := tx.VM(op.VMID)
	if d, ok := tx.Disk(op.DiskID); ok && d.VMID == op.VMID && !contains(v.DiskIDs, d.ID) {
		d.VMID = 0
		tx.PutDisk(d)
	}
}

func (s *Service) attachIface(ctx context.Context, r *ops.Run) error {
	name := domainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	var iface store.Iface
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		v, ok := tx.VM(op.VMID)
		if !ok {
			return fmt.Errorf("vm %d has no record", op.VMID)
		}
		if !contains(v.IfaceIDs, op.IfaceID) {
			v.IfaceIDs = append(v.IfaceIDs, op.IfaceID)
			v.DateUpdated = now()
			tx.PutVM(v)
		}
		iface, _ = tx.Iface(op.IfaceID)
		iface.State = store.IfaceUsed
		tx.PutIface(iface)
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	return s.hv.AttachIface(ctx, name, s.ifaceSpec(iface))
}

func (s *Service) detachIface(ctx context.Context, r *ops.Run) error {
	name := domainName(r.Op().VMID)
	running, err := s.vmRunning(ctx, r)
	if err != nil {
		return err
	}
	var iface store.Iface
	err = r.Update(func(tx *store.Tx, op *store.Operation) error {
		if v, ok := tx.VM(op.VMID); ok && contains(v.IfaceIDs, op.IfaceID) {
			v.IfaceIDs = slices.DeleteFunc(v.IfaceIDs, func(x int64) bool { return x == op.IfaceID })
			v.DateUpdated = now()
			tx.PutVM(v)
		}
		var ok bool
		if iface, ok = tx.Iface(op.IfaceID); ok && iface.VMID == op.VMID {
			iface.VMID, iface.State = 0, store.IfaceFree
			tx.PutIface(iface)
		}
		return nil
	})
	if err != nil || !running {
		return s.redefineUnless(ctx, r, err, running)
	}
	return s.hv.DetachIface(ctx, name, iface.MAC)
}

func abandonIfaceAttach(tx *store.Tx, op store.Operation) {
	v, _ := tx.VM(op.VMID)
	if i, ok := tx.Iface(op.IfaceID); ok && i.VMID == op.VMID && !contains(v.IfaceIDs, i.ID) {
		i.VMID, i.State = 0, store.IfaceFree
		tx.PutIface(i)
	}
}

package workflow

import (
	"context"
	"crypto/sha256"
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

func (s *Workflows) registerWorkflows() {
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
			{Name: "finish", Do: s.finishWithState(store.VMRunning), Atomic: true},
		},
		Abandon: s.abandonVM,
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
			return s.startFresh(ctx, r) // domain.go
		}},
		{Name: "wire", Do: s.wireStep},
		{Name: "finish", Do: s.finishWithState(store.VMRunning), Atomic: true},
	}})
	s.eng.Register("vm_stop", ops.Workflow{Steps: []ops.Step{
		{Name: "stop", Do: s.stopDomain, Prepare: s.prepareStopOp},
		{Name: "unplug", Do: s.unplugVM},
		{Name: "finish", Do: s.finishWithState(store.VMHalted), Atomic: true},
	}})
	s.eng.Register("vm_reboot", ops.Workflow{Steps: []ops.Step{
		{Name: "reboot", Do: s.rebootDomain},
		{Name: "wire", Do: s.wireStep},
		{Name: "finish", Do: s.finishWithState(store.VMRunning), Atomic: true},
	}})
	s.eng.Register("vm_update", ops.Workflow{Steps: []ops.Step{{Name: "seed", Do: s.writeCredentialSeed, Undo: s.restoreSeed}, {Name: "apply", Do: s.applyVMUpdate}}}) // seed: credentials.go
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
	s.registerRebuild()
	s.registerFirewall()
	s.registerPause()
	s.registerISO()
	s.registerMigrate() // migrate_out.go, migrate_in.go
}

// afterOperation re-reads the true state of the VM an operation worked
// on: after a failure, so vm.info never reports what the operation hoped
// for; after success too, because a lifecycle event that arrived while
// the operation still held the VM was not applied then.
func (s *Workflows) afterOperation(op store.Operation) {
	if op.VMID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.RefreshVMState(ctx, op.VMID)
}

// vmUUID is VM v's domain UUID: the one it brought from another agent,
// else the one derived here.
func (s *Workflows) vmUUID(v store.VM) string {
	if v.UUID != "" {
		return v.UUID
	}
	return s.UUID(v.ID)
}

// UUID derives a stable domain UUID from a VM id, so defining again is
// idempotent and a redefinition after a crash is the same domain.
func (s *Workflows) UUID(vmID int64) string {
	h := sha256.Sum256([]byte("xenagent-vm-" + s.st.Instance() + "-" + strconv.FormatInt(vmID, 10)))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func (s *Workflows) kernelFiles(version string) (kernel, initrd string, err error) {
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
func (s *Workflows) DomainSpec(vmID int64) (host.DomainSpec, error) {
	var spec host.DomainSpec
	var err error
	s.st.View(func(tx *store.Tx) {
		v, ok := tx.VM(vmID)
		if !ok {
			err = fmt.Errorf("vm %d has no record", vmID)
			return
		}
		spec = host.DomainSpec{Name: v.Domain, UUID: s.vmUUID(v), VMID: v.ID, Owner: s.st.Instance(), MemoryMB: v.Memory, MaxMemMB: v.MaxMemory, VCPUs: v.Cores, CPUShares: v.CPUShares}
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
			spec.Disks = append(spec.Disks, host.DiskSpec{Path: s.vols.Path(d.Volume), Block: s.vols.IsBlock(), ReadOnly: slices.Contains(v.ReadOnly, did)})
		}
		cdromSpec(tx, v, &spec) // iso.go
		if v.Provision != nil {
			if p, ok := s.seedPath(v.ID); ok {
				spec.Seed = p
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
func (s *Workflows) ipArg(tx *store.Tx, i store.Iface, hostname string) string {
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

func (s *Workflows) ifaceSpec(i store.Iface) host.IfaceSpec {
	return host.IfaceSpec{MAC: i.MAC, Bridge: s.cfg.Network.Bridge, Target: TapName(i.ID)}
}

func (s *Workflows) vmOf(r *ops.Run) (store.VM, error) {
	var v store.VM
	var ok bool
	s.st.View(func(tx *store.Tx) { v, ok = tx.VM(r.Op().VMID) })
	if !ok {
		return v, fmt.Errorf("vm %d has no record", r.Op().VMID)
	}
	return v, nil
}

func (s *Workflows) diskOf(id int64) (store.Disk, bool) {
	var d store.Disk
	var ok bool
	s.st.View(func(tx *store.Tx) { d, ok = tx.Disk(id) })
	return d, ok
}

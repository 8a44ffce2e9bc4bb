package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// method is one API method after authentication: it decodes its
// arguments (a, after the API key) into the service's typed request,
// calls the service and renders the result in the seed's shape.
type method func(ctx context.Context, c *service.Caller, a args) (any, error)

// Face is the method table over the service.
type Face struct {
	svc     *service.Service
	methods map[string]method
}

// NewFace makes the Gandi v3 face of svc.
func NewFace(svc *service.Service) *Face {
	f := &Face{svc: svc}
	f.methods = f.table()
	return f
}

// Call dispatches an authenticated call; params exclude the API key. A
// retried mutating call with the same idempotency key is answered with
// the operations of the first, before its object is looked up.
func (f *Face) Call(ctx context.Context, c *service.Caller, name string, params []any) (any, error) {
	m, ok := f.methods[name]
	if !ok {
		return nil, unknownMethod(name)
	}
	if v, ok := f.replay(c, name, params); ok {
		return v, nil
	}
	v, err := m(ctx, c, args{vals: params})
	if err != nil {
		return nil, AsFault(err)
	}
	return v, nil
}

// Known reports whether the face serves the method.
func (f *Face) Known(name string) bool {
	_, ok := f.methods[name]
	return ok
}

func (f *Face) table() map[string]method {
	return map[string]method{
		"hosting.ssh.count":  f.sshCount,
		"hosting.ssh.list":   f.sshList,
		"hosting.ssh.info":   f.sshInfo,
		"hosting.ssh.create": f.sshCreate,
		"hosting.ssh.delete": f.sshDelete,

		"hosting.vm.disk_attach":     f.vmDiskAttach,
		"hosting.vm.disk_detach":     f.vmDiskDetach,
		"hosting.vm.iface_attach":    f.vmIfaceAttach,
		"hosting.vm.iface_detach":    f.vmIfaceDetach,
		"hosting.vm.disk_rollback":   f.vmDiskRollback,
		"hosting.disk.rollback_from": f.diskRollbackFrom,

		"hosting.vm.count":       f.vmCount,
		"hosting.vm.list":        f.vmList,
		"hosting.vm.info":        f.vmInfo,
		"hosting.vm.create":      f.vmCreate,
		"hosting.vm.create_from": f.vmCreateFrom,
		"hosting.vm.update":      f.vmUpdate,
		"hosting.vm.start":       f.vmAction("hosting.vm.start", f.svc.StartVM),
		"hosting.vm.stop":        f.vmPower("hosting.vm.stop", f.svc.StopVM, f.svc.ForceStopVM),       // extension arg force (power.go)
		"hosting.vm.reboot":      f.vmPower("hosting.vm.reboot", f.svc.RebootVM, f.svc.ForceRebootVM), // extension arg force (power.go)
		"hosting.vm.pause":       f.vmAction("hosting.vm.pause", f.svc.PauseVM),                       // extension (power.go)
		"hosting.vm.resume":      f.vmAction("hosting.vm.resume", f.svc.ResumeVM),                     // extension (power.go)
		"hosting.vm.delete":      f.vmAction("hosting.vm.delete", f.svc.DeleteVM),
		"hosting.vm.console":     f.vmConsole,                                                                    // extension (console.go)
		"hosting.vm.stats":       f.vmStats,                                                                      // extension (stats.go)
		"hosting.vm.lock":        f.vmLock,                                                                       // extension (lock.go)
		"hosting.vm.unlock":      f.vmUnlock,                                                                     // extension (lock.go)
		"hosting.vm.locks":       f.vmLocks,                                                                      // extension (lock.go)
		"hosting.vm.rebuild":     f.vmRebuild,                                                                    // extension (rebuild.go)
		"hosting.vm.iso_attach":  f.vmISOAttach,                                                                  // extension (iso.go)
		"hosting.vm.iso_detach":  f.vmISODetach,                                                                  // extension (iso.go)
		"hosting.vm.boot_type":   f.vmBootType,                                                                   // extension (iso.go)
		"hosting.vm.migrate":     f.migrateMethod("hosting.vm.migrate", "vm_id", service.ObjVM, f.svc.MigrateVM), // the seed's, operator key, {target, ticket} (migrate.go)
		"hosting.iso.list":       f.isoList,                                                                      // extension (iso.go)

		"hosting.vm.reset_password": f.vmResetPassword, // extension (credentials.go)

		"hosting.iface.count":   f.ifaceCount,
		"hosting.iface.list":    f.ifaceList,
		"hosting.iface.info":    f.ifaceInfo,
		"hosting.iface.create":  f.ifaceCreate,
		"hosting.iface.delete":  f.ifaceDelete,
		"hosting.iface.migrate": f.migrateMethod("hosting.iface.migrate", "iface_id", service.ObjIface, f.svc.MigrateIface), // migrate.go
		"hosting.iface.update":  f.ifaceUpdate,
		"hosting.ip.count":      f.ipCount,
		"hosting.ip.list":       f.ipList,
		"hosting.ip.info":       f.ipInfo,
		"hosting.ip.update":     f.ipUpdate,

		"hosting.iface.firewall_rules": f.ifaceFirewallRules, // extension (firewall.go)
		"hosting.iface.firewall_apply": f.ifaceFirewallApply, // extension (firewall.go)

		"operation.count":  f.opCount,
		"operation.list":   f.opList,
		"operation.info":   f.opInfo,
		"operation.cancel": f.opCancel,

		"version.info":                 f.versionInfo,
		"hosting.account.info":         f.accountInfo,
		"hosting.account.update":       f.accountUpdate, // extension (account.go)
		"hosting.datacenter.list":      f.datacenterList,
		"hosting.image.list":           f.imageList,
		"hosting.disk.count":           f.diskCount,
		"hosting.disk.list":            f.diskList,
		"hosting.disk.info":            f.diskInfo,
		"hosting.disk.create":          f.diskCreate,
		"hosting.disk.create_from":     f.diskCreateFrom,
		"hosting.disk.delete":          f.diskDelete,
		"hosting.disk.migrate":         f.migrateMethod("hosting.disk.migrate", "disk_id", service.ObjDisk, f.svc.MigrateDisk), // migrate.go
		"hosting.disk.update":          f.diskUpdate,
		"hosting.disk.list_kernels":    f.diskListKernels,
		"hosting.disk.list_options":    f.diskListOptions,
		"hosting.snapshotprofile.list": f.snapshotProfileList,
		"hosting.snapshotprofile.info": f.snapshotProfileInfo,
		"hosting.event.from":           f.eventFrom,
		"hosting.host.info":            f.hostInfo,
		"hosting.migration.ticket":     f.migrationTicket, // extension (migrate.go)
	}
}

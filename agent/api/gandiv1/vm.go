package gandiv1

import (
	"context"
	"slices"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// A share is the v1 account's unit of resources: the service's share
// definition (service.ShareDefinition, the quotas' one source for every
// face; by default Gandi's 256 MB of memory). Here a VM's shares are its
// memory: vm_create and vm_update set memory = shares x the definition's
// memory, and vm_info reports memory over it. Cores are the call's own
// cpu; disk and bandwidth are the system disk's and the network's. The
// account's quotas bound them all (the service refuses what would exceed
// its grant, in any model: in the rating model a share still says how
// much memory a vm_create asks for).

// MaxShares bounds a VM's shares before the service's own memory bound.
const MaxShares = 1024

// shareMB is the memory one share is.
func (s *Server) shareMB() int64 { return max(s.svc.ShareDefinition().MemoryMB, 1) }

// DatacenterID is the one datacenter of the host, as the service knows it.
func (s *Server) datacenterID() int64 {
	dcs := s.svc.Datacenters(service.DatacenterFilter{})
	if len(dcs) == 0 {
		return 0
	}
	return dcs[0].ID
}

func (s *Server) shares(a args, i int, name string) (int64, error) {
	n, err := toInt(a.obj, name, a.vals[i])
	if err != nil {
		return 0, err
	}
	return s.checkShares(a.obj, name, n)
}

func (s *Server) checkShares(obj int, name string, n int64) (int64, error) {
	if n < 1 || n > MaxShares {
		f := dataFault(obj, CauseValue, name, "%s: must be between 1 and %d (a share is %d MB of memory)", name, MaxShares, s.shareMB())
		f.Value, f.ShowValue = n, true
		return 0, f
	}
	return n, nil
}

// sharesRefused says a refusal by the account's memory quota in shares,
// the unit the call was made in (field, n): the service counts memory.
// Any other error is returned as it is.
func (s *Server) sharesRefused(err error, field string, n int64) error {
	e := service.Classify(err)
	if e.Kind != service.KindQuota || e.Quota != "memory" {
		return err
	}
	f := dataFault(ObjVM, CauseQuota, field, "%s: %d shares (%d MB of memory): %s",
		field, n, n*s.shareMB(), strings.TrimPrefix(e.Msg, "memory: "))
	f.Value, f.ShowValue = n, true
	return f
}

// The service's names of vm_create's and vm_update's parameters, for
// its faults (inParams).
var (
	createParams = map[string]string{"hostname": "hostname", "password": "password", "cores": "cpu", "memory": "shares", "src_disk_id": "os_id", "login": "specs.login"}
	updateParams = map[string]string{"cores": "specs.cpu", "memory": "specs.shares", "vm_max_memory": "specs.vm_max_memory"}
)

// vmCreate is vm_create(session, hostname, password, os_id, shares, cpu,
// specs): a VM whose system disk is a copy of the OS image os_id, with
// an interface of its own, started; it answers the VM's id at once (the
// operation is found with operation_list's type vm_create).
func (s *Server) vmCreate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjVM
	if err := a.count(6, 6); err != nil {
		return nil, err
	}
	hostname, err := a.str(0, "hostname")
	if err != nil {
		return nil, err
	}
	password, err := a.secret(1, "password")
	if err != nil {
		return nil, err
	}
	a.obj = ObjOS
	osID, err := a.id(2, "os_id")
	if err != nil {
		return nil, err
	}
	a.obj = ObjVM
	shares, err := s.shares(a, 3, "shares")
	if err != nil {
		return nil, err
	}
	cpu, err := a.int(4, "cpu")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(5, "specs")
	if err != nil {
		return nil, err
	}
	login, _, err := sp.str("login")
	if err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	img, err := s.image(osID)
	if err != nil {
		return nil, err
	}
	memory := shares * s.shareMB()
	req := service.VMCreateFrom{SrcDiskID: img.DiskID,
		VMSpec: service.VMSpec{DatacenterID: s.datacenterID(), Hostname: hostname, Memory: &memory, Cores: &cpu,
			Login: login, Password: password},
		Disk: service.VMDiskSpec{Name: sysDiskName(hostname)}}
	ops, err := s.svc.CreateVMFrom(ctx, c, req)
	if err != nil {
		return nil, inParams(s.sharesRefused(err, "shares", shares), createParams,
			param{"hostname", service.ObjUnknown, shown(hostname)}, param{"os_id", service.ObjImage, osID},
			param{"shares", service.ObjUnknown, shares}, param{"cpu", service.ObjUnknown, cpu},
			param{"specs.login", service.ObjUnknown, shown(login)})
	}
	for _, o := range ops {
		if o.Type == "vm_create" && o.VMID != 0 {
			return o.VMID, nil
		}
	}
	return nil, errInternal
}

// maxDiskName is the service's bound on a disk's name.
const maxDiskName = 64

// sysDiskName names a VM's system disk after its hostname, cut to the
// service's bound: a hostname may be 63 characters, and vm_create's
// caller gives no disk name to be faulted for.
func sysDiskName(hostname string) string {
	name := "sys_" + hostname
	return name[:min(len(name), maxDiskName)]
}

// image finds the OS image os_id names.
func (s *Server) image(id int64) (service.Image, error) {
	imgs := s.svc.Images(service.ImageFilter{})
	i := slices.IndexFunc(imgs, func(im service.Image) bool { return im.ID == id })
	if i < 0 {
		f := dataFault(ObjOS, CauseNotFound, "os_id", "os_id: OS image %d does not exist (os_list lists them)", id)
		f.Value, f.ShowValue = id, true
		return service.Image{}, f
	}
	return imgs[i], nil
}

// vmInfo is vm_info(session, vm_id): the VM, its shares and disks, its
// addresses and the OS it was made from.
func (s *Server) vmInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjVM
	if err := a.count(1, 1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "vm_id")
	if err != nil {
		return nil, err
	}
	v, err := s.svc.VM(c, id)
	if err != nil {
		return nil, inParams(err, nil, vmParam(id))
	}
	disks := make([]any, 0, len(v.Disks))
	osID := int64(0)
	for i, d := range v.Disks {
		disks = append(disks, d.ID)
		if i == 0 {
			osID = s.osOf(d.Source)
		}
	}
	ips := []any{}
	for _, ifc := range v.Ifaces {
		for _, ip := range ifc.IPs {
			ips = append(ips, ip.Addr)
		}
	}
	return map[string]any{
		"id": v.ID, "hostname": v.Hostname, "state": v.State,
		"shares": v.Memory / s.shareMB(), "cpu": v.Cores, "memory": v.Memory, "vm_max_memory": v.MaxMemory,
		"os_id": osID, "disks": disks, "ips": ips, "datacenter_id": v.DatacenterID,
		"date_created": v.DateCreated, "date_updated": v.DateUpdated,
	}, nil
}

// osOf is the image a system disk was copied from, or 0.
func (s *Server) osOf(source int64) int64 {
	if source == 0 {
		return 0
	}
	for _, im := range s.svc.Images(service.ImageFilter{}) {
		if im.DiskID == source {
			return im.ID
		}
	}
	return 0
}

// vmList is vm_list(session): the ids of the account's VMs.
func (s *Server) vmList(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjVM
	if err := a.count(0, 0); err != nil {
		return nil, err
	}
	return allIDs(func(p service.Page) ([]int64, error) {
		vms, err := s.svc.VMs(c, service.VMFilter{}, p)
		ids := make([]int64, len(vms))
		for i, v := range vms {
			ids[i] = v.ID
		}
		return ids, err
	})
}

// allIDs pages through a list (the service pages by at most 500) and
// answers every id, in id order.
func allIDs(page func(service.Page) ([]int64, error)) ([]any, error) {
	out := []any{}
	for n := int64(0); ; n++ {
		ids, err := page(service.Page{PerPage: 500, Page: n, SortBy: "id"})
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out = append(out, id)
		}
		if len(ids) < 500 {
			return out, nil
		}
	}
}

// vmUpdate is vm_update(session, vm_id, specs): shares (memory), cpu and
// vm_max_memory; it answers the operation's id.
func (s *Server) vmUpdate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjVM
	if err := a.count(2, 2); err != nil {
		return nil, err
	}
	id, err := a.id(0, "vm_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "specs")
	if err != nil {
		return nil, err
	}
	var req service.VMUpdate
	shares, err := sp.intPtr("shares")
	if err != nil {
		return nil, err
	}
	if shares != nil {
		if _, err := s.checkShares(ObjVM, "specs.shares", *shares); err != nil {
			return nil, err
		}
		mem := *shares * s.shareMB()
		req.Memory = &mem
	}
	if req.Cores, err = sp.intPtr("cpu"); err != nil {
		return nil, err
	}
	if req.MaxMemory, err = sp.intPtr("vm_max_memory"); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	if req.Memory == nil && req.Cores == nil && req.MaxMemory == nil {
		return nil, dataFault(ObjVM, CauseMissing, "specs", "specs: give at least one of shares, cpu, vm_max_memory")
	}
	op, err := s.svc.UpdateVM(ctx, c, id, req)
	if err != nil && shares != nil {
		err = s.sharesRefused(err, "specs.shares", *shares)
	}
	if err != nil {
		return nil, inParams(err, updateParams, vmParam(id), param{"specs.shares", service.ObjUnknown, intOrNil(shares)},
			param{"specs.cpu", service.ObjUnknown, intOrNil(req.Cores)},
			param{"specs.vm_max_memory", service.ObjUnknown, intOrNil(req.MaxMemory)})
	}
	return op.ID, nil
}

// vmAction is vm_delete, vm_start, vm_stop and vm_reboot(session,
// vm_id): the operation's id.
func (s *Server) vmAction(name string) method {
	return func(ctx context.Context, c *service.Caller, a args) (any, error) {
		a.obj = ObjVM
		if err := a.count(1, 1); err != nil {
			return nil, err
		}
		id, err := a.id(0, "vm_id")
		if err != nil {
			return nil, err
		}
		var op service.Operation
		switch name {
		case "vm_delete":
			if err := s.stopped(c, id); err != nil {
				return nil, inParams(err, nil, vmParam(id))
			}
			op, err = s.svc.DeleteVM(ctx, c, id, service.CallOptions{})
		case "vm_start":
			op, err = s.svc.StartVM(ctx, c, id, service.CallOptions{})
		case "vm_stop":
			op, err = s.svc.StopVM(ctx, c, id, service.CallOptions{})
		case "vm_reboot":
			op, err = s.svc.RebootVM(ctx, c, id, service.CallOptions{})
		}
		if err != nil {
			return nil, inParams(err, nil, vmParam(id))
		}
		return op.ID, nil
	}
}

// vmParam is the vm_id parameter of a call about an existing VM.
func vmParam(id int64) param { return param{"vm_id", service.ObjVM, id} }

// intOrNil is an optional int parameter's value for a fault: nil (not
// shown) when the call did not give it.
func intOrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// stopped refuses vm_delete of a VM that is not stopped: the document's
// vm_delete "deletes a stopped VM" (the v3 and Gigas faces destroy a
// running one; v1 clients vm_stop first, as its samples do). It reads
// the recorded state: a vm_start queued before the vm_delete still runs
// first, and the delete then destroys what it started.
func (s *Server) stopped(c *service.Caller, id int64) error {
	v, err := s.svc.VM(c, id)
	if err != nil {
		return err
	}
	if v.PowerState == store.VMRunning || v.PowerState == store.VMPaused {
		f := dataFault(ObjVM, CauseState, "vm_id", "vm_id: VM %d is %s; vm_delete deletes a stopped VM (vm_stop it first)", id, v.PowerState)
		f.Value, f.ShowValue = id, true
		return f
	}
	return nil
}

// vmDiskList is vm_disk_list(session, vm_id): the ids of the VM's disks,
// the system disk first.
func (s *Server) vmDiskList(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjVM
	if err := a.count(1, 1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "vm_id")
	if err != nil {
		return nil, err
	}
	v, err := s.svc.VM(c, id)
	if err != nil {
		return nil, inParams(err, nil, vmParam(id))
	}
	out := make([]any, len(v.DiskIDs))
	for i, d := range v.DiskIDs {
		out[i] = d
	}
	return out, nil
}

// vmDiskLink is in the document's table of contents only: it has no
// signature there, so nothing can say what a call means.
func (s *Server) vmDiskLink(context.Context, *service.Caller, args) (any, error) {
	return nil, dataFault(ObjMethod, CauseNotFound, "", "vm_disk_link: the v1 document names this method but does not define it; disk_attach attaches a disk to a VM")
}

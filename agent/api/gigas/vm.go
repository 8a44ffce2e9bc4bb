package gigas

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
)

// vmRename maps the service's field names onto this document's.
var vmRename = map[string]string{
	"cores": "cpus", "vm_max_memory": "memory", "bandwidth": "rate_limit", "password": "initial_root_password",
	"size": "primary_disk_size", "datacenter_id": "location_id", "src_disk_id": "template_id", "vm_id": "virtual_machine_id",
	"sys_disk_id": "primary_disk_size", "": "virtual_machine_id",
}

// svcErr maps a service error with this call's field names.
func svcErr(err error, rename map[string]string) error {
	if err == nil {
		return nil
	}
	return asError(err, rename)
}

// centralFields are create's parameters that choose among a central
// tier's objects (networks, data store groups, addresses of a network):
// one host has none to choose.
var centralFields = []string{"primary_network_group_id", "selected_ip_address", "selected_ip_netmask",
	"selected_ip_gateway", "data_store_group_primary_id", "data_store_group_id", "data_store_group_secondary_id",
	"data_store_group_swap_id"}

func refuseCentral(b *body, fields ...string) error {
	for _, f := range fields {
		if b.has(f) {
			return notImplemented(f, "chooses among a central tier's objects (networks, data store groups); this agent serves one host")
		}
		b.ignore(f)
	}
	return nil
}

// gbToMB converts the document's disk sizes (GB) to the service's MB.
func gbToMB(field string, gb int64) (int64, error) {
	if gb <= 0 || gb > 1<<20 {
		return 0, invalid(field, fmt.Sprintf("must be a positive number of GB, got %d", gb))
	}
	return gb * 1024, nil
}

// rateLimit converts rate_limit (Mb/s, 0 unlimited) to the service's
// bandwidth (bit/s, service.Unlimited).
func rateLimit(b *body) (*float64, error) {
	n, err := b.int("rate_limit")
	if n == nil || err != nil {
		return nil, err
	}
	if *n < 0 {
		return nil, invalid("rate_limit", "must be 0 (unlimited) or a positive number of Mb/s")
	}
	bw := float64(*n) * 1e6
	if *n == 0 {
		bw = service.Unlimited
	}
	return &bw, nil
}

// password is initial_root_password: the document's rule, 6 to 32
// letters, digits, '-' or '_' (service.PasswordGigas, which the service
// applies again for this face's calls).
func password(b *body, field string) (string, bool, error) {
	p, err := b.str(field)
	if p == nil || err != nil {
		return "", false, err
	}
	if err := service.CheckGigasPassword(service.ObjVM, field, *p); err != nil {
		return "", false, svcErr(err, nil)
	}
	return *p, true, nil
}

// newPassword makes a password within both rules: 16 characters of the
// document's 64, 6 random bits each.
func newPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = service.GigasPasswordChars[b[i]&63]
	}
	return string(b), nil
}

// image resolves template_id (an image id) to the image.
func (s *Server) image(field string, id int64) (service.Image, error) {
	imgs := s.svc.Images(service.ImageFilter{IDs: []int64{id}})
	if len(imgs) == 0 {
		// This face has no template catalogue to look in (the document's is a
		// central tier's): say where the ids a template_id takes are listed.
		return service.Image{}, notFound(field, fmt.Sprintf("template %d does not exist on this host (templates are its images: hosting.image.list at /xmlrpc/)", id))
	}
	return imgs[0], nil
}

// location checks location_id against this host's datacenter.
func (s *Server) location(b *body) (int64, error) {
	dcs := s.svc.Datacenters(service.DatacenterFilter{})
	if len(dcs) == 0 {
		return 0, &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Msg: "location_id: this host has no datacenter"}
	}
	here := dcs[0].ID
	loc, err := b.int("location_id")
	if err != nil {
		return 0, err
	}
	if loc != nil && *loc != here {
		return 0, invalid("location_id", fmt.Sprintf("this host is in location %d, not %d", here, *loc))
	}
	return here, nil
}

func (s *Server) createVM(ctx context.Context, k *call) (int, any, error) {
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	if err := refuseCreateExtras(b); err != nil {
		return 0, nil, err
	}
	req, rename, err := s.decodeCreate(b)
	if err != nil {
		return 0, nil, err
	}
	req.Options = k.opts(0)
	pw := req.Password
	ops, err := s.svc.CreateVMFrom(ctx, k.c, req)
	if err != nil {
		return 0, nil, svcErr(err, rename)
	}
	return s.created(k, ops, pw)
}

// refuseCreateExtras reads create's parameters this host cannot honour
// (a central tier's choices, ISOs, the CPU type, no build), refusing any
// given, and the deprecated max_memory, ignored.
func refuseCreateExtras(b *body) error {
	b.ignore("max_memory") // deprecated and ignored, says the document
	if err := refuseCentral(b, centralFields...); err != nil {
		return err
	}
	if err := hostNetwork(b, "primary_network_id"); err != nil {
		return err
	}
	for _, f := range []string{"iso_id", "iso_url"} {
		if err := notHere(b, f, "a VM is built from a template here; attach an ISO afterwards with POST .../iso"); err != nil {
			return err
		}
	}
	if err := notHere(b, "cpu_type", "the host's CPU is what the guest sees; it cannot be chosen"); err != nil {
		return err
	}
	if build, err := b.bool("required_virtual_machine_build"); err != nil {
		return err
	} else if build != nil && !*build {
		return notImplemented("required_virtual_machine_build", "false is not served: a VM is built when created")
	}
	return nil
}

// createRequired are create's mandatory fields, in the document's order
// (template_id being the one of template_id, iso_id and iso_url served).
var createRequired = []string{"hostname", "label", "memory", "cpus", "primary_disk_size", "template_id"}

// missingAll refuses a body lacking any of keys, naming the first as the
// field and every other one too: a client building its first request
// learns them in one answer, not one a round trip.
func missingAll(b *body, keys []string) error {
	var absent []string
	for _, k := range keys {
		if !b.has(k) {
			absent = append(absent, k)
		}
	}
	if len(absent) == 0 {
		return nil
	}
	e := missing(absent[0])
	if len(absent) > 1 {
		e.Msg += " (as are " + strings.Join(absent[1:], ", ") + ")"
	}
	return e
}

// required is an integer field that must be given.
func required(b *body, key string) (int64, error) {
	n, err := b.int(key)
	if err != nil {
		return 0, err
	}
	if n == nil {
		return 0, missing(key)
	}
	return *n, nil
}

// decodeCreate decodes create's VM, in the document's order: the
// request (its Password the one given, or one generated) and the
// service's field names in this call's words.
func (s *Server) decodeCreate(b *body) (service.VMCreateFrom, map[string]string, error) {
	var req service.VMCreateFrom
	var err error
	if req.DatacenterID, err = s.location(b); err != nil {
		return req, nil, err
	}
	if err := missingAll(b, createRequired); err != nil {
		return req, nil, err
	}
	host, err := b.str("hostname")
	if err != nil {
		return req, nil, err
	}
	if host == nil {
		return req, nil, missing("hostname")
	}
	if err := service.GigasHostname(*host); err != nil {
		return req, nil, svcErr(err, nil)
	}
	req.Hostname = *host
	if req.Label, err = b.str("label"); err != nil {
		return req, nil, err
	}
	if req.Label == nil {
		return req, nil, missing("label")
	}
	mem, err := required(b, "memory")
	if err != nil {
		return req, nil, err
	}
	cores, err := required(b, "cpus")
	if err != nil {
		return req, nil, err
	}
	req.Memory, req.Cores = &mem, &cores
	size, err := required(b, "primary_disk_size")
	if err != nil {
		return req, nil, err
	}
	mb, err := gbToMB("primary_disk_size", size)
	if err != nil {
		return req, nil, err
	}
	req.Disk.Size = &mb
	tid, err := required(b, "template_id")
	if err != nil {
		return req, nil, err
	}
	img, err := s.image("template_id", tid)
	if err != nil {
		return req, nil, err
	}
	req.SrcDiskID = img.DiskID
	rename := maps.Clone(vmRename)
	if req.DataDisks, err = dataDisks(b, *host, rename); err != nil {
		return req, nil, err
	}
	if len(req.DataDisks) > 0 && req.DataDisks[0].Name == *host+"-swap" {
		req.Run = swapScript
	}
	if req.CPUShares, err = b.int("cpu_shares"); err != nil {
		return req, nil, err
	}
	if req.Note, err = b.str("note"); err != nil {
		return req, nil, err
	}
	if req.Bandwidth, err = rateLimit(b); err != nil {
		return req, nil, err
	}
	pw, given, err := password(b, "initial_root_password")
	if err != nil {
		return req, nil, err
	}
	if !given {
		if pw, err = newPassword(); err != nil {
			return req, nil, err
		}
	}
	req.Password, req.PasswordRule = pw, service.PasswordGigas
	return req, rename, b.done()
}

// created answers a creation (create, clone): the new VM, as it is now
// (unbuilt, locked), with its password (shown this once) and the
// operations that build it.
func (s *Server) created(k *call, ops []service.Operation, pw string) (int, any, error) {
	var id int64
	for _, o := range ops {
		if o.Type == "vm_create" {
			id = o.VMID
		}
	}
	v, err := s.view(k, id)
	if err != nil {
		return 0, nil, err
	}
	v.password = pw
	return accepted(k, ops, vmResource(v))
}

// dataDisks reads swap_disk_size (one disk, 0 none) and
// secondary_disk_size (one size or a list: the document sends it "as
// many times as secondary disks"), in GB, as the VM's data disks: the
// swap disk first, then the secondary ones in order. rename gets each
// one's service field name. The swap disk is a blank disk named
// <hostname>-swap, which the first boot makes swap (swapScript).
func dataDisks(b *body, host string, rename map[string]string) ([]service.DataDisk, error) {
	var out []service.DataDisk
	swap, err := b.int("swap_disk_size")
	if err != nil {
		return nil, err
	}
	if swap != nil && *swap != 0 {
		mb, err := gbToMB("swap_disk_size", *swap)
		if err != nil {
			return nil, err
		}
		rename[fmt.Sprintf("data_disks[%d].size", len(out))] = "swap_disk_size"
		out = append(out, service.DataDisk{Name: host + "-swap", SizeMB: mb})
	}
	var sizes []int64
	if raw, ok := b.raw("secondary_disk_size"); ok {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			list = []json.RawMessage{raw}
		}
		for i, r := range list {
			one := &body{fields: map[string]json.RawMessage{"v": r}, used: map[string]bool{}}
			n, err := one.int("v")
			if err != nil || n == nil {
				return nil, invalid(fmt.Sprintf("secondary_disk_size[%d]", i), "must be a number of GB")
			}
			sizes = append(sizes, *n)
		}
	}
	for i, gb := range sizes {
		if gb == 0 && len(sizes) == 1 {
			break // "0": none, as swap_disk_size
		}
		field := fmt.Sprintf("secondary_disk_size[%d]", i)
		mb, err := gbToMB(field, gb)
		if err != nil {
			return nil, err
		}
		rename[fmt.Sprintf("data_disks[%d].size", len(out))] = field
		out = append(out, service.DataDisk{Name: fmt.Sprintf("%s-data%d", host, i+1), SizeMB: mb})
	}
	return out, nil
}

// swapScript is the first boot's last command when the VM has a swap
// disk, its second (xvdb on Xen, vdb under QEMU): made swap and used,
// unless it holds anything already (blkid finds a signature).
const swapScript = `for d in /dev/xvdb /dev/vdb; do if [ -b "$d" ] && ! blkid "$d" >/dev/null 2>&1; then ` +
	`mkswap -L xa-swap "$d" && swapon "$d" && echo 'LABEL=xa-swap none swap sw 0 0' >> /etc/fstab; break; fi; done`

// notHere refuses a field this host cannot honour, naming why.
func notHere(b *body, field, why string) error {
	if b.has(field) {
		return notImplemented(field, why)
	}
	b.ignore(field)
	return nil
}

// view reads a VM of the call's account as the face renders it.
func (s *Server) view(k *call, id int64) (vmView, error) {
	info, err := s.svc.VM(k.c, id)
	if err != nil {
		return vmView{}, svcErr(err, vmRename)
	}
	return s.viewOf(k, info.VM)
}

func (s *Server) viewOf(k *call, vm service.VM) (vmView, error) {
	v := vmView{vm: vm, account: k.account}
	locks, err := s.svc.VMLocks(k.c, vm.ID)
	if err != nil {
		return v, svcErr(err, vmRename)
	}
	v.locked = len(locks) > 0
	if len(vm.DiskIDs) > 0 {
		if d, err := s.svc.Disk(k.c, vm.DiskIDs[0]); err == nil && d.Source != 0 {
			for _, img := range s.svc.Images(service.ImageFilter{}) {
				if img.DiskID == d.Source {
					v.template = &img
					break
				}
			}
		}
	}
	return v, nil
}

func (s *Server) getVM(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	v, err := s.view(k, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, vmResource(v), nil
}

// listFilters are the list's query parameters and what each matches in
// the rendered resource; hostname and label match substrings.
var listFilters = map[string]string{
	"id": "id", "type": "type", "cpu_type": "cpu_type", "status": "status", "hostname": "hostname", "locked": "locked",
	"suspended": "suspended", "location_id": "location_id", "disk_type": "disk_type", "label": "label",
}

// sortFields are the document's valid sort fields (sort=field or
// sort=-field).
var sortFields = []string{"identifier", "label", "memory", "operating_system", "operating_system_distro", "status", "location_id", "disks_size"}

// listParams names every query parameter the list takes, for the
// refusal of another: a client that misspelled one learns the right
// spelling from the answer, not from the document.
var listParams = func() string {
	names := []string{"ip_address", "sort"}
	for k := range listFilters {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}()

func (s *Server) listVMs(ctx context.Context, k *call) (int, any, error) {
	q := k.r.URL.Query()
	for key := range q {
		if _, ok := listFilters[key]; !ok && key != "sort" && key != "ip_address" {
			return 0, nil, invalid(key, "unknown filter: the list takes "+listParams)
		}
	}
	var ipVMs map[int64]bool
	if addr := q.Get("ip_address"); addr != "" {
		ipVMs = map[int64]bool{}
		ips, err := s.svc.IPs(k.c, service.IPFilter{Addrs: []string{addr}}, service.Page{PerPage: 500})
		if err != nil {
			return 0, nil, svcErr(err, nil)
		}
		for _, ip := range ips {
			if ip.IfaceID == 0 {
				continue
			}
			if i, err := s.svc.Iface(ctx, k.c, ip.IfaceID); err == nil {
				ipVMs[i.VMID] = true
			}
		}
	}
	out := []map[string]any{}
	sizes := map[string]int64{}
	for page := int64(0); ; page++ {
		vms, err := s.svc.VMs(k.c, service.VMFilter{}, service.Page{PerPage: 500, Page: page})
		if err != nil {
			return 0, nil, svcErr(err, nil)
		}
		for _, vm := range vms {
			if ipVMs != nil && !ipVMs[vm.ID] {
				continue
			}
			v, err := s.viewOf(k, vm)
			if err != nil {
				continue // deleted since the list was read
			}
			res := vmResource(v)
			if !matches(res, q) {
				continue
			}
			out = append(out, res)
			sizes[res["id"].(string)] = s.disksSize(k, vm)
		}
		if len(vms) < 500 {
			break
		}
	}
	if key := q.Get("sort"); key != "" {
		desc := strings.HasPrefix(key, "-")
		field := strings.TrimPrefix(key, "-")
		if !slices.Contains(sortFields, field) {
			return 0, nil, invalid("sort", "must be one of "+strings.Join(sortFields, ", ")+", '-' first for descending")
		}
		slices.SortStableFunc(out, func(a, b map[string]any) int {
			var c int
			if field == "disks_size" {
				c = cmpInt(sizes[a["id"].(string)], sizes[b["id"].(string)])
			} else {
				c = cmpAny(a[field], b[field])
			}
			if desc {
				return -c
			}
			return c
		})
	}
	return http.StatusOK, out, nil
}

func (s *Server) disksSize(k *call, vm service.VM) int64 {
	var n int64
	for _, id := range vm.DiskIDs {
		if d, err := s.svc.Disk(k.c, id); err == nil {
			n += d.SizeMB
		}
	}
	return n
}

func matches(res map[string]any, q map[string][]string) bool {
	for key, vals := range q {
		field, ok := listFilters[key]
		if !ok || len(vals) == 0 {
			continue
		}
		got := fmt.Sprint(res[field])
		want := vals[0]
		if field == "locked" || field == "suspended" {
			if w, ok := map[string]string{"true": "1", "false": "0"}[strings.ToLower(want)]; ok {
				want = w
			}
		}
		if field == "hostname" || field == "label" {
			if !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
				return false
			}
			continue
		}
		if got != want {
			return false
		}
	}
	return true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpAny(a, b any) int {
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			return cmpInt(x, y)
		}
	}
	if a == nil || b == nil {
		return cmpInt(int64(flag(a != nil)), int64(flag(b != nil)))
	}
	x, y := fmt.Sprint(a), fmt.Sprint(b)
	if n, err := strconv.ParseInt(x, 10, 64); err == nil {
		if m, err := strconv.ParseInt(y, 10, 64); err == nil {
			return cmpInt(n, m)
		}
	}
	return strings.Compare(x, y)
}

func (s *Server) deleteVM(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	ops, err := s.svc.DestroyVM(ctx, k.c, id, k.opts(0))
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return accepted(k, ops, nil)
}

func (s *Server) rebootVM(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	b, err := k.body()
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
	do := s.svc.RebootVM
	if force != nil && *force {
		do = s.svc.ForceRebootVM
	}
	op, err := do(ctx, k.c, id, k.opts(0))
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return accepted(k, []service.Operation{op}, nil)
}

func (s *Server) resetPassword(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	op, pw, err := s.svc.ResetPassword(ctx, k.c, id, k.opts(0))
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return accepted(k, []service.Operation{op}, map[string]any{"password": pw})
}

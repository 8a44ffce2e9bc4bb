package service

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// kernels lists the kernel versions in the kernels directory.
func (s *Service) kernels() []string {
	var out []string
	entries, _ := os.ReadDir(s.cfg.KernelsDir)
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(s.cfg.KernelsDir, e.Name(), "vmlinuz")); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// KernelList is the seed's KernelList: the kernel versions a disk may
// name, by operating system.
type KernelList struct {
	Linux, BSD []string
}

// Kernels lists the kernels served in datacenter dc.
func (s *Service) Kernels(dc int64) (KernelList, error) {
	if err := s.checkDatacenter(ObjDisk, dc); err != nil {
		return KernelList{}, err
	}
	out := KernelList{Linux: []string{}, BSD: []string{}}
	for _, k := range s.kernels() {
		if strings.Contains(strings.ToLower(k), "bsd") {
			out.BSD = append(out.BSD, k)
		} else {
			out.Linux = append(out.Linux, k)
		}
	}
	return out, nil
}

// KernelOption is an option a kernel's command line takes through
// cmdline_options.
type KernelOption struct {
	// Type is "boolean" (a flag, on the line when true) or "string"
	// (key=value).
	Type        string
	Description string
}

// kernelOptions are the options every kernel here takes.
var kernelOptions = map[string]KernelOption{
	"root":    {Type: "string", Description: "root filesystem device"},
	"console": {Type: "string", Description: "console device (hvc0 on Xen)"},
	"ro":      {Type: "boolean", Description: "mount the root filesystem read-only"},
	"rw":      {Type: "boolean", Description: "mount the root filesystem read-write"},
	"quiet":   {Type: "boolean", Description: "fewer boot messages"},
	"nosep":   {Type: "boolean", Description: "disable SYSENTER/SYSEXIT"},
	"init":    {Type: "string", Description: "program run as init"},
}

// KernelOptions lists the command-line options kernel version takes.
func (s *Service) KernelOptions(version string) (map[string]KernelOption, error) {
	if !slices.Contains(s.kernels(), version) {
		return nil, Invalid(ObjDisk, "kernel_version", "unknown kernel %q (see hosting.disk.list_kernels)", version)
	}
	out := make(map[string]KernelOption, len(kernelOptions))
	for k, v := range kernelOptions {
		out[k] = v
	}
	return out, nil
}

// CmdlineOption is one value of cmdline_options: a boolean option's On,
// or a string option's Value (IsString).
type CmdlineOption struct {
	IsString bool
	On       bool
	Value    string
}

// cmdlineOf builds a command line from cmdline_options, in option order.
func cmdlineOf(obj Object, opts map[string]CmdlineOption) (string, error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		spec, known := kernelOptions[k]
		if !known {
			return "", Invalid(obj, "cmdline_options."+k, "unknown option (see hosting.disk.list_options)")
		}
		v := opts[k]
		if got := map[bool]string{false: "boolean", true: "string"}[v.IsString]; got != spec.Type {
			return "", Invalid(obj, "cmdline_options."+k, "must be a %s, got a %s", spec.Type, got)
		}
		switch {
		case !v.IsString && v.On:
			parts = append(parts, k)
		case v.IsString && (strings.ContainsAny(v.Value, " \t\n") || v.Value == ""):
			return "", Invalid(obj, "cmdline_options."+k, "must be a non-empty value without spaces")
		case v.IsString:
			parts = append(parts, k+"="+v.Value)
		}
	}
	return strings.Join(parts, " "), nil
}

// DiskUpdate is the seed's DiskUpdateDescription: what to change; nil
// leaves it as it is.
type DiskUpdate struct {
	Name *string
	// SizeMB grows the disk (never shrinks it), within the quota.
	SizeMB *int64
	// Kernel and the command line take effect at the VM's next (fresh)
	// start. Cmdline and CmdlineOptions are two ways to give it: one at
	// most.
	Kernel, Cmdline *string
	CmdlineOptions  map[string]CmdlineOption
	// SnapshotProfile is a profile id, or 0 for none.
	SnapshotProfile *int64
	Options         CallOptions
}

// diskUpdateParams checks an update's own rules and returns what it
// changes, as the operation's params.
func (s *Service) diskUpdateParams(req DiskUpdate) (map[string]string, error) {
	params := map[string]string{}
	if req.Name != nil {
		if !diskNameRE.MatchString(*req.Name) {
			return nil, Invalid(ObjDisk, "name", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
		params["name"] = *req.Name
	}
	if req.SizeMB != nil {
		params["size"] = strconv.FormatInt(*req.SizeMB, 10)
	}
	if req.Kernel != nil {
		if !slices.Contains(s.kernels(), *req.Kernel) {
			return nil, Invalid(ObjDisk, "kernel", "unknown kernel %q (see hosting.disk.list_kernels)", *req.Kernel)
		}
		params["kernel"] = *req.Kernel
	}
	if req.Cmdline != nil && req.CmdlineOptions != nil {
		return nil, Invalid(ObjDisk, "cmdline", "give cmdline or cmdline_options, not both")
	}
	if cl := req.Cmdline; cl != nil {
		if len(*cl) > 1024 || strings.ContainsAny(*cl, "\n\x00") {
			return nil, Invalid(ObjDisk, "cmdline", "must be one line of at most 1024 characters")
		}
		params["cmdline"] = *cl
	}
	if req.CmdlineOptions != nil {
		cl, err := cmdlineOf(ObjDisk, req.CmdlineOptions)
		if err != nil {
			return nil, err
		}
		params["cmdline"] = cl
	}
	if req.SnapshotProfile != nil {
		if err := s.checkProfile(*req.SnapshotProfile); err != nil {
			return nil, err
		}
		params["snapshot_profile"] = strconv.FormatInt(*req.SnapshotProfile, 10)
	}
	if len(params) == 0 {
		return nil, Missing(ObjDisk, "disk_spec (one of name, size, kernel, cmdline, cmdline_options, snapshot_profile)")
	}
	return params, nil
}

// UpdateDisk is hosting.disk.update: name, size (grow only, within
// quota), kernel and cmdline. Renaming or growing a disk attached to a
// running VM reboots it, as the seed says; a kernel or cmdline change
// takes effect at the VM's next (fresh) start.
func (s *Service) UpdateDisk(ctx context.Context, c *Caller, id int64, req DiskUpdate) (Operation, error) {
	o, err := s.checkOptions(c, req.Options, ObjDisk)
	if err != nil {
		return Operation{}, err
	}
	params, err := s.diskUpdateParams(req)
	if err != nil {
		return Operation{}, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		d, err := diskFor(tx, c, id, false)
		return d.AccountID, err
	}
	return s.submitOneOf(c, o, owner, func(tx *store.Tx) (opSpec, error) {
		d, _ := tx.Disk(id)
		if d.Type != store.DiskTypeData {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is a %s; only data disks are updated", id, d.Type)
		}
		if d.State != store.DiskCreated || s.deleting(tx, workflow.DiskKey(id)) {
			return opSpec{}, Errorf(ObjDisk, KindConflict, "disk_id: disk %d is %s", id, d.State)
		}
		after := d
		if raw, ok := params["size"]; ok {
			size, _ := strconv.ParseInt(raw, 10, 64)
			switch {
			case size < d.SizeMB:
				return opSpec{}, Invalid(ObjDisk, "size", "%d MB is less than the disk's %d MB: disks never shrink", size, d.SizeMB)
			case size > s.cfg.Limits.MaxDiskMB:
				return opSpec{}, Invalid(ObjDisk, "size", "must be at most %d MB", s.cfg.Limits.MaxDiskMB)
			}
			after.SizeMB = size
		}
		if raw, ok := params["snapshot_profile"]; ok {
			after.SnapshotProfile, _ = strconv.ParseInt(raw, 10, 64)
		}
		if used, quota, more := s.usedDiskMB(tx, d.AccountID), s.quotaMB(tx, d.AccountID), s.chargedMB(after)-s.chargedMB(d); more > 0 && used+more > quota {
			field := "size"
			if _, ok := params["size"]; !ok {
				field = "snapshot_profile"
			}
			return opSpec{}, quotaErr(ObjDisk, "disk", "%s: %d MB more would exceed the account's disk quota (%d of %d MB used)", field, more, used, quota)
		}
		sp := opSpec{typ: "disk_update", diskID: id, keys: []string{workflow.DiskKey(id)}, params: params, eta: 5}
		if d.VMID != 0 {
			sp.vmID = d.VMID
			sp.keys = append(sp.keys, workflow.VMKey(d.VMID))
			if v, _ := tx.VM(d.VMID); v.State == store.VMRunning && (params["name"] != "" || params["size"] != "") {
				params["reboot"] = "1"
			}
		}
		sp.input = diskUpdateInput(req, params)
		return sp, nil
	})
}

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

// diskListKernels is KernelList: kernel versions by operating system.
func (s *Service) diskListKernels(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjDisk
	dc, err := a.int(0, "datacenter_id")
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	if err := s.checkDatacenter(ObjDisk, dc); err != nil {
		return nil, err
	}
	linux, bsd := []any{}, []any{}
	for _, k := range s.kernels() {
		if strings.Contains(strings.ToLower(k), "bsd") {
			bsd = append(bsd, k)
		} else {
			linux = append(linux, k)
		}
	}
	return map[string]any{"linux": linux, "bsd": bsd}, nil
}

// kernelOptions are the command-line options a kernel takes through
// cmdline_options, with their types.
var kernelOptions = map[string]any{
	"root":    map[string]any{"type": "string", "description": "root filesystem device"},
	"console": map[string]any{"type": "string", "description": "console device (hvc0 on Xen)"},
	"ro":      map[string]any{"type": "boolean", "description": "mount the root filesystem read-only"},
	"rw":      map[string]any{"type": "boolean", "description": "mount the root filesystem read-write"},
	"quiet":   map[string]any{"type": "boolean", "description": "fewer boot messages"},
	"nosep":   map[string]any{"type": "boolean", "description": "disable SYSENTER/SYSEXIT"},
	"init":    map[string]any{"type": "string", "description": "program run as init"},
}

func (s *Service) diskListOptions(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjDisk
	k, err := a.str(0, "kernel_version")
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	if !slices.Contains(s.kernels(), k) {
		return nil, invalid(ObjDisk, "kernel_version", "unknown kernel %q (see hosting.disk.list_kernels)", k)
	}
	return kernelOptions, nil
}

// cmdlineFromOptions builds a command line from cmdline_options.
func cmdlineFromOptions(obj Object, m map[string]any) (string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		spec, known := kernelOptions[k]
		if !known {
			return "", invalid(obj, "cmdline_options."+k, "unknown option (see hosting.disk.list_options)")
		}
		want := map[any]string{"boolean": "a boolean", "string": "a string"}[spec.(map[string]any)["type"]]
		switch v := m[k].(type) {
		case bool:
			if want != "a boolean" {
				return "", wrongType(obj, "cmdline_options."+k, want, v)
			}
			if v {
				parts = append(parts, k)
			}
		case string:
			if want != "a string" {
				return "", wrongType(obj, "cmdline_options."+k, want, v)
			}
			if strings.ContainsAny(v, " \t\n") || v == "" {
				return "", invalid(obj, "cmdline_options."+k, "must be a non-empty value without spaces")
			}
			parts = append(parts, k+"="+v)
		default:
			return "", wrongType(obj, "cmdline_options."+k, want, v)
		}
	}
	return strings.Join(parts, " "), nil
}

// diskUpdate is hosting.disk.update: name, size (grow only, within
// quota), kernel and cmdline. Renaming or growing a disk attached to a
// running VM reboots it, as the seed says; a kernel or cmdline change
// takes effect at the VM's next (fresh) start.
func (s *Service) diskUpdate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjDisk
	id, err := a.int(0, "disk_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "disk_spec", false)
	if err != nil {
		return nil, err
	}
	o, err := s.callOpts(c, a, 2)
	if err != nil {
		return nil, err
	}
	params := map[string]string{}
	if sp.has("name") {
		name, err := sp.str("name", "", false)
		if err != nil {
			return nil, err
		}
		if !diskNameRE.MatchString(name) {
			return nil, invalid(ObjDisk, "name", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
		params["name"] = name
	}
	if sp.has("size") {
		size, err := sp.int("size", 0, false)
		if err != nil {
			return nil, err
		}
		params["size"] = strconv.FormatInt(size, 10)
	}
	if sp.has("kernel") {
		k, err := sp.str("kernel", "", false)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(s.kernels(), k) {
			return nil, invalid(ObjDisk, "kernel", "unknown kernel %q (see hosting.disk.list_kernels)", k)
		}
		params["kernel"] = k
	}
	if sp.has("cmdline") && sp.has("cmdline_options") {
		return nil, invalid(ObjDisk, "cmdline", "give cmdline or cmdline_options, not both")
	}
	if sp.has("cmdline") {
		cl, err := sp.str("cmdline", "", false)
		if err != nil {
			return nil, err
		}
		if len(cl) > 1024 || strings.ContainsAny(cl, "\n\x00") {
			return nil, invalid(ObjDisk, "cmdline", "must be one line of at most 1024 characters")
		}
		params["cmdline"] = cl
	}
	if sp.has("cmdline_options") {
		raw := sp.raw("cmdline_options")
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, wrongType(ObjDisk, "cmdline_options", "a struct", raw)
		}
		cl, err := cmdlineFromOptions(ObjDisk, m)
		if err != nil {
			return nil, err
		}
		params["cmdline"] = cl
	}
	if _, ok := sp.m["snapshot_profile"]; ok {
		id, err := s.parseProfile(sp)
		if err != nil {
			return nil, err
		}
		params["snapshot_profile"] = strconv.FormatInt(id, 10)
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return nil, missing(ObjDisk, "disk_spec (one of name, size, kernel, cmdline, cmdline_options, snapshot_profile)")
	}
	owner := func(tx *store.Tx) (int64, error) {
		d, err := diskFor(tx, c, id, false)
		return d.AccountID, err
	}
	return s.submitOne(c, o, "hosting.disk.update", a.vals, owner, func(tx *store.Tx) (opSpec, error) {
		d, _ := tx.Disk(id)
		if d.Type != store.DiskTypeData {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is a %s; only data disks are updated", id, d.Type)
		}
		if d.State != store.DiskCreated || s.deleting(tx, workflow.DiskKey(id)) {
			return opSpec{}, fault(ObjDisk, KindConflict, "disk_id: disk %d is %s", id, d.State)
		}
		after := d
		if raw, ok := params["size"]; ok {
			size, _ := strconv.ParseInt(raw, 10, 64)
			switch {
			case size < d.SizeMB:
				return opSpec{}, invalid(ObjDisk, "size", "%d MB is less than the disk's %d MB: disks never shrink", size, d.SizeMB)
			case size > s.cfg.Limits.MaxDiskMB:
				return opSpec{}, invalid(ObjDisk, "size", "must be at most %d MB", s.cfg.Limits.MaxDiskMB)
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
			return opSpec{}, fault(ObjDisk, KindQuota, "%s: %d MB more would exceed the account's disk quota (%d of %d MB used)", field, more, used, quota)
		}
		sp := opSpec{typ: "disk_update", diskID: id, keys: []string{workflow.DiskKey(id)}, params: params, eta: 5}
		if d.VMID != 0 {
			sp.vmID = d.VMID
			sp.keys = append(sp.keys, workflow.VMKey(d.VMID))
			if v, _ := tx.VM(d.VMID); v.State == store.VMRunning && (params["name"] != "" || params["size"] != "") {
				params["reboot"] = "1"
			}
		}
		return sp, nil
	})
}

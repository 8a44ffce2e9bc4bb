package service

import (
	"fmt"
	"strconv"

	"github.com/xenagent/xenagent/agent/workflow"
)

// vm.update and disk.update collect what changes as the params a client
// reads back; their operations' typed inputs are made from those params
// once they are checked. (A handler that reads its arguments into a typed
// request would fill the input from it instead.)

// withInput is sp with the input a reserve function made, or its error.
func (sp opSpec) withInput(in any, err error) (opSpec, error) {
	sp.input = in
	return sp, err
}

// vmUpdateInput is the input of a vm_update whose params the handler
// checked.
func vmUpdateInput(params map[string]string) (workflow.VMUpdate, error) {
	var in workflow.VMUpdate
	var err error
	for key, dst := range map[string]**int64{"memory": &in.Memory, "vm_max_memory": &in.MaxMemory, "cores": &in.Cores} {
		if *dst, err = paramInt(params, key); err != nil {
			return in, err
		}
	}
	if v, ok := params["console"]; ok {
		on := v == "1"
		in.Console = &on
	}
	if v, ok := params["ssh_key"]; ok {
		in.SSHKey = &v
	}
	return in, nil
}

// diskUpdateInput is the input of a disk_update whose params the handler
// checked.
func diskUpdateInput(params map[string]string) (workflow.DiskUpdate, error) {
	in := workflow.DiskUpdate{Reboot: params["reboot"] == "1"}
	var err error
	if in.SizeMB, err = paramInt(params, "size"); err != nil {
		return in, err
	}
	if in.SnapshotProfile, err = paramInt(params, "snapshot_profile"); err != nil {
		return in, err
	}
	for key, dst := range map[string]**string{"name": &in.Name, "kernel": &in.Kernel, "cmdline": &in.Cmdline} {
		if v, ok := params[key]; ok {
			*dst = &v
		}
	}
	return in, nil
}

// paramInt is an integer param, nil when absent.
func paramInt(params map[string]string, key string) (*int64, error) {
	raw, ok := params[key]
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("param %s: %q is not an integer: %w", key, raw, err)
	}
	return &n, nil
}

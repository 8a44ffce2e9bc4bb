package service

import "github.com/xenagent/xenagent/agent/workflow"

// vmUpdateInput is the input of the vm_update req asks for.
func vmUpdateInput(req VMUpdate) workflow.VMUpdate {
	in := workflow.VMUpdate{Memory: req.Memory, MaxMemory: req.MaxMemory, Cores: req.Cores, Console: req.Console, SSHKey: req.SSHKey, Hostname: req.Hostname}
	req.VMTune.input(&in)
	return in
}

// diskUpdateInput is the input of the disk_update req asks for. The
// command line (given as is, or made of cmdline_options) and the reboot
// are what the service decided, as its params say.
func diskUpdateInput(req DiskUpdate, params map[string]string) workflow.DiskUpdate {
	in := workflow.DiskUpdate{Name: req.Name, SizeMB: req.SizeMB, Kernel: req.Kernel, SnapshotProfile: req.SnapshotProfile,
		Reboot: params["reboot"] == "1"}
	if cl, ok := params["cmdline"]; ok {
		in.Cmdline = &cl
	}
	return in
}

package gandi

import "github.com/xenagent/xenagent/agent/service"

// renderVMInfoDisk is a disk as vm.info shows it: disk.list's DiskReturn
// with kernel_cmdline, as the recorded responses of the real API have it
// (the seed lists kernel_cmdline for disk.info only; the recording wins
// on field names).
func renderVMInfoDisk(d service.VMDisk) any {
	out := renderVMDisk(d)
	out["kernel_cmdline"] = kernelCmdline(d.Cmdline)
	return out
}

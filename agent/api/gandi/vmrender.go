package gandi

import "github.com/xenagent/xenagent/agent/service"

// renderVM is VMReturn.
func renderVM(v service.VM) map[string]any {
	out := map[string]any{
		"id": v.ID, "hostname": v.Hostname, "description": v.Description, "memory": v.Memory,
		"vm_max_memory": v.MaxMemory, "cores": v.Cores, "ai_active": v.AIActive, "console": v.Console,
		"datacenter_id": v.DatacenterID, "state": v.State, "flex_shares": 0,
		"disks_id": append([]int64{}, v.DiskIDs...), "ifaces_id": append([]int64{}, v.IfaceIDs...),
		"date_created": v.DateCreated, "date_updated": v.DateUpdated,
	}
	renderTune(out, v) // extensions (tune.go)
	return out
}

// renderVMInfo is VMReturn with what only vm.info returns.
func renderVMInfo(v service.VMInfo) map[string]any {
	out := renderVM(v.VM)
	out["disks"] = renderAll(v.Disks, renderVMInfoDisk)
	out["ifaces"] = renderAll(v.Ifaces, func(i service.Iface) any { return renderIface(i, true) })
	out["console_url"] = ""
	// Extensions (iso.go): the ISO attached as CD-ROM and the boot device.
	out["iso_id"], out["boot_type"] = nullable(v.ISOID), v.BootType
	out["graph_urls"] = map[string]any{"vcpu": []any{}, "vdi": []any{}, "vif": []any{}}
	out["probes"] = map[string]any{}
	out["triggers"] = []any{}
	return out
}

// renderVMDisk is DiskReturn as disk.list renders it.
func renderVMDisk(d service.VMDisk) map[string]any {
	nullStr := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return map[string]any{
		"id": d.ID, "name": d.Name, "size": d.SizeMB, "total_size": d.TotalSizeMB, "state": d.State, "type": d.Type,
		"datacenter_id": d.DatacenterID, "kernel_version": nullStr(d.KernelVersion), "label": nullStr(d.Label),
		"source": nullable(d.Source), "visibility": d.Visibility, "vms_id": append([]int64{}, d.VMIDs...), "is_boot_disk": d.IsBootDisk,
		"can_snapshot": d.CanSnapshot, "is_migrating": d.IsMigrating, "snapshots_id": append([]int64{}, d.SnapshotIDs...),
		"date_created": d.DateCreated, "date_updated": d.DateUpdated, "snapshot_profile_id": nullable(d.SnapshotProfileID),
		"entity_id": d.EntityID,
	}
}

// withOwner adds account_id, the owner, to an info call's answer for the
// operator (an extension): the central tier acts for many accounts, and
// a move's ticket names the one it admits. An account's key sees only
// its own, and is not told its id again.
func withOwner(c *service.Caller, out map[string]any, accountID int64) {
	if c.Operator {
		out["account_id"] = accountID
	}
}

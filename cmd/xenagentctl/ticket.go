package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The ticket requests vm migrate, disk migrate and iface migrate send to
// the target (hosting.migration.ticket), built from what the source's
// info calls answer: pure functions of those answers, so that a table
// of answers tests them.

// ticketExpires is how long a ticket the ctl asks for may begin its
// transfer, in seconds: the source is asked right after, so minutes
// are plenty, and a ticket the source then refuses holds the target's
// room only that long (the agent's default is an hour).
const ticketExpires = 300

// sameNetwork is -same-network: auto decides from both hosts'
// host.info, yes and no force it.
type sameNetwork string

const (
	netAuto sameNetwork = "auto"
	netYes  sameNetwork = "yes"
	netNo   sameNetwork = "no"
)

func parseSameNetwork(s string) (sameNetwork, error) {
	switch v := sameNetwork(s); v {
	case netAuto, netYes, netNo:
		return v, nil
	}
	return "", fmt.Errorf("-same-network %q: must be auto, yes or no", s)
}

// decide says whether addresses are kept. auto: both hosts' host.info
// name the same datacenter (datacenter.id, not 0): the agent's own
// configuration says which network it serves through its datacenter
// (an agent knows no other), so hosts of one datacenter share the
// network the addresses are routed on. A target whose pool does not
// hold the address refuses the ticket, naming ifaces[N].ip: then
// -same-network no moves the VM with a new address from the target's pool.
func (s sameNetwork) decide(srcHost, dstHost map[string]any) bool {
	switch s {
	case netYes:
		return true
	case netNo:
		return false
	}
	a, b := datacenterOf(srcHost), datacenterOf(dstHost)
	return a != 0 && a == b
}

func datacenterOf(h map[string]any) int64 {
	dc, _ := h["datacenter"].(map[string]any)
	id, _ := dc["id"].(int64)
	return id
}

// accountOf is the owner's account: the answer's account_id where the
// agent gives one, else -account (0: not given). The Gandi face's
// VMReturn, DiskReturn and IfaceReturn do not name the account, and
// the operator key has no call listing accounts: the operator says it.
// A wrong one is refused by the target at begin (vm.account_id: the
// ticket admits account N's vm) and the source rolls back.
func accountOf(info map[string]any, flag int64) (int64, error) {
	if id, ok := info["account_id"].(int64); ok && id > 0 {
		if flag != 0 && flag != id {
			return 0, fmt.Errorf("-account %d: the agent says the owner is account %d", flag, id)
		}
		return id, nil
	}
	if flag > 0 {
		return flag, nil
	}
	return 0, errors.New("-account is required: the agent does not say which account owns it, and the ticket names the account")
}

// vmTicket is the ticket request for moving the VM vm.info answered
// with: its id, memory and cores, each disk's id and size, each iface's
// id and either its address (same network) or the version of the one
// the target leases. Refused before anything is asked: what the agent
// would refuse anyway (an ISO, snapshots, a move under way), so that no
// ticket holds the target's room for a move that cannot start.
func vmTicket(info map[string]any, account int64, same bool) (map[string]any, error) {
	id, _ := info["id"].(int64)
	if id <= 0 {
		return nil, errors.New("vm.info: no id")
	}
	if iso, ok := info["iso_id"].(int64); ok && iso != 0 {
		return nil, fmt.Errorf("vm %d: ISO %d is attached (this host's): detach it first (vm iso detach %d)", id, iso, id)
	}
	memory, _ := info["memory"].(int64)
	cores, _ := info["cores"].(int64)
	if memory <= 0 || cores <= 0 {
		return nil, fmt.Errorf("vm %d: vm.info gives no memory or cores", id)
	}
	rawDisks, _ := info["disks"].([]any)
	if len(rawDisks) == 0 {
		return nil, fmt.Errorf("vm %d: vm.info lists no disks (a vm moves with its system disk)", id)
	}
	var disks []any
	for n, d := range rawDisks {
		m, _ := d.(map[string]any)
		td, err := ticketDisk(m, fmt.Sprintf("vm %d: disks[%d]", id, n))
		if err != nil {
			return nil, err
		}
		disks = append(disks, td)
	}
	rawIfaces, _ := info["ifaces"].([]any)
	ifaces := []any{}
	for n, i := range rawIfaces {
		m, _ := i.(map[string]any)
		ti, err := ticketIface(m, same, fmt.Sprintf("vm %d: ifaces[%d]", id, n))
		if err != nil {
			return nil, err
		}
		ifaces = append(ifaces, ti)
	}
	return map[string]any{"account_id": account, "vm_id": id, "memory": memory, "cores": cores,
		"disks": disks, "ifaces": ifaces, "expires": int64(ticketExpires)}, nil
}

// ticketDisk is {id, size} of a disk as vm.info or disk.info show it.
func ticketDisk(d map[string]any, where string) (map[string]any, error) {
	id, _ := d["id"].(int64)
	size, _ := d["size"].(int64)
	if id <= 0 || size <= 0 {
		return nil, fmt.Errorf("%s: no id or size", where)
	}
	if snaps, _ := d["snapshots_id"].([]any); len(snaps) > 0 {
		return nil, fmt.Errorf("%s: disk %d has %d snapshot(s), which are this host's: delete them first", where, id, len(snaps))
	}
	if mig, _ := d["is_migrating"].(bool); mig {
		return nil, fmt.Errorf("%s: disk %d is moving already", where, id)
	}
	return map[string]any{"id": id, "size": size}, nil
}

// ticketIface is an iface of the ticket: on the same network its
// (first) address is kept; else the target leases one of the same
// version from its pool. A move carries one address per iface.
func ticketIface(i map[string]any, same bool, where string) (map[string]any, error) {
	id, _ := i["id"].(int64)
	if id <= 0 {
		return nil, fmt.Errorf("%s: no id", where)
	}
	out := map[string]any{"id": id, "same_network": same}
	ips, _ := i["ips"].([]any)
	var addr string
	version := int64(4)
	if len(ips) > 0 {
		ip, _ := ips[0].(map[string]any)
		addr, _ = ip["ip"].(string)
		if v, ok := ip["version"].(int64); ok && v != 0 {
			version = v
		}
	}
	if same {
		if addr == "" {
			return nil, fmt.Errorf("%s: iface %d has no address to keep (-same-network no leases one on the target)", where, id)
		}
		out["ip"] = addr
	} else {
		out["ip_version"] = version
	}
	return out, nil
}

// detachedDiskTicket is the ticket request for a disk disk.info answered
// with, attached to no VM.
func detachedDiskTicket(info map[string]any, account int64) (map[string]any, error) {
	id, _ := info["id"].(int64)
	if vms, _ := info["vms_id"].([]any); len(vms) > 0 {
		return nil, fmt.Errorf("disk %d is attached to vm %v: move the vm (vm migrate)", id, vms[0])
	}
	if typ, _ := info["type"].(string); typ != "" && typ != "data" {
		return nil, fmt.Errorf("disk %d is of type %s: only data disks move", id, typ)
	}
	d, err := ticketDisk(info, fmt.Sprintf("disk %d", id))
	if err != nil {
		return nil, err
	}
	return map[string]any{"account_id": account, "disks": []any{d}, "expires": int64(ticketExpires)}, nil
}

// detachedIfaceTicket is the ticket request for an iface iface.info
// answered with, attached to no VM.
func detachedIfaceTicket(info map[string]any, account int64, same bool) (map[string]any, error) {
	id, _ := info["id"].(int64)
	if vm, ok := info["vm_id"].(int64); ok && vm != 0 {
		return nil, fmt.Errorf("iface %d is attached to vm %d: move the vm (vm migrate)", id, vm)
	}
	i, err := ticketIface(info, same, fmt.Sprintf("iface %d", id))
	if err != nil {
		return nil, err
	}
	return map[string]any{"account_id": account, "ifaces": []any{i}, "expires": int64(ticketExpires)}, nil
}

// targetURLs reads -to: the target's API URL as -url takes it
// (https://host2:8443/xmlrpc/), or its base address (https://host2:8443,
// the API then at /xmlrpc/). It returns both: the API's for the ticket,
// the base for the source's hosting.vm.migrate, which takes only that.
func targetURLs(to string) (api, base string, err error) {
	u, err := url.Parse(to)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return "", "", fmt.Errorf("-to %q: must be the target agent's URL, https://host:port[/xmlrpc/]", to)
	}
	base = u.Scheme + "://" + u.Host
	api = to
	if strings.Trim(u.Path, "/") == "" {
		api = base + "/xmlrpc/"
	}
	return api, base, nil
}

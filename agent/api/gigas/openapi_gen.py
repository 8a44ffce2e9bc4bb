# openapi_gen.py writes openapi.json, the Gigas face's OpenAPI 3 document:
#   python3 openapi_gen.py > openapi.json   (go generate does it)
# openapi_test.go checks the result against the server: edit here, regenerate, run it.
import json, collections

def S(t, **kw):
    d = {"type": t}; d.update(kw); return d
def N(t, **kw):
    d = S(t, **kw); d["nullable"] = True; return d
def ref(n): return {"$ref": "#/components/schemas/" + n}
def obj(props, required=None, extra=False, desc=None):
    d = {"type": "object", "properties": props, "required": sorted(props) if required is None else required, "additionalProperties": extra}
    if desc: d["description"] = desc
    return d
def arr(items, desc=None):
    d = {"type": "array", "items": items}
    if desc: d["description"] = desc
    return d

intlike = {"oneOf": [S("integer"), S("string", pattern="^-?[0-9]+$")], "description": "an integer, as a JSON number or a string (the document's examples send strings)"}
boollike = {"oneOf": [S("boolean"), S("string", enum=["true", "false", "1", "0", "True", "False"]), S("integer", enum=[0, 1])], "description": "a boolean, as JSON or a string"}
date = N("string", description="UTC, 2018-05-29T08:20:49")
idn = N("string", description="an id, as a string; null when none")

vm_props = collections.OrderedDict([
    ("id", S("string")), ("identifier", S("string")), ("account_id", S("integer")), ("user_id", idn),
    ("label", S("string")), ("hostname", S("string")), ("note", N("string")),
    ("memory", S("integer", description="MB")), ("cpus", S("integer")), ("cpu_shares", S("integer", description="CPU weight, 0 the hypervisor's default")),
    ("cpu_type", N("string")), ("type", S("string", enum=["standard"])), ("vip", S("boolean")),
    ("status", S("string", enum=["unbuilt", "offline", "online", "deleted"])),
    ("locked", S("integer", enum=[0, 1], description="1 while an operation runs on the VM or the operator's lock holds")),
    ("suspended", S("integer", enum=[0, 1], description="1 while the VM is paused")),
    ("error", S("integer")), ("strict_virtual_machine_id", idn), ("template_id", idn), ("template_label", N("string")),
    ("operating_system", N("string")), ("operating_system_distro", N("string")),
    ("initial_password", N("string", description="only in the answer to the creation")),
    ("hypervisor_id", idn), ("location_id", S("string")), ("cdrom", S("integer", enum=[0, 1])),
    ("boot_type", S("string", enum=["default", "cdrom"])), ("booted_from", S("string", enum=["hd", "cdrom"])),
    ("disk_type", S("string")), ("created_at", date), ("updated_at", date),
])
op_props = collections.OrderedDict([
    ("id", S("string")), ("type", S("string")), ("status", S("string", enum=["WAIT", "RUN", "DONE", "ERROR", "CANCEL"])),
    ("virtual_machine_id", idn), ("disk_id", idn), ("interface_id", idn), ("ip_address_id", idn),
    ("error", N("string")), ("eta", S("integer", description="seconds")), ("created_at", date), ("started_at", date), ("updated_at", date),
    ("href", S("string", description="this operation's poll URL path")),
])
NIC = {"id": S("string"), "virtual_machine_id": S("string"), "label": S("string"), "network_id": S("string", enum=["1"], description="the host's one network"), "public": S("boolean"), "primary": S("boolean"), "rate_limit": S("number", description="Mb/s, 0 unlimited"), "ip_addresses": arr(S("string")), "status": S("string"), "created_at": date, "updated_at": date}
acc_props = {"operations": arr(ref("Operation")), "queue_token": N("string", description="the last operation's id")}

schemas = {
    "Error": obj({"code": S("string", enum=["missing_parameter", "invalid_parameter", "unauthorized", "forbidden", "not_found", "method_not_allowed", "duplicate", "busy", "conflict", "precondition_failed", "request_too_large", "quota_exceeded", "rate_limited", "not_implemented", "unavailable", "timeout", "internal_error"]), "message": S("string", description="field: rule")}),
    "VirtualMachine": obj(dict(vm_props)),
    "VirtualMachineAccepted": obj(dict(list(vm_props.items()) + list(acc_props.items())), desc="a VM being created, with the operations that build it (a retry answered from its Idempotency-Key: the VM without its password, or the operations only once it is gone)", required=["operations", "queue_token"]),
    "Operation": obj(dict(op_props)),
    "Accepted": obj(acc_props, required=["operations", "queue_token"]),
    "PasswordAccepted": obj(dict(acc_props, password=S("string", description="the new password, shown once: absent when a retry is answered from its Idempotency-Key")), required=["operations", "queue_token"], desc="reset_password's answer"),
    "IsoAccepted": obj(dict(acc_props, id=S("string", description="the iso join's id (the ISO's: a VM has one CD-ROM); absent in a retry's answer")), required=["operations", "queue_token"]),
    "Disk": obj({"id": S("string"), "virtual_machine_id": S("string"), "label": S("string"), "size": S("number", description="GB"), "primary": S("boolean"), "position": S("integer"), "status": S("string"), "created_at": date, "updated_at": date}),
    "NetworkInterface": obj(dict(NIC)),
    "NetworkInterfaceAdded": obj(dict(NIC, **acc_props), required=sorted(NIC) + ["operations", "queue_token"], desc="an interface added to an offline VM: the interface as it is now, with the operations that finish it"),
    "IPAddress": obj({"id": S("string"), "address": S("string"), "version": S("integer", enum=[4, 6]), "interface_id": S("string"), "virtual_machine_id": S("string"), "network_id": S("string", enum=["1"]), "public": S("boolean"), "reverse": N("string"), "status": S("string"), "created_at": date, "updated_at": date}),
    "FirewallRule": obj({"interface_id": S("string"), "position": S("integer"), "policy": S("string", enum=["accept", "drop"]), "command": S("string", enum=["accept", "drop"]), "protocol": S("string", enum=["tcp", "udp", "icmp", "all"]), "port": N("string", description="a port or lo-hi"), "address": N("string", description="source address or CIDR")}),
    "IsoJoin": obj({"id": S("string"), "iso_id": S("string"), "virtual_machine_id": S("string"), "label": N("string"), "boot_type": S("string", enum=["default", "cdrom"])}),
    "Console": obj({"virtual_machine_id": S("string"), "type": S("string", enum=["web"]), "url": S("string", description="single-use link to the console page"), "expires_at": date}),
    "Snapshot": obj({"id": S("string"), "virtual_machine_id": S("string"), "disk_id": S("string"), "label": S("string"), "size": S("number", description="GB"), "automatic": S("boolean"), "status": S("string"), "created_at": date}),
    "CPUStats": obj({"lapse": S("string"), "machine_id": S("integer"), "data": arr(N("number"), desc="CPU use in percent of the VM's vCPUs, one per time unit, null where nothing was measured"), "time_units": S("string")}),
    "TrafficPoint": obj({"traffic_in": N("number", description="bytes into the VM in the time unit"), "traffic_out": N("number", description="bytes out of the VM")}),
    "Traffic": obj({"network_id": S("integer", enum=[1]), "is_public": S("boolean"), "interface_id": S("integer"), "data": {"type": "object", "additionalProperties": ref("TrafficPoint"), "description": "time unit index ('0' first) to traffic"}}),
    "BWStats": obj({"date_from": S("integer", description="UNIX time: the start of the span answered (for -1Y, a month ago)"), "date_to": S("integer"), "traffic": arr(arr(ref("Traffic")), desc="one list per interface")}),
    "Lock": obj({"id": S("string"), "virtual_machine_id": S("string"), "lock_type": S("string", enum=["Admin", "Task", "Snapshot"]), "description": S("string"), "hypervisor_id": idn, "created_at": date, "updated_at": date}),
    # Request bodies.
    "VirtualMachineCreate": obj({
        "memory": intlike, "max_memory": dict(intlike, description="deprecated, ignored"), "cpus": intlike, "hostname": S("string", pattern="^[A-Za-z]([A-Za-z0-9-]{0,23}[A-Za-z0-9])?$"),
        "label": S("string"), "primary_disk_size": dict(intlike, description="GB"), "template_id": intlike, "location_id": dict(intlike, description="this host's location only"),
        "cpu_shares": intlike, "swap_disk_size": dict(intlike, description="GB, 0 none: a disk after the primary, named <hostname>-swap, made swap at the first boot (cloud-init)"),
        "secondary_disk_size": {"oneOf": [intlike, arr(intlike)], "description": "GB: one size or a list, a blank disk each, after the swap disk"},
        "initial_root_password": S("string", pattern="^[A-Za-z0-9_-]{6,32}$", description="generated and returned when absent"),
        "note": S("string"), "rate_limit": dict(intlike, description="Mb/s, 0 unlimited"), "primary_network_id": dict(intlike, description="the host's one network, 1, only"),
        "required_virtual_machine_build": dict(boollike, description="true only"),
    }, required=["memory", "cpus", "hostname", "label", "primary_disk_size", "template_id"]),
    "VirtualMachineEdit": obj({
        "memory": intlike, "max_memory": intlike, "cpus": intlike, "label": S("string"), "note": S("string"),
        "hostname": S("string", description="informative: the guest gets it only from a seed written later (reset_password, a rebuild)"),
        "primary_disk_size": dict(intlike, description="GB, grow only"), "boot_type": S("string", enum=["default", "cdrom"]),
        "cpu_shares": intlike, "rate_limit": dict(intlike, description="Mb/s of the first interface, 0 unlimited"), "noreboot": boollike,
        "console": dict(boollike, description="extension: activates (true) or deactivates the console remote_console links to; deactivating revokes the links handed out (remote_console activates it again)"),
        "status": S("string", enum=["online", "offline"]), "force": boollike,
        "template_id": dict(intlike, description="rebuild from this template"), "required_startup": boollike,
    }, required=[], desc="one of: an edit (memory, cpus, label, note, primary_disk_size, boot_type, cpu_shares, rate_limit); status (with force); template_id (a rebuild, with required_startup)"),
    "Reboot": obj({"force": boollike}, required=[]),
    "ApplyDisks": obj({"required_format_disk": dict(boollike, description="false only: true gives 501 (this agent formats no disk)")}, required=[]),
    "NetworkInterfaceAdd": obj({"network_id": dict(intlike, description="the host's one network, 1, only"), "network_interface_id": dict(intlike, description="a free interface of the account to attach; absent: a new one"), "label": S("string", description="ignored: an interface's label is eth<position>"), "primary": dict(boollike, description="changes nothing: the VM's only interface is its primary (a VM with one gets 412)"), "rate_limit": dict(intlike, description="Mb/s of a new interface, 0 unlimited")}, required=[]),
    "ApplyFirewallRules": obj({"interface_id": intlike, "policy": S("string", enum=["accept", "drop"]),
        "rules": arr(obj({"command": S("string", enum=["accept", "drop"]), "protocol": S("string", enum=["tcp", "udp", "icmp", "all"]), "port": {"oneOf": [S("integer"), S("string")], "description": "a port or a range lo-hi, 1 to 65535; tcp or udp only"}, "address": S("string", description="source address or CIDR")}, required=["command"], desc="any other key (action, port_min, source: the XML-RPC face's) is refused"))},
        required=[], desc="extension: the rules to apply (none: apply the current ones again)"),
    "IsoMount": obj({"iso_id": intlike}, required=["iso_id"]),
    "Clone": obj({"hostname": S("string"), "label": S("string"), "memory": intlike, "max_memory": intlike, "cpus": intlike, "required_startup": dict(boollike, description="default false: the clone is built, then stopped")}, required=["hostname", "label"]),
    "LockCreate": obj({"description": S("string")}),
}

def resp(desc, schema=None):
    r = {"description": desc}
    if schema is not None:
        r["content"] = {"application/json": {"schema": schema}}
    return r

ERR = {
    "400": "a parameter is missing or breaks its rule", "401": "no key, or an unknown one", "403": "another account's key, an operator-only call, or the account's quota",
    "404": "no such object in the account", "405": "a method this path does not serve (any but the ones listed for it): the Allow header lists those it serves", "409": "the object is busy or its state forbids the call",
    "412": "the VM has an interface on the host's one, public, network already (the document's 412)", "413": "request body too large", "429": "too many bad keys from this source", "501": "a central tier's, or not served yet", "503": "the agent cannot record anything now",
    "500": "the agent failed", "504": "the work the call waits for is still running (the message names its operation): poll it and ask again",
}
def errs(*codes):
    return {c: resp(ERR[c], ref("Error")) for c in codes}

common = ["400", "401", "403", "404", "429", "500"]
mut = common + ["409", "413", "501", "503"]

# An id in a path has one spelling (server.go's pathID): "07", "+7" and "0" are 400.
P = lambda n, d="": {"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
    "description": (d + "; " if d else "") + "a positive integer in its canonical spelling (no sign, no leading zero): any other is 400 naming the parameter"}
Q = lambda n, d="": {"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
acct = P("account_id"); vmp = P("virtual_machine_id")

def op(summary, ok, okdesc, schema, params, body=None, codes=None, okcode=None, extra_ok=None):
    o = {"summary": summary, "parameters": params, "responses": {}}
    o["responses"][okcode or ok] = resp(okdesc, schema)
    if extra_ok:
        for c, (d, s) in extra_ok.items():
            o["responses"][c] = resp(d, s)
    o["responses"].update(errs(*(codes or common)))
    if okcode == "202" or ok == "202":
        o["parameters"] = params + [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 120},
            "description": "a retry of the same call with the same key gets the first call's operations and does nothing again; a call refused after some of its steps were accepted (an edit of several kinds) answers its retry 409 naming them"}]
    if body:
        o["requestBody"] = {"required": False, "content": {"application/json": {"schema": ref(body)}}}
    return o

V = "/account/{account_id}/virtual_machine/{virtual_machine_id}"
paths = {}
def add(path, method, o):
    paths.setdefault(path, {})[method] = o

add("/account/{account_id}/virtual_machine", "post", op("Create a virtual machine from a template", "202", "accepted: the VM (unbuilt, locked) with its initial_password and the operations to poll", ref("VirtualMachineAccepted"), [acct], "VirtualMachineCreate", mut))
add("/account/{account_id}/virtual_machines", "get", op("List the account's virtual machines", "200", "the VMs", arr(ref("VirtualMachine")),
    [acct] + [Q(n) for n in ["id", "type", "cpu_type", "status", "hostname", "ip_address", "locked", "suspended", "location_id", "disk_type", "label"]] + [Q("sort", "identifier, label, memory, operating_system, operating_system_distro, status, location_id or disks_size; '-' first for descending")], None, common))
add(V, "get", op("Get a virtual machine", "200", "the VM", ref("VirtualMachine"), [acct, vmp], None, common))
add(V, "put", op("Edit, power (status online/offline, force) or rebuild (template_id) a virtual machine; an edit that changes nothing is 400", "202", "accepted", ref("Accepted"), [acct, vmp], "VirtualMachineEdit", mut,
    extra_ok={"200": ("status offline of a VM offline already, with no work under way: the VM, and nothing queued", ref("VirtualMachine"))}))
add(V, "delete", op("Destroy a virtual machine with all its disks, interfaces and addresses, and the snapshots (backups) of its disks", "202", "accepted: vm_delete, then a disk_delete for every other disk and every manual snapshot of its disks, an iface_delete for every other interface; a snapshot that cannot be deleted now (being made, in a rollback, attached elsewhere) makes it 409, naming it, and nothing is submitted", ref("Accepted"), [acct, vmp], None, mut))
add(V + "/reboot", "post", op("Reboot", "202", "accepted", ref("Accepted"), [acct, vmp], "Reboot", mut))
add(V + "/reset_password", "post", op("Reset the root password (applied at the next boot)", "202", "accepted, with the new password", ref("PasswordAccepted"), [acct, vmp], None, mut))
add(V + "/disks", "get", op("List the VM's disks", "200", "disks, the primary first", arr(ref("Disk")), [acct, vmp], None, common))
add(V + "/network_interfaces", "get", op("List the VM's interfaces", "200", "interfaces", arr(ref("NetworkInterface")), [acct, vmp, Q("interface_label"), Q("network_id"), Q("public")], None, common))
add(V + "/network_interface", "post", op("Add the VM's interface on the host's public network (a new one, or a free one of the account); 412 when it has one", "202", "accepted: the VM is running (the interface is hot-plugged)", ref("Accepted"), [acct, vmp], "NetworkInterfaceAdd", mut + ["412"],
    extra_ok={"201": ("the VM is offline: the interface, at the position it takes, and the operations that finish it (poll them before starting the VM)", ref("NetworkInterfaceAdded"))}))
add(V + "/ip_addresses", "get", op("List the VM's IP addresses", "200", "addresses", arr(ref("IPAddress")), [acct, vmp, Q("network_id"), Q("interface_id"), Q("public")], None, common))
add(V + "/firewall_rules", "get", op("List the VM's firewall rules", "200", "rules", arr(ref("FirewallRule")), [acct, vmp, Q("command"), Q("port"), Q("address")], None, common))
add(V + "/apply_firewall_rules", "post", op("Apply an interface's firewall", "202", "accepted", ref("Accepted"), [acct, vmp], "ApplyFirewallRules", mut))
add(V + "/isos", "get", op("The ISO mounted in the VM", "200", "iso joins (one at most)", arr(ref("IsoJoin")), [acct, vmp], None, common))
add(V + "/iso", "post", op("Mount a registered ISO", "202", "accepted", ref("IsoAccepted"), [acct, vmp], "IsoMount", mut))
add(V + "/iso/{iso_join_id}", "delete", op("Unmount the ISO", "202", "accepted", ref("Accepted"), [acct, vmp, P("iso_join_id")], None, mut))
add(V + "/remote_console", "get", op("A link to the VM's console; a running VM's console is activated first if it is not", "200", "console", ref("Console"), [acct, vmp], None, common + ["409", "503", "504"]))
add(V + "/clone", "post", op("Clone the VM on this host", "202", "accepted: the new VM and the operations", ref("VirtualMachineAccepted"), [acct, vmp], "Clone", mut))
add(V + "/snapshots", "get", op("List the snapshots of the VM's disks", "200", "snapshots", arr(ref("Snapshot")), [acct, vmp], None, common))
add(V + "/snapshots", "delete", op("Delete every snapshot of the VM's disks", "202", "accepted (the document says 200: here deletions are operations)", ref("Accepted"), [acct, vmp], None, mut))
add(V + "/cpu_stats", "get", op("CPU usage", "200", "CPU usage", ref("CPUStats"), [acct, vmp, dict(Q("period", "-1H, -1day or -30days"), required=True)], None, common + ["503"]))
add(V + "/bw_stats", "get", op("Network usage", "200", "network usage", ref("BWStats"), [acct, vmp, dict(Q("period", "-1H, -1day, -1M or -1Y; -1Y answers the last month, the most this agent keeps: date_from says where the data begins"), required=True)], None, common + ["503"]))
add(V + "/locks", "get", op("The VM's locks", "200", "locks: the operator's first, then one per running operation", arr(ref("Lock")), [acct, vmp], None, common))
add(V + "/lock", "post", op("Place the operator's lock (operator key only; extension)", "200", "the lock", ref("Lock"), [acct, vmp], "LockCreate", mut))
add(V + "/lock", "delete", op("Lift the operator's lock (operator key only; extension)", "200", "the lock lifted", ref("Lock"), [acct, vmp], None, mut))
add("/account/{account_id}/operation/{operation_id}", "get", op("Poll an operation (extension: what a 202 answers)", "200", "the operation", ref("Operation"), [acct, P("operation_id")], None, common))
c501 = lambda s, params: {"summary": s, "parameters": params, "responses": {"501": resp("not served: a central tier's", ref("Error")), **errs("400", "401", "403", "404", "429")}}
add(V + "/segregations", "get", c501("Segregations (a central tier's: VMs across hypervisors)", [acct, vmp]))
SEG = "/account/{account_id}/virtual_machine/{origin_id}/segregation/{target_id}"
add(SEG, "put", c501("Segregate (a central tier's)", [acct, P("origin_id"), P("target_id")]))
add(SEG, "delete", c501("Remove a segregation (a central tier's)", [acct, P("origin_id"), P("target_id")]))
add(V + "/template", "post", c501("Create a template (a central tier's catalogue)", [acct, vmp]))
add(V + "/rebuild_network", "post", op("Rebuild the network: nothing to do here, every network change is applied when it is made", "202", "accepted, with no operations (queue_token null)", ref("Accepted"), [acct, vmp], None, common + ["413", "503"]))
o = op("Apply disks: nothing to do here, every disk change is applied when it is made", "200", "done, no data", None, [acct, vmp], "ApplyDisks", common + ["413", "501", "503"])
o["responses"]["501"] = resp("required_format_disk true: this agent formats no disk", ref("Error"))
add(V + "/apply_disks", "post", o)
add("/gigas/openapi.json", "get", {"summary": "This document", "security": [], "parameters": [], "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}})

# Every path answers a method it does not serve with 405 and Allow (the
# server's catch-all under /account/, the mux's own for this document's
# path), before any key is checked. OpenAPI 3.0 has no per-path
# responses, so each operation of the path declares it.
R405 = dict(resp(ERR["405"], ref("Error")), headers={"Allow": {"description": "the methods this path serves, comma-separated", "schema": S("string")}})
for ops in paths.values():
    for o in ops.values():
        o["responses"]["405"] = R405

doc = {
    "openapi": "3.0.3",
    "info": {"title": "xenagent: the Gigas REST face", "version": "1",
             "description": "The Gigas virtual machine API of one host, served by xenagent beside its Gandi XML-RPC face. Numbers and booleans may be sent as strings. A request body is read as one JSON object whatever its Content-Type (none, text/plain and form types too: the document's curl lines set none); anything else is 400. A key given twice at the top level of a body is 400 naming it (inside a nested value, that field's rules apply). An id in a path is a positive integer in its canonical spelling (no sign, no leading zero), else 400. Asynchronous calls answer 202 with operations to poll at /account/{account_id}/operation/{operation_id}. Errors are {code, message: 'field: rule'}. (The legacy Gandi v1 face, not described here, refuses a login password longer than 1024 bytes as a wrong one.)"},
    "servers": [{"url": "/"}],
    "security": [{"apiKey": []}],
    "components": {"securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "the account's API key (or the operator's)"}}, "schemas": schemas},
    "paths": paths,
}
print(json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False))

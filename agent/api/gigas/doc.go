// Package gigas is the Gigas REST face of the agent
// (../shared/seeds/002_b8e624caa85b1047.txt): JSON over HTTP at the
// document's paths, /account/{account_id}/virtual_machine... It is a thin
// layer over *service.Service: it authenticates the key, decodes each
// call's JSON into the service's typed requests (numbers and booleans as
// JSON or as strings, as the document's examples send them; sizes in GB,
// rate_limit in Mb/s with 0 unlimited), renders the service's views in
// the document's shapes and maps the service's errors onto HTTP statuses
// and stable codes, once, at the edge (errors.go). It knows nothing of
// libvirt, the store's records or the steps of operations.
//
// TODO (left for the next session: what answers a clear 501 or 400 now,
// and the caveats of what is served):
//   - create: the swap disk is made swap by the first boot's command
//     (swapScript, cloud-init runcmd); a template without cloud-init
//     leaves it blank. A rebuild does not run it again.
//   - network_interface answers the document's 412 to a VM that has an
//     interface (the host's one network is public), so primary changes
//     nothing here: the reordering (NewIface.First) serves no call of
//     this face any more.
//   - clone: clone_user_id, secondary_disk_size and clone_disk_* (501);
//     required_startup false (the default) boots the clone once, then
//     stops it gracefully (vm_create always starts what it defines).
//   - a multi-field edit (memory + primary_disk_size + boot_type +
//     rate_limit) submits one service call per kind: one refused after
//     another was accepted leaves the first running (its message says
//     which); one transaction in the service would make it atomic.
//   - the operator choosing ids (service.CallOptions' VMID...) is not
//     read; an Idempotency-Key header is (idem.go).
//   - bw_stats -1Y answers the last month, the most the collector keeps
//     (date_from says so); a year would need a daily archive in
//     agent/stats.
//   - cpu_type (501: the host's CPU is what it is) and iso_url (501: a
//     catalogue's), required_virtual_machine_build false (501).
//   - a README table row per endpoint exists; the closing table
//     (docs 002 and 003, endpoint by endpoint) is the lead's.
//
// Notes: users (user_id), cpu_type and hypervisor_id are null: one host
// has no such catalogue; network_id is HostNetworkID, the host's one.
// A VM under the operator's lock keeps its status (service.VM.PowerState)
// with locked 1. Service additions made for this face: CreateVMFrom's
// DataDisks and Halted, DestroyVM, AddIface, VMUpdate.Hostname,
// VM.PowerState, VMSpec.PasswordRule (PasswordGigas), NewIface.First and
// IfaceAttach.First (no longer used by this face: see the 412),
// NewIface.Sole and IfaceAttach.Sole with Error.HasIface (the 412).
//
// Routes are one table (routes.go); the OpenAPI 3 document
// (openapi.json, written by openapi_gen.py, served at OpenAPIPath
// without a key) is checked against the table and against what the
// server answers by openapi_test.go; curl_test.go runs the document's
// own curl examples.
//
// Authorization: the header holds the API key (a "Bearer " prefix is
// accepted too). An account's key acts on its own account id only (403
// otherwise); the operator's key acts as any existing account (404 for
// an unknown one). Every endpoint takes a key, reads too (the document
// says "Has Token: No" of reads; an agent serves no account's data
// without one). Lock and unlock take the operator's key.
//
// An interface added to an offline VM answers the document's 201: the
// interface resource with the operations that finish it (ifaceAdded).
// A VM with an interface gets the document's 412 (the host's one network
// is public). remote_console turns a running VM's console on itself (the
// document has no activation step). rebuild_network and apply_disks
// have nothing to do here (noop.go): 202 with no operations, 200 with no
// data. An edit that changes nothing is 400; status offline of a VM
// offline already, with nothing under way, is 200 with the VM.
//
// Asynchronous work answers 202 with {"operations": [...], "queue_token":
// last operation id} and a Location header: poll GET
// /account/{account_id}/operation/{operation_id} until its status is
// DONE, ERROR or CANCEL. Create and clone also return the new VM's
// resource (status unbuilt, locked 1) and, once, its initial_password.
// Reads answer 200. Errors are {"code", "message": "field: rule"} with
// 400 (missing or invalid parameter), 401 (no or unknown key), 403
// (another account, operator only, quota exceeded), 404, 405 (a method
// the path does not serve, with Allow; declared on every path), 409 (busy
// or the object's state forbids it), 412 (a second interface on the
// public network), 413 (body too large), 429 (too many bad keys from one
// source), 501 (a central tier's endpoint or not yet served), 503 (the
// agent cannot record anything now), 504 (remote_console's activation
// still running). Messages name this document's fields (a rule's
// command/port/address), GB fields' amounts in GB (errors.go inGB).
package gigas

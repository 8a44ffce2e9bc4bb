// Package migration is the agent-to-agent face of a VM's move (issue 15):
// the target's endpoints under /migration/v1/ (Handler) and the source's
// client of them (Client, agent/workflow's Peer and DiskSender).
//
// Every call is authorised by the one-time ticket the target issued
// (Authorization: Ticket <secret>), never by an API key; TLS and mTLS are
// the listener's. JSON bodies are bounded; the disk stream is bounded by
// the volume it writes. A refusal is JSON {error, phase}: 409 with the
// phase aborted or committed is final, and the client maps it to
// workflow.ErrPeerAborted or ErrPeerCommitted; a 5xx or no answer is
// transient (retried); any other refusal is workflow.ErrPeerRefused.
//
//	POST /migration/v1/begin      the source's records (workflow.Bundle) -> state
//	GET  /migration/v1/state      -> {phase, op_id, ready, disks: {id: {pass, have}}}
//	GET  /migration/v1/disk/{id}  -> where a resumed stream goes on (agent/transfer.Have)
//	PUT  /migration/v1/disk/{id}  a pass's chunk stream (agent/transfer) -> Have
//	PUT  /migration/v1/disk/memory  a live move's saved memory, the same stream
//	POST /migration/v1/prepare    -> state (prepared, or preparing: ask again)
//	POST /migration/v1/commit     {start} -> state (started once the VM runs), or 409 aborted
//	POST /migration/v1/abort      {why} -> state, or 409 committed
//
// The disk endpoints are agent/transfer's Receiver (disk.go): the source
// (Client.Send) streams the extents the workflow listed (a snapshot's
// allocated ones, then those changed since it) in checked chunks; the
// receive state is journalled in the ticket (store.TicketReceive, beside
// the phase that decides whether data may still arrive), so a cut
// connection or a restart of either agent resumes from the last chunk
// saved there. A live move's memory file (workflow/migrate_memory.go)
// is one more item of the delta, the item "memory" journalled under
// workflow.MemoryID, written to a file of the target's memory directory
// whose size the stream states (bounded by the VM's memory). The source's Client.Limiter, one per agent ([migration]
// rate_mbps), caps every pass it sends together.
//
// TODO (in order):
//   - crash tests of iface_migrate; those of vm_migrate, vm_migrate_in
//     (TestCrashDuringMove), their rollback (TestCrashDuringMoveRollback)
//     and disk_migrate (TestCrashDuringDiskMove) are cmd/xenagent's.
//   - a rollback whose abort cannot reach the target for 30 s leaves the
//     target's side (never started) until workflow.IdleAbort (6 h):
//     nothing asks again once the source's operation ended.
//   - a live move is a pause (save, send the file, restore), not an
//     iterative pre-copy of the memory: the downtime grows with the
//     guest's memory and the link's rate.
//   - traffic an iface counts on the source between begin and its stop
//     is not carried (the records are the begin's).
//   - the two-host Xen lab and the host-emptying run (issue 15's lab).
package migration

// Package store is the agent's durable state: every resource record and
// every operation, in one bbolt file, mirrored in memory for reads.
//
// Bucket tree (values are JSON; numeric keys are 8-byte big-endian):
//
//	meta/        schema -> version, seq/<kind> -> last allocated id
//	accounts/    id -> Account
//	vms/         id -> VM
//	disks/       id -> Disk
//	ifaces/      id -> Iface
//	ips/         id -> IP
//	images/      id -> Image
//	operations/  id -> Operation (with its step journal)
//	idempotency/ "<account id, or operator>/<key>" -> IdemEntry
//	released/    "<account>/<version>" -> []string, IPs to hand out again
//
// Invariants: the in-memory maps and the file hold the same data once an
// Update has returned; writes are serialised by one lock and made durable
// by a group-commit goroutine, so concurrent callers share one fsync.
// Records handed out by getters are copies: mutating them changes nothing
// until they are Put back inside Update.
//
// A write the file refuses (a full disk) is undone in memory, with every
// write queued after it, so memory again equals the file: an acknowledged
// write is never lost and a refused one leaves nothing. The store then
// refuses writes at once (ErrUnwritable, retryable) until a probe write of
// 256 KiB succeeds; it probes every 2 s, and before a write asked 2 s or
// more after the last probe.
package store

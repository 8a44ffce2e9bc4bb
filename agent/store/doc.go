// Package store is the agent's durable state: every resource record and
// every operation, in one bbolt file, mirrored in memory for reads.
//
// Bucket tree (values are JSON unless said; numeric keys and counters are
// 8-byte big-endian):
//
//	meta/
//	  schema       -> layout version (SchemaVersion), set at every open,
//	                  after the migrations an older file needs (schema.go)
//	  instance     -> random id made with the file, 16 hex digits (not
//	                  JSON); it marks what the agent creates outside
//	                  the file (domains); NewInstance replaces it
//	  seq/<kind>   -> last allocated id of kind (account, vm, disk, iface,
//	                  ip, image, operation, sshkey, lock, iso, ticket)
//	  probe        -> 256 KiB of zeros, there only while a probe of a
//	                  failed store runs (deleted at once after)
//	  events/pruned-> every event up to it was pruned (retention); the
//	                  last event is the newest key of events/, or this
//	accounts/    id -> Account
//	vms/         id -> VM
//	disks/       id -> Disk
//	ifaces/      id -> Iface
//	ips/         id -> IP
//	images/      id -> Image
//	sshkeys/     id -> SSHKey
//	locks/       vm id -> Lock, the operator's lock on that VM (locks.go)
//	isos/        id -> ISO (registered from the configuration; a VM's
//	             iso_id names the one attached as its CD-ROM)
//	tickets/     id -> Ticket, a one-time authorisation of an incoming
//	             migration and what it reserves (tickets.go); the
//	             secret's SHA-256 only
//	operations/  id -> Operation (with its step journal: typed input and
//	             progress as JSON, per operation type)
//	idempotency/ "<account id, or operator>/<key>" -> IdemEntry
//	released/    "<account id>/<ip version>" -> []string, addresses to
//	             hand to that account again, oldest first
//	events/      seq -> Event: a visible change of an operation, VM, disk
//	             or iface, written in the transaction of the change
//	             (events.go); the newest EventsKept, none older than
//	             EventsMaxAge, pruned as commits go
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
//
// Events are visible to readers (Events, WaitEvents) only once the file
// took their commit; a refused write's events are never seen, and their
// sequence numbers are skipped, not reused. A cursor is
// "<instance>-<seq>": one from another state file, older than the
// retention, or ahead of the file is refused with ErrResync.
package store

package store

import (
	"maps"
	"slices"
	"time"
)

// Ticket phases: where an incoming migration (agent/service's
// migration.go) stands on the target. Issued is a ticket nothing has
// used; Receiving and on, its one transfer began. Committed and Aborted
// are final and exclude each other: the one transaction that sets either
// refuses when the other is there, so a VM is never both kept here and
// started again on its source.
const (
	TicketIssued    = "issued"
	TicketReceiving = "receiving"
	// TicketPreparing: the source asked for the domain; the incoming
	// operation defines it and sets prepared.
	TicketPreparing = "preparing"
	TicketPrepared  = "prepared"
	TicketCommitted = "committed"
	TicketAborted   = "aborted"
)

// DiskBeingMigrated and VMBeingMigrated are the state of the records an
// incoming migration made, until it commits (the seeds' being_migrated).
const (
	DiskBeingMigrated = "being_migrated"
	VMBeingMigrated   = "being_migrated"
)

// Ticket is a one-time authorisation, issued on the target, for one
// incoming transfer of a VM (or a detached disk or iface), and the
// reservation of what it will need. Only the SHA-256 of its secret is
// kept: the secret itself is shown once, to the operator who asked.
type Ticket struct {
	ID         int64         `json:"id"`
	SecretHash string        `json:"secret_hash"`
	AccountID  int64         `json:"account_id"`
	VMID       int64         `json:"vm_id,omitempty"`
	MemoryMB   int64         `json:"memory,omitempty"`
	Cores      int64         `json:"cores,omitempty"`
	Disks      []TicketDisk  `json:"disks,omitempty"`
	Ifaces     []TicketIface `json:"ifaces,omitempty"`
	Expires    time.Time     `json:"expires"`
	Phase      string        `json:"phase"`
	// OpID is the vm_migrate_in operation the transfer began, and Digest
	// the digest of the begin body that made it: a retried begin with the
	// same body answers the same, another body is refused.
	OpID   int64  `json:"op_id,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Start says the VM ran on the source: the commit starts it here.
	Start bool `json:"start,omitempty"`
	// Ready says the transfer's volumes are made: data may arrive.
	Ready bool `json:"ready,omitempty"`
	// LiveAgreed says this host answered a begin that the move may be
	// live: only then may a memory file arrive.
	LiveAgreed bool `json:"live_agreed,omitempty"`
	// Started says the committed VM runs here (or resumed): the commit's
	// answer waits for it, so the source's downtime ends there.
	Started bool `json:"started,omitempty"`
	// Received is, per disk id, what arrived of its data: the target's
	// journal of agent/transfer's receive state, where a resumed stream
	// goes on.
	Received    map[int64]TicketReceive `json:"received,omitempty"`
	Why         string                  `json:"why,omitempty"` // why it was aborted
	DateCreated time.Time               `json:"date_created"`
	DateUpdated time.Time               `json:"date_updated"`
}

// TicketReceive is what arrived of one disk's data (agent/transfer's
// State, kept here so the ticket's transaction holds it): the pass being
// received or last received, a digest of its extent list, the bytes of
// it verified and synced (Done, the resume point) of Total, whether it
// completed with matching end-to-end digests, and the running digest at
// Done. Before is the bytes of the disk's passes completed before this
// one (operation.info counts them).
type TicketReceive struct {
	Pass     string `json:"pass"`
	Extents  string `json:"extents,omitempty"`
	Done     int64  `json:"done"`
	Total    int64  `json:"total"`
	Complete bool   `json:"complete,omitempty"`
	Digest   []byte `json:"digest,omitempty"`
	Before   int64  `json:"before,omitempty"`
}

// TicketDisk is a disk a ticket admits, by id, of at most SizeMB.
type TicketDisk struct {
	ID     int64 `json:"id"`
	SizeMB int64 `json:"size"`
}

// TicketIface is an iface a ticket admits. Addr is the address it keeps
// (both hosts serve its network), reserved by the ticket; "" takes one
// from this host's pool at begin.
type TicketIface struct {
	ID      int64  `json:"id"`
	Addr    string `json:"ip,omitempty"`
	Version int64  `json:"ip_version,omitempty"`
}

// Live reports a ticket that still holds its reservation at t: unused
// and not expired, or in a transfer that neither committed nor aborted.
func (t Ticket) Live(at time.Time) bool {
	switch t.Phase {
	case TicketIssued:
		return at.Before(t.Expires)
	case TicketCommitted, TicketAborted:
		return false
	}
	return true
}

func (t Ticket) clone() Ticket {
	t.Disks = slices.Clone(t.Disks)
	t.Ifaces = slices.Clone(t.Ifaces)
	t.Received = maps.Clone(t.Received)
	for id, r := range t.Received {
		r.Digest = slices.Clone(r.Digest)
		t.Received[id] = r
	}
	return t
}

// Ticket returns ticket id.
func (tx *Tx) Ticket(id int64) (Ticket, bool) { return get(&tx.s.tickets, id) }

// PutTicket stores t.
func (tx *Tx) PutTicket(t Ticket) { put(tx, &tx.s.tickets, t.ID, t) }

// DeleteTicket removes ticket id.
func (tx *Tx) DeleteTicket(id int64) { del(tx, &tx.s.tickets, id) }

// EachTicket visits every ticket in id order.
func (tx *Tx) EachTicket(fn func(*Ticket) bool) { each(&tx.s.tickets, fn) }

// HasTicket reports ticket id (for NextID("ticket", ...)).
func (tx *Tx) HasTicket(id int64) bool { _, ok := tx.s.tickets.rows[id]; return ok }

// TicketBySecret returns the ticket whose secret hashes to hash.
func (tx *Tx) TicketBySecret(hash string) (Ticket, bool) {
	var out Ticket
	found := false
	each(&tx.s.tickets, func(t *Ticket) bool {
		if t.SecretHash == hash {
			out, found = t.clone(), true
		}
		return !found
	})
	return out, found
}

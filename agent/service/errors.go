package service

import (
	"errors"
	"fmt"

	"github.com/xenagent/xenagent/agent/store"
)

// Error is every refusal and failure the service returns: what the call
// was about (Object), why (Kind) and a message naming the field and the
// rule ("memory: must be a multiple of 64 (MB)"). Faces map it to their
// own faults, once, at the edge; nothing here knows a wire format.
type Error struct {
	Object Object
	Kind   Kind
	Msg    string
	// Quota, on a KindQuota refusal of an account's grant, is the
	// resource refused (servers, cores, memory, disk, bandwidth, ips): a
	// face whose calls count in units of its own (Gandi v1's shares are
	// memory) says the refusal in them. "" on every other error, and on a
	// pool's exhaustion (no free address), which no grant would change.
	Quota string
	// HasIface, on a KindConflict refusal of a call that asked for the
	// VM's only iface (NewIface.Sole, IfaceAttach.Sole), says the VM has
	// one: the Gigas face answers it with its document's 412.
	HasIface bool
}

// hasIfaceErr refuses a Sole call on VM v, which has an iface.
func hasIfaceErr(v store.VM) *Error {
	e := Errorf(ObjVM, KindConflict, "iface_id: vm %d has iface %d already, and the call asks for its only one", v.ID, v.IfaceIDs[0])
	e.HasIface = true
	return e
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %s", e.Object, e.Kind, e.Msg) }

// Object is what a call was about.
type Object int

// The objects, as the seeds name them.
const (
	ObjUnknown Object = iota
	ObjAccount
	ObjVM
	ObjDisk
	ObjIface
	ObjIP
	ObjOperation
	ObjImage
	ObjDatacenter
	ObjMethod
	ObjSSHKey
	ObjEvent
)

var objectNames = [...]string{"unknown", "account", "vm", "disk", "iface", "ip", "operation", "image", "datacenter", "method", "ssh key", "event"}

func (o Object) String() string {
	if o < 0 || int(o) >= len(objectNames) {
		return "unknown"
	}
	return objectNames[o]
}

// Kind is why a call was refused or failed; the seeds' error identifiers.
type Kind int

const (
	// KindInternal is a failure of the agent itself.
	KindInternal Kind = iota
	// KindMissing: a required parameter is absent (client_recoverable).
	KindMissing
	// KindInvalid: a value breaks a rule (client_recoverable).
	KindInvalid
	// KindNoRight: the caller may not do this (authorization_error).
	KindNoRight
	// KindNotFound: no such object, or not the caller's.
	KindNotFound
	// KindDuplicate: the object exists already.
	KindDuplicate
	// KindBusy: the object is busy with another operation (temporary).
	KindBusy
	// KindConflict: the object's state forbids the call.
	KindConflict
	// KindQuota: the account's quota, or a pool, is exhausted.
	KindQuota
	// KindRateLimit: too many calls (temporary).
	KindRateLimit
	// KindTimeout: the call ran out of time (temporary).
	KindTimeout
	// KindUnavailable: the agent cannot record anything now (its state
	// disk refuses writes); nothing of the call was done: retry the same
	// call, with the same idempotency key, later.
	KindUnavailable
)

var kindNames = [...]string{"internal error", "missing parameter", "invalid value", "not allowed", "not found", "duplicate",
	"busy", "conflict", "quota exceeded", "rate limited", "timeout", "unavailable"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Errorf, Missing and Invalid make the service's errors; a face uses them
// too for what its decoding refuses, so every fault is mapped in one place.
func Errorf(obj Object, kind Kind, format string, args ...any) *Error {
	return &Error{Object: obj, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Missing: a required field is absent.
func Missing(obj Object, field string) *Error {
	return Errorf(obj, KindMissing, "%s: missing parameter", field)
}

// Invalid: field breaks rule.
func Invalid(obj Object, field, rule string, args ...any) *Error {
	return Errorf(obj, KindInvalid, "%s: %s", field, fmt.Sprintf(rule, args...))
}

func notFound(obj Object, what string, id int64) *Error {
	return Errorf(obj, KindNotFound, "%s %d does not exist", what, id)
}

// Classify maps any error to an Error: the service's own as they are, a
// write the state disk refused as KindUnavailable (the store undid it:
// nothing of the call was recorded), anything else as KindInternal.
func Classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrUnwritable) {
		var we *store.WriteError
		if errors.As(err, &we) {
			return Errorf(ObjUnknown, KindUnavailable, "state: %v", we)
		}
		return Errorf(ObjUnknown, KindUnavailable, "state: %v", err)
	}
	return Errorf(ObjUnknown, KindInternal, "internal error: %v", err)
}

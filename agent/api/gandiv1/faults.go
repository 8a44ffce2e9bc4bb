package gandiv1

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// Fault codes follow the v1 document's "Error codes format": a
// qualification (one digit), an object (three digits), a cause (two
// digits). The document's table of contents names its two
// qualifications (its sections "Qualification 1 - Server" and
// "Qualification 2 - Data"); Gandi's published v1 tables number them 1
// (Server: "110020 ServerError: database query failed", "150000
// ServerError: internal error") and 5 (Data: "500130 DataError: invalid
// value for password"), and so do we.
//
// The fault string is "ServerError: <what went wrong>" or "DataError:
// <what is wrong> [<element>: <value>]", the element being the faulty
// parameter. A value is shown only when the face decoded it and it is
// not a secret (never a password or a session id).
const (
	QualServer = 1
	QualData   = 5
)

// Server objects and causes (qualification 1).
const (
	SrvDatabase    = 100 // the state file
	SrvApplication = 500 // the agent itself

	CauseConnLost = 10 // database: the state disk refuses writes (nothing was done; retry later)
	CauseInternal = 0  // application: internal error, logged
	CauseSrvTime  = 90 // application: the call ran out of time
)

// Data objects (qualification 5): what the faulty argument was about.
const (
	ObjSession   = 1   // login, password, session
	ObjAccount   = 10  // the hosting account
	ObjProduct   = 20  // billing: products, currency, balance
	ObjVM        = 100 // vm_id, hostname, shares, cpu, specs
	ObjDisk      = 110 // disk_id, size, name, fstype
	ObjOperation = 120 // opid, filter
	ObjOS        = 130 // os_id
	ObjIface     = 140 // a VM's network interface or address
	ObjMethod    = 900 // the method itself, or the request
)

// Data causes, in the order the document's data validation cycle checks
// them: presence and type, then syntax and value, then existence, then
// privileges, and finally state.
const (
	CauseMissing     = 10 // a required parameter is absent
	CauseType        = 20 // a parameter has the wrong XML-RPC type
	CauseValue       = 30 // a value breaks a rule
	CauseNotFound    = 40 // no such object (or not the account's)
	CauseDuplicate   = 45 // the object exists already
	CauseNoRight     = 50 // the session may not do this (a bad login or session)
	CauseState       = 60 // the object's state forbids the call
	CauseBusy        = 65 // the object is busy with another operation (retry later)
	CauseQuota       = 70 // the account's quota is exhausted
	CauseRateLimit   = 80 // too many calls (retry later)
	CauseCentralTier = 90 // the method belongs to the central tier, not to one host
)

// Fault is a v1 fault with its code parts kept apart for tests.
type Fault struct {
	Qual, Object, Cause int
	// Msg is the plain text; Element, when set, the faulty parameter and
	// Value what it was (shown only when ShowValue).
	Msg, Element string
	Value        any
	ShowValue    bool
}

func (f *Fault) Error() string {
	if f.Qual == QualServer {
		return "ServerError: " + f.Msg
	}
	s := "DataError: " + f.Msg
	switch {
	case f.Element != "" && f.ShowValue:
		s += fmt.Sprintf(" [%s: %v]", f.Element, f.Value)
	case f.Element != "":
		s += " [" + f.Element + "]"
	}
	return s
}

// Code is the numeric faultCode: QOOOCC.
func (f *Fault) Code() int { return f.Qual*100000 + f.Object*100 + f.Cause }

// XMLRPC renders the fault for the wire.
func (f *Fault) XMLRPC() *xmlrpc.Fault { return &xmlrpc.Fault{Code: f.Code(), Message: f.Error()} }

func dataFault(obj, cause int, element, format string, args ...any) *Fault {
	return &Fault{Qual: QualData, Object: obj, Cause: cause, Element: element, Msg: fmt.Sprintf(format, args...)}
}

var objectOf = map[service.Object]int{
	service.ObjUnknown: ObjMethod, service.ObjAccount: ObjAccount, service.ObjVM: ObjVM, service.ObjDisk: ObjDisk,
	service.ObjIface: ObjIface, service.ObjIP: ObjIface, service.ObjOperation: ObjOperation, service.ObjImage: ObjOS,
	service.ObjDatacenter: ObjVM, service.ObjMethod: ObjMethod, service.ObjSSHKey: ObjVM, service.ObjEvent: ObjMethod,
}

var causeOf = map[service.Kind]int{
	service.KindMissing: CauseMissing, service.KindInvalid: CauseValue, service.KindNoRight: CauseNoRight,
	service.KindNotFound: CauseNotFound, service.KindDuplicate: CauseDuplicate, service.KindBusy: CauseBusy,
	service.KindConflict: CauseState, service.KindQuota: CauseQuota, service.KindRateLimit: CauseRateLimit,
}

// AsFault maps any error to a v1 fault, once, at the edge: the face's own
// as they are, the service's typed errors by object and kind (the ones
// that are the agent's, not the caller's, as server faults).
func AsFault(err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	e := service.Classify(err)
	switch e.Kind {
	case service.KindUnavailable:
		return &Fault{Qual: QualServer, Object: SrvDatabase, Cause: CauseConnLost, Msg: e.Msg + " (nothing was done; retry later)"}
	case service.KindTimeout:
		return &Fault{Qual: QualServer, Object: SrvApplication, Cause: CauseSrvTime, Msg: e.Msg}
	case service.KindInternal:
		return errInternal
	}
	obj, ok := objectOf[e.Object]
	if !ok {
		obj = ObjMethod
	}
	return &Fault{Qual: QualData, Object: obj, Cause: causeOf[e.Kind], Msg: e.Msg}
}

// param is one of a call's parameters as its faults name it: its v1
// name, the service object it designates (so that "vm 999 does not
// exist", which names no field, is about vm_id), and its decoded value.
// obj is ObjUnknown for a parameter that designates no existing object
// (vm_create's shares); value is nil for one never shown back (a
// password).
type param struct {
	name  string
	obj   service.Object
	value any
}

// inParams maps a service error onto the call's own parameters, so that
// every v1 fault about one of them names it as its element, with its
// value, as the document's "DataError: ... [element: value]" does:
//   - a message starting with "field:" is about that field, renamed to
//     the call's own name (the service says "cores: ..." where
//     vm_create's parameter is cpu and vm_update's specs.cpu); a field
//     that is no parameter of the call (a quota's "servers") is still
//     the element, without a value;
//   - a message naming no field is about the parameter that designates
//     the service error's object (vm_id for a missing VM, disk_id for a
//     missing disk), when the call has one.
//
// The face's own faults, which name their element already, and server
// faults pass as AsFault makes them.
func inParams(err error, rename map[string]string, ps ...param) error {
	if err == nil {
		return nil
	}
	var own *Fault
	if errors.As(err, &own) {
		return own
	}
	shared := AsFault(err)
	if shared.Qual != QualData {
		return shared
	}
	f := *shared // a copy: AsFault may answer a shared fault
	name := ""
	if field, rest, ok := strings.Cut(f.Msg, ":"); ok && isField(field) {
		name = field
		if to, known := rename[field]; known {
			name = to
		}
		f.Msg = name + ":" + rest
	} else if obj := service.Classify(err).Object; obj != service.ObjUnknown {
		for _, p := range ps {
			if p.obj == obj {
				name = p.name
				break
			}
		}
	}
	f.Element = name
	for _, p := range ps {
		if p.name == name && p.value != nil {
			f.Value, f.ShowValue = p.value, true
		}
	}
	return &f
}

// isField says whether a message's text before its first colon is a
// field's name (vm_id, specs.size), not a sentence ("vm 3 is running").
func isField(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// errInternal answers a failure of the agent: nothing of its text, which
// may hold another account's data, reaches the client (it is logged).
var errInternal = &Fault{Qual: QualServer, Object: SrvApplication, Cause: CauseInternal,
	Msg: "internal error (error has been logged and will be reported)"}

// errBadSession is the one answer to a session id that is unknown,
// expired, or whose account's password changed since the login.
var errBadSession = dataFault(ObjSession, CauseNoRight, "session", "invalid or expired session: log in again")

// centralTier answers the billing methods: one host keeps no prepaid
// account, currency nor products.
func centralTier(method, what string) *Fault {
	return dataFault(ObjProduct, CauseCentralTier, "", "%s: %s belongs to the central tier (billing); this agent runs one host and keeps none", method, what)
}

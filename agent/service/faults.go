package service

import (
	"errors"
	"fmt"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// Fault codes follow Gandi's shape, 5OOOCC: 5, a three-digit object
// (what the call was about), a two-digit cause. The fault string reads
// "Error on object : OBJECT_VM (CAUSE_BADPARAMETER) [memory: must be a
// multiple of 64]", so both people and programs can act on it.
//
// Causes map the seed's error identifiers:
//
//	10 CAUSE_MISSING        missing_parameter     (client_recoverable)
//	20 CAUSE_BADPARAMETER   invalid value         (client_recoverable)
//	30 CAUSE_NORIGHT        authorization_error   (support_recoverable)
//	40 CAUSE_NOTFOUND       unknown object
//	50 CAUSE_DUPLICATE      duplicate             (fatal)
//	60 CAUSE_BUSY           object busy with another operation (temporary)
//	70 CAUSE_CONFLICT       object's state forbids the call
//	75 CAUSE_QUOTA          account quota exceeded
//	80 CAUSE_RATELIMIT      ratelimit             (temporary)
//	90 CAUSE_TIMEOUT        timeout               (temporary)
//	95 CAUSE_UNAVAILABLE    the agent cannot record anything now: its
//	                        state disk refuses writes (temporary; nothing
//	                        of the call was done, retry later)
//	99 CAUSE_UNKNOWN        unknown / internal
const (
	CauseMissing   = 10
	CauseBadParam  = 20
	CauseNoRight   = 30
	CauseNotFound  = 40
	CauseDuplicate = 50
	CauseBusy      = 60
	CauseConflict  = 70
	CauseQuota     = 75
	CauseRateLimit = 80
	CauseTimeout   = 90
	// CauseUnavailable is a temporary refusal of the whole agent (its
	// state disk refuses writes): retry the same call, with the same
	// idempotency key, later.
	CauseUnavailable = 95
	CauseUnknown     = 99
)

// Objects named in fault codes.
const (
	ObjUnknown    = 0
	ObjAccount    = 100
	ObjVM         = 110
	ObjDisk       = 120
	ObjIface      = 130
	ObjIP         = 140
	ObjOperation  = 150
	ObjImage      = 160
	ObjDatacenter = 170
	ObjMethod     = 180
	ObjSSHKey     = 190
)

var causeNames = map[int]string{
	CauseMissing: "CAUSE_MISSING", CauseBadParam: "CAUSE_BADPARAMETER", CauseNoRight: "CAUSE_NORIGHT",
	CauseNotFound: "CAUSE_NOTFOUND", CauseDuplicate: "CAUSE_DUPLICATE", CauseBusy: "CAUSE_BUSY",
	CauseConflict: "CAUSE_CONFLICT", CauseQuota: "CAUSE_QUOTA", CauseRateLimit: "CAUSE_RATELIMIT",
	CauseTimeout: "CAUSE_TIMEOUT", CauseUnavailable: "CAUSE_UNAVAILABLE", CauseUnknown: "CAUSE_UNKNOWN",
}

var objectNames = map[int]string{
	ObjUnknown: "OBJECT_UNKNOWN", ObjAccount: "OBJECT_ACCOUNT", ObjVM: "OBJECT_VM", ObjDisk: "OBJECT_DISK",
	ObjIface: "OBJECT_IFACE", ObjIP: "OBJECT_IP", ObjOperation: "OBJECT_OPERATION", ObjImage: "OBJECT_IMAGE",
	ObjDatacenter: "OBJECT_DATACENTER", ObjMethod: "OBJECT_METHOD", ObjSSHKey: "OBJECT_SSHKEY",
}

// Fault is an API error with its code parts kept apart for tests.
type Fault struct {
	Object int
	Cause  int
	Msg    string
}

func (f *Fault) Error() string {
	return fmt.Sprintf("Error on object : %s (%s) [%s]", objectNames[f.Object], causeNames[f.Cause], f.Msg)
}

// Code is the numeric faultCode.
func (f *Fault) Code() int { return 500000 + f.Object*100 + f.Cause }

// XMLRPC renders the fault for the wire.
func (f *Fault) XMLRPC() *xmlrpc.Fault { return &xmlrpc.Fault{Code: f.Code(), Message: f.Error()} }

func fault(obj, cause int, format string, args ...any) *Fault {
	return &Fault{Object: obj, Cause: cause, Msg: fmt.Sprintf(format, args...)}
}

func missing(obj int, field string) *Fault {
	return fault(obj, CauseMissing, "%s: missing parameter", field)
}

func invalid(obj int, field, rule string, args ...any) *Fault {
	return fault(obj, CauseBadParam, "%s: %s", field, fmt.Sprintf(rule, args...))
}

func notFound(obj int, what string, id int64) *Fault {
	return fault(obj, CauseNotFound, "%s %d does not exist", what, id)
}

// AsFault maps any error to a fault, once, at the API edge.
func AsFault(err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	if errors.Is(err, store.ErrUnwritable) {
		// The store undid the change: nothing of the call was recorded.
		var we *store.WriteError
		if errors.As(err, &we) {
			return fault(ObjUnknown, CauseUnavailable, "state: %v", we)
		}
		return fault(ObjUnknown, CauseUnavailable, "state: %v", err)
	}
	return fault(ObjUnknown, CauseUnknown, "internal error: %v", err)
}

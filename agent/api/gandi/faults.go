package gandi

import (
	"errors"
	"fmt"

	"github.com/xenagent/xenagent/agent/service"
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
	CauseMissing     = 10
	CauseBadParam    = 20
	CauseNoRight     = 30
	CauseNotFound    = 40
	CauseDuplicate   = 50
	CauseBusy        = 60
	CauseConflict    = 70
	CauseQuota       = 75
	CauseRateLimit   = 80
	CauseTimeout     = 90
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
	ObjEvent      = 200 // hosting.event.from: a cursor to resync is 520040
)

var causeOf = map[service.Kind]int{
	service.KindMissing: CauseMissing, service.KindInvalid: CauseBadParam, service.KindNoRight: CauseNoRight,
	service.KindNotFound: CauseNotFound, service.KindDuplicate: CauseDuplicate, service.KindBusy: CauseBusy,
	service.KindConflict: CauseConflict, service.KindQuota: CauseQuota, service.KindRateLimit: CauseRateLimit,
	service.KindTimeout: CauseTimeout, service.KindUnavailable: CauseUnavailable, service.KindInternal: CauseUnknown,
}

var objectOf = map[service.Object]int{
	service.ObjUnknown: ObjUnknown, service.ObjAccount: ObjAccount, service.ObjVM: ObjVM, service.ObjDisk: ObjDisk,
	service.ObjIface: ObjIface, service.ObjIP: ObjIP, service.ObjOperation: ObjOperation, service.ObjImage: ObjImage,
	service.ObjDatacenter: ObjDatacenter, service.ObjMethod: ObjMethod, service.ObjSSHKey: ObjSSHKey,
	service.ObjEvent: ObjEvent,
}

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
	ObjEvent: "OBJECT_EVENT",
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

// AsFault maps any error to a fault, once, at the edge: the service's
// typed errors by their object and kind, the face's own as they are.
func AsFault(err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	e := service.Classify(err)
	return &Fault{Object: objectOf[e.Object], Cause: causeOf[e.Kind], Msg: e.Msg}
}

// ErrBadKey is the one answer to any unknown key.
var ErrBadKey = AsFault(service.ErrBadKey)

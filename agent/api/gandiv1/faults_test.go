package gandiv1

import (
	"errors"
	"fmt"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

func TestAsFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		text string
	}{
		{"invalid value", service.Invalid(service.ObjVM, "memory", "must be a multiple of 64 (MB)"), 510030,
			"DataError: memory: must be a multiple of 64 (MB)"},
		{"missing", service.Missing(service.ObjDisk, "size"), 511010, "DataError: size: missing parameter"},
		{"not found", service.Errorf(service.ObjOperation, service.KindNotFound, "operation 5 does not exist"), 512040,
			"DataError: operation 5 does not exist"},
		{"busy", service.Errorf(service.ObjVM, service.KindBusy, "busy"), 510065, "DataError: busy"},
		{"state", service.Errorf(service.ObjVM, service.KindConflict, "vm is running"), 510060, "DataError: vm is running"},
		{"quota", service.Errorf(service.ObjDisk, service.KindQuota, "disk quota"), 511070, "DataError: disk quota"},
		{"image", service.Errorf(service.ObjImage, service.KindNotFound, "no image"), 513040, "DataError: no image"},
		{"state disk", fmt.Errorf("put: %w", store.ErrUnwritable), 110010, ""},
		{"timeout", service.Errorf(service.ObjVM, service.KindTimeout, "took too long"), 150090, "ServerError: took too long"},
		{"internal", errors.New("secret detail of another account"), 150000,
			"ServerError: internal error (error has been logged and will be reported)"},
		{"face's own, with its value", &Fault{Qual: QualData, Object: ObjVM, Cause: CauseType, Msg: "vm_id: must be an int",
			Element: "vm_id", Value: `"x"`, ShowValue: true}, 510020, `DataError: vm_id: must be an int [vm_id: "x"]`},
		{"face's own, value withheld", &Fault{Qual: QualData, Object: ObjSession, Cause: CauseType, Msg: "password: must be a string",
			Element: "password", Value: "hunter2"}, 500120, "DataError: password: must be a string [password]"},
		{"central tier", centralTier("account_balance", "the balance"), 502090, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := AsFault(tc.err)
			if f.Code() != tc.code {
				t.Errorf("code %d, want %d (%s)", f.Code(), tc.code, f.Error())
			}
			if tc.text != "" && f.Error() != tc.text {
				t.Errorf("string %q, want %q", f.Error(), tc.text)
			}
			if x := f.XMLRPC(); x.Code != tc.code || x.Message != f.Error() {
				t.Errorf("XMLRPC %+v", x)
			}
		})
	}
}

// opidFault says op_id in v1's word and names opid, with its value, as
// the element of every fault about the operation, the face's own shared
// faults untouched.
func TestOpidFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		text string
	}{
		{"op_id", service.Errorf(service.ObjOperation, service.KindConflict, "op_id: operation 7 has already finished"),
			"DataError: opid: operation 7 has already finished [opid: 7]"},
		{"no field", service.Errorf(service.ObjOperation, service.KindNotFound, "operation 7 does not exist"),
			"DataError: operation 7 does not exist [opid: 7]"},
		{"internal", errors.New("op_id: secret"), errInternal.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AsFault(opidFault(tc.err, 7)).Error(); got != tc.text {
				t.Errorf("%q, want %q", got, tc.text)
			}
		})
	}
	if errInternal.Element != "" || errInternal.Msg != "internal error (error has been logged and will be reported)" {
		t.Errorf("the shared internal fault was changed: %+v", errInternal)
	}
}

// TestInParams: the service's field names become the call's own, and the
// fault's element, with the parameter's value when the call has it; a
// message naming no field is about the parameter designating its object;
// the face's own faults and server faults pass as AsFault makes them.
func TestInParams(t *testing.T) {
	rename := map[string]string{"cores": "specs.cpu"}
	ps := []param{vmParam(3), {"specs.cpu", service.ObjUnknown, int64(99)}, {"password", service.ObjUnknown, nil}}
	for _, tc := range []struct {
		name string
		err  error
		text string
	}{
		{"renamed, with its value", service.Invalid(service.ObjVM, "cores", "must be between 1 and 16"),
			"DataError: specs.cpu: must be between 1 and 16 [specs.cpu: 99]"},
		{"a parameter not renamed", service.Invalid(service.ObjVM, "vm_id", "vm 3 is locked"), "DataError: vm_id: vm 3 is locked [vm_id: 3]"},
		{"a field that is no parameter", service.Errorf(service.ObjVM, service.KindQuota, "servers: 1 more would exceed the quota"),
			"DataError: servers: 1 more would exceed the quota [servers]"},
		{"a secret, never shown", service.Invalid(service.ObjVM, "password", "too short"), "DataError: password: too short [password]"},
		{"no field: the object's parameter", service.Errorf(service.ObjVM, service.KindNotFound, "vm 3 does not exist"),
			"DataError: vm 3 does not exist [vm_id: 3]"},
		{"a sentence, not a field", service.Errorf(service.ObjVM, service.KindConflict, "vm 3 is running: stop it"),
			"DataError: vm 3 is running: stop it [vm_id: 3]"},
		{"no parameter for the object", service.Errorf(service.ObjDisk, service.KindNotFound, "disk 4 does not exist"),
			"DataError: disk 4 does not exist"},
		{"face's own", dataFault(ObjVM, CauseValue, "cores", "cores: mine"), "DataError: cores: mine [cores]"},
		{"server", errors.New("secret"), "ServerError: internal error (error has been logged and will be reported)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inParams(tc.err, rename, ps...).Error(); got != tc.text {
				t.Errorf("%q, want %q", got, tc.text)
			}
		})
	}
	if inParams(nil, rename) != nil {
		t.Error("nil is not nil")
	}
	if errInternal.Element != "" || errBadSession.ShowValue {
		t.Errorf("a shared fault was changed: %+v %+v", errInternal, errBadSession)
	}
}

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

// opidFault says op_id in v1's word and leaves every other error as it
// is, the face's own shared faults untouched.
func TestOpidFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		text string
	}{
		{"op_id", service.Errorf(service.ObjOperation, service.KindConflict, "op_id: operation 7 has already finished"),
			"DataError: opid: operation 7 has already finished [opid: 7]"},
		{"no field", service.Errorf(service.ObjOperation, service.KindNotFound, "operation 7 does not exist"),
			"DataError: operation 7 does not exist"},
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

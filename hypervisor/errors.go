package hypervisor

import (
	"errors"
	"fmt"

	"libvirt.org/go/libvirt"
)

// Error carries a libvirt failure with the call that produced it.
type Error struct {
	Op        string
	Err       error
	transient bool
}

func (e *Error) Error() string   { return fmt.Sprintf("%s: %v", e.Op, e.Err) }
func (e *Error) Unwrap() error   { return e.Err }
func (e *Error) Transient() bool { return e.transient }

// classify maps a libvirt error onto the sentinels and marks connection
// loss as transient.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var lv libvirt.Error
	if !errors.As(err, &lv) {
		return &Error{Op: op, Err: err}
	}
	switch lv.Code {
	case libvirt.ERR_NO_DOMAIN:
		return &Error{Op: op, Err: fmt.Errorf("%w: %s", ErrNoDomain, lv.Message)}
	case libvirt.ERR_NO_SUPPORT:
		return &Error{Op: op, Err: fmt.Errorf("%w: %s", ErrUnsupported, lv.Message)}
	case libvirt.ERR_OPERATION_INVALID:
		switch {
		case contains(lv.Message, "already active", "already running"):
			return &Error{Op: op, Err: fmt.Errorf("%w: %s", ErrAlreadyActive, lv.Message), transient: true}
		case contains(lv.Message, "not running", "not active"):
			return &Error{Op: op, Err: fmt.Errorf("%w: %s", ErrNotRunning, lv.Message)}
		}
	case libvirt.ERR_SYSTEM_ERROR, libvirt.ERR_RPC, libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN,
		libvirt.ERR_AUTH_FAILED, libvirt.ERR_OPERATION_TIMEOUT, libvirt.ERR_AGENT_UNRESPONSIVE:
		return &Error{Op: op, Err: fmt.Errorf("%w: %s", ErrDisconnected, lv.Message), transient: true}
	}
	return &Error{Op: op, Err: errors.New(lv.Message)}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if len(s) >= len(sub) {
			for i := 0; i+len(sub) <= len(s); i++ {
				if s[i:i+len(sub)] == sub {
					return true
				}
			}
		}
	}
	return false
}

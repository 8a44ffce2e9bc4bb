package gandi

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// A write the state disk refused is a temporary fault that says nothing
// was recorded, wherever it was wrapped; anything else stays unknown.
func TestRefusedWriteIsATemporaryFault(t *testing.T) {
	for _, tc := range []struct {
		err   error
		cause int
		msg   string
	}{
		{fmt.Errorf("submit: %w", &store.WriteError{Err: fmt.Errorf("write state.db: %w", syscall.ENOSPC)}), CauseUnavailable,
			"state: the state disk refused the write (no space left on device); nothing was recorded, retry later"},
		{&store.WriteError{Err: syscall.EIO, Earlier: true}, CauseUnavailable,
			"state: the state disk refused an earlier write (input/output error); nothing was recorded, retry later"},
		{errors.New("boom"), CauseUnknown, "internal error: boom"},
	} {
		f := AsFault(tc.err)
		if f.Cause != tc.cause || f.Msg != tc.msg {
			t.Errorf("AsFault(%v) = %d %q, want %d %q", tc.err, f.Cause, f.Msg, tc.cause, tc.msg)
		}
		if tc.cause == CauseUnavailable && (!strings.Contains(f.Error(), "CAUSE_UNAVAILABLE") || f.Code() != 500095) {
			t.Errorf("fault = %d %s", f.Code(), f.Error())
		}
	}
}

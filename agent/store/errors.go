package store

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrLocked means another process holds the state file.
var ErrLocked = errors.New("state file is locked by another process")

// ErrUnwritable is the class of every write the state file refused, or
// that was refused because an earlier one was: nothing of it was recorded
// and memory holds what the file holds. Retrying later is safe.
var ErrUnwritable = errors.New("the state disk refused the write")

// ErrNewerSchema means the state file was written by a newer agent, in
// a layout this one does not know: Open refuses it rather than misread it.
var ErrNewerSchema = errors.New("state file is newer than this agent")

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("state store is closed")

// WriteError is a refused write. Err is what the file said (ENOSPC...).
type WriteError struct {
	Err error
	// Earlier is set when this write itself never reached the file: an
	// earlier one failed, or the store was failed when it was asked.
	Earlier bool
}

func (e *WriteError) Error() string {
	what := "the state disk refused the write"
	if e.Earlier {
		what = "the state disk refused an earlier write"
	}
	return fmt.Sprintf("%s (%s); nothing was recorded, retry later", what, describe(e.Err))
}

// Unwrap lets errors.Is see both ErrUnwritable and the file's error.
func (e *WriteError) Unwrap() []error { return []error{ErrUnwritable, e.Err} }

// describe names the common causes the way an operator searches for them.
func describe(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "no space left on device"
	case errors.Is(err, syscall.EDQUOT):
		return "disk quota exceeded"
	case errors.Is(err, syscall.EROFS):
		return "read-only file system"
	case errors.Is(err, syscall.EIO):
		return "input/output error"
	}
	return err.Error()
}

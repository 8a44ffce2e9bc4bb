package transfer

import (
	"errors"
	"fmt"
)

// Errors of a transfer. The receiver answers each with a code in its JSON
// error body and HTTPTarget turns the code back into the same sentinel,
// so the sender classifies a refusal with errors.Is whichever side saw it.
var (
	// ErrConflict: the receiver holds another pass than the stream builds
	// on (a different extent list for the same pass, a base it has not
	// completed, a half-received other pass). Sending again cannot help.
	ErrConflict = errors.New("the receiver holds another pass than the stream builds on")
	// ErrStartMismatch: the stream starts elsewhere than the receiver's
	// resume point (it moved since the sender asked); ask again and resend.
	ErrStartMismatch = errors.New("the stream does not start at the receiver's resume point")
	// ErrUnknownDisk: the receiver expects no transfer for that disk.
	ErrUnknownDisk = errors.New("no transfer expected for that disk")
	// ErrBadStream: a frame was malformed, out of order, or its data did
	// not match its hash; nothing from it was written.
	ErrBadStream = errors.New("the stream was refused")
	// ErrDigest: every chunk arrived, but the end-to-end digests differ.
	ErrDigest = errors.New("the end-to-end digests differ")
	// ErrBusy: another stream for the disk would not stop in time.
	ErrBusy = errors.New("another stream for the disk is still running")
	// ErrSource: reading the source failed; the stream was abandoned.
	ErrSource = errors.New("reading the source failed")
)

// codes are the JSON error codes of the sentinels above.
var codes = map[error]string{
	ErrConflict:      "conflict",
	ErrStartMismatch: "start_mismatch",
	ErrUnknownDisk:   "unknown_disk",
	ErrBadStream:     "bad_stream",
	ErrDigest:        "digest",
	ErrBusy:          "busy",
}

func codeOf(err error) string {
	for e, c := range codes {
		if errors.Is(err, e) {
			return c
		}
	}
	return "internal"
}

func errorOf(code string) error {
	for e, c := range codes {
		if c == code {
			return e
		}
	}
	return nil
}

// RemoteError is a receiver's refusal as the sender got it: the HTTP
// status, the receiver's message, and what it holds. It unwraps to the
// sentinel its code names.
type RemoteError struct {
	Status int
	Code   string
	Msg    string
	Have   Have
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("receiver answered %d %s: %s", e.Status, e.Code, e.Msg)
}

func (e *RemoteError) Unwrap() error { return errorOf(e.Code) }

// retryable reports whether a failed stream may be sent again: a cut
// connection, a refused chunk (corrupted in transit), a receiver that
// moved or was busy, or its 5xx. Refusals that resending cannot change
// (a conflict, an unknown disk, the source failing, digests that differ
// over chunks that each verified) are not.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrConflict), errors.Is(err, ErrUnknownDisk), errors.Is(err, ErrSource), errors.Is(err, ErrDigest):
		return false
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Status >= 500 || re.Status == 408 || re.Status == 429 ||
			errors.Is(err, ErrStartMismatch) || errors.Is(err, ErrBadStream) || errors.Is(err, ErrBusy)
	}
	return true
}

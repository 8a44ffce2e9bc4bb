package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Volumes is what the workflows need from a disk backend.
// host/hosttest.VolumesSuite checks every implementation against these
// rules.
type Volumes interface {
	// Path is where a domain finds the volume.
	Path(name string) string
	// IsBlock: volumes are block devices (LVM), not files.
	IsBlock() bool
	Exists(ctx context.Context, name string) (bool, error)
	// Create and Clone mark the volume they make (this agent instance
	// and the operation); over a volume of another mark they fail with
	// ErrExists and leave it as it is. Doing it again with the same mark
	// is done (a redo after a crash). A clone carries its own maker's
	// mark, holds its source's data, is grown to sizeMB if that is
	// larger, and is independent of its source; a clone of a missing
	// source fails and leaves nothing. A mark failing Mark.Valid is
	// refused before anything is made.
	Create(ctx context.Context, name string, sizeMB int64, m Mark) error
	Clone(ctx context.Context, src, dst string, sizeMB int64, m Mark) error
	// Resize only grows: a smaller size is an error, the same is done.
	Resize(ctx context.Context, name string, sizeMB int64) error
	// Delete removes a volume only if its mark allows m (same owner, and
	// same operation unless m.Op is 0); otherwise ErrNotOurs. A missing
	// volume is done.
	Delete(ctx context.Context, name string, m Mark) error
	// List returns the agent's volumes (by name prefix or tag) with marks.
	List(ctx context.Context) ([]Volume, error)
	// SetReadOnly makes a volume refuse writers (images); it still clones.
	SetReadOnly(ctx context.Context, name string) error
	// Rename keeps the volume's data and mark and never replaces an
	// existing volume (ErrExists); a missing source is an error.
	Rename(ctx context.Context, from, to string) error
	// SetMark re-marks an existing volume (adoption, legacy volumes).
	SetMark(ctx context.Context, name string, m Mark) error
}

// Mark is who made a volume: the agent instance (the random id of its
// state file) and the operation. Reconciliation deletes a volume only
// when the mark proves this agent made it and abandoned it; the backends
// store the mark with the volume (LVM tags, file xattrs), set in the same
// step that makes the volume, so no volume of the agent's ever exists
// unmarked.
// Op is 0 for volumes no operation made
// (images seeded at start, legacy volumes marked at start, adopted ones).
type Mark struct {
	Owner string
	Op    int64
}

// IsZero reports a volume without a mark: made before marks existed, or
// by someone else.
func (m Mark) IsZero() bool { return m.Owner == "" }

// Allows reports whether a volume marked have may be changed by someone
// holding want: the same owner, and the same operation unless want.Op is 0.
func (m Mark) Allows(want Mark) bool {
	return m.Owner != "" && m.Owner == want.Owner && (want.Op == 0 || m.Op == want.Op)
}

func (m Mark) String() string {
	if m.IsZero() {
		return "unmarked"
	}
	return fmt.Sprintf("instance %s, operation %d", m.Owner, m.Op)
}

// Valid checks a mark a backend is asked to write: an owner safe as an
// LVM tag and an xattr value, and no negative operation.
func (m Mark) Valid() error {
	if err := ValidOwner(m.Owner); err != nil {
		return err
	}
	if m.Op < 0 {
		return fmt.Errorf("volume mark: operation %d is negative", m.Op)
	}
	return nil
}

// ValidOwner checks an owner is safe as an LVM tag and an xattr value.
func ValidOwner(owner string) error {
	if owner == "" || len(owner) > 64 || strings.Trim(owner, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
		return fmt.Errorf("volume owner %q: must be 1 to 64 letters, digits or _", owner)
	}
	return nil
}

// Volume is a volume as the storage lists it.
type Volume struct {
	Name   string
	SizeMB int64
	// Bytes is the space it holds (allocated blocks where the backend
	// knows them, else its size).
	Bytes int64
	Mark  Mark
	// Partial is a half-made volume (the file backend's ".tmp"), never
	// usable as it is.
	Partial bool
}

// Errors a Volumes backend returns.
var (
	// ErrNotOurs: the volume's mark does not allow the change; nothing was done.
	ErrNotOurs = errors.New("the volume is marked by someone else")
	// ErrExists: a volume of that name exists with another mark.
	ErrExists = errors.New("a volume of that name exists and was not made by this operation")
	// ErrNoMarks: the storage cannot hold marks (a filesystem without user xattrs).
	ErrNoMarks = errors.New("the storage cannot keep volume marks")
)

// Quarantined volumes are renamed aside with the time they were set
// aside and their original name, so the expiry needs no record and
// survives a lost state file.

// QuarantinePrefix starts every quarantined volume's name.
const QuarantinePrefix = "xa-quarantine-"

const stamp = "20060102T150405Z"

// Quarantined is the name a volume is set aside under at t.
func Quarantined(orig string, t time.Time) string {
	return QuarantinePrefix + t.UTC().Format(stamp) + "-" + orig
}

// ParseQuarantined returns the original name and the time a quarantined
// volume was set aside; ok is false for any other name.
func ParseQuarantined(name string) (orig string, at time.Time, ok bool) {
	rest, found := strings.CutPrefix(name, QuarantinePrefix)
	if !found || len(rest) < len(stamp)+2 || rest[len(stamp)] != '-' {
		return "", time.Time{}, false
	}
	at, err := time.Parse(stamp, rest[:len(stamp)])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[len(stamp)+1:], at, true
}

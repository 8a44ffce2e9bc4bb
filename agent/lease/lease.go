// Package lease holds an agent instance's lease: an exclusive flock on a
// file named after the instance id, held for the process's life. Two
// agents started from copies of one state.db share the instance id, so
// each would take the other's volumes and domains for its own; the
// second cannot take the lease and refuses to start.
//
// flock belongs to the open file description and ends with the process
// (a SIGKILL included), so a crash never leaves a stale lease. The files
// themselves are kept: removing a lock file races with its next taker.
package lease

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrHeld means another live process holds the lease.
var ErrHeld = errors.New("instance lease held by another process")

// ErrNoLocks means the filesystem of a lock file refuses flock (NFS
// without a lock manager): that lock cannot guard anything there.
var ErrNoLocks = errors.New("flock refused by the filesystem")

// Holder is what a lock file says about the process holding it.
type Holder struct {
	PID      int
	StateDir string
}

// HeldError names the lock file and its holder.
type HeldError struct {
	Path   string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is held by pid %d (state_dir %s)", e.Path, e.Holder.PID, e.Holder.StateDir)
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// Lease is a set of held lock files.
type Lease struct{ files []*os.File }

// Path is the lock file of instance in dir.
func Path(dir, instance string) string {
	return filepath.Join(dir, ".xenagent-"+instance+".lock")
}

// Take locks path without waiting and writes the holder into it. A lock
// held elsewhere is a *HeldError; a filesystem refusing flock is
// ErrNoLocks.
func (l *Lease) Take(path string, h Holder) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		switch {
		case errors.Is(err, unix.EWOULDBLOCK):
			return &HeldError{Path: path, Holder: readHolder(f)}
		case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return fmt.Errorf("%s: %w (%v)", path, ErrNoLocks, err)
		}
		return fmt.Errorf("locking %s: %w", path, err)
	}
	body := fmt.Sprintf("pid=%d\nstate_dir=%s\n", h.PID, h.StateDir)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(body), 0)
	}
	l.files = append(l.files, f)
	return nil
}

func readHolder(f *os.File) Holder {
	var h Holder
	buf := make([]byte, 4096)
	n, _ := f.ReadAt(buf, 0)
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "state_dir":
			h.StateDir = v
		}
	}
	return h
}

// Release unlocks every file (the process's end does it too).
func (l *Lease) Release() {
	for _, f := range l.files {
		f.Close()
	}
	l.files = nil
}

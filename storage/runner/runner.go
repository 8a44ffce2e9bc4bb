// Package runner runs the external tools the storage backends need (lvm,
// mkfs, ...): an argument slice, never a shell; stdout and stderr kept
// apart; LC_ALL=C so messages can be classified; a deadline on every call,
// because LVM commands can hang holding the volume group lock; retries
// only for failures a caller classifies as transient.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Error is a failed command with what it said.
type Error struct {
	Args     []string
	ExitCode int // -1 when it did not exit (timeout, not found)
	Stderr   string
	Err      error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s: exit %d: %s", strings.Join(e.Args, " "), e.ExitCode, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrTimeout is wrapped when a command overran its deadline.
var ErrTimeout = errors.New("command timed out")

// Runner runs commands.
type Runner interface {
	Run(ctx context.Context, args ...string) (stdout []byte, err error)
}

// Exec runs real commands.
type Exec struct {
	// Timeout bounds each attempt.
	Timeout time.Duration
	// Transient says which failures are worth another attempt.
	Transient func(*Error) bool
	// Attempts is how many times a transient failure is tried in all.
	Attempts int
	Log      *slog.Logger
}

// Run runs args[0] with args[1:].
func (x *Exec) Run(ctx context.Context, args ...string) ([]byte, error) {
	attempts := max(x.Attempts, 1)
	var last error
	for i := 0; i < attempts; i++ {
		out, err := x.once(ctx, args)
		if err == nil {
			return out, nil
		}
		last = err
		var re *Error
		if !errors.As(err, &re) || x.Transient == nil || !x.Transient(re) || ctx.Err() != nil {
			return nil, err
		}
		if x.Log != nil {
			x.Log.Warn("transient command failure; retrying", "cmd", args[0], "err", err, "attempt", i+1)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	return nil, last
}

func (x *Exec) once(ctx context.Context, args []string) ([]byte, error) {
	timeout := x.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "LVM_SUPPRESS_FD_WARNINGS=1")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	e := &Error{Args: args, ExitCode: -1, Stderr: stderr.String(), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		e.ExitCode = ee.ExitCode()
	}
	if ctx.Err() == context.DeadlineExceeded {
		e.Err = fmt.Errorf("%w after %v", ErrTimeout, timeout)
	}
	return nil, e
}

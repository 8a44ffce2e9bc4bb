// Package mkfs implements host.Formatter with the host's mkfs tools run
// through storage/runner: an argument slice, never a shell, a deadline
// on every call. A filesystem whose tool is not installed is not offered
// (FSTypes), so a call asking for it is refused before anything is made.
package mkfs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"time"

	"github.com/xenagent/xenagent/storage/runner"
)

// tools are the commands that make each filesystem the v1 document names,
// with the flags that make them run without asking (the volume is new),
// and the smallest volume, in MB, each makes a filesystem on: measured
// with Debian 12's tools (TestMinSizes checks them against the installed
// ones): xfsprogs 6.1 refuses below 300 MB, mkfs.jfs below 16 MB,
// mkreiserfs with its default journal below 33 MB; mkfs.ext3 fits in 1.
var tools = []struct {
	fstype string
	argv   []string
	minMB  int64
}{
	{"ext3", []string{"mkfs.ext3", "-F", "-q"}, 1},
	{"reiserfs", []string{"mkfs.reiserfs", "-f", "-f", "-q"}, 33},
	{"xfs", []string{"mkfs.xfs", "-f", "-q"}, 300},
	{"jfs", []string{"mkfs.jfs", "-q"}, 16},
}

// Timeout bounds one mkfs: a filesystem on a large volume writes its
// metadata, which a busy disk can make slow.
const Timeout = 10 * time.Minute

// Formatter runs mkfs.
type Formatter struct {
	run   runner.Runner
	have  map[string][]string // fstype -> argv, for the tools found
	types []string
	minMB map[string]int64 // fstype -> the smallest volume it is made on
}

// New finds the mkfs tools on PATH; lookPath is exec.LookPath outside
// tests, run a runner.Exec.
func New(run runner.Runner, lookPath func(string) (string, error), log *slog.Logger) *Formatter {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if run == nil {
		run = &runner.Exec{Timeout: Timeout, Log: log}
	}
	f := &Formatter{run: run, have: map[string][]string{}, minMB: map[string]int64{}}
	for _, t := range tools {
		if _, err := lookPath(t.argv[0]); err == nil {
			f.have[t.fstype] = t.argv
			f.types = append(f.types, t.fstype)
			f.minMB[t.fstype] = t.minMB
		}
	}
	if log != nil {
		log.Info("filesystems disks can be created with", "fstypes", f.types)
	}
	return f
}

// FSTypes are the filesystems whose tools are installed.
func (f *Formatter) FSTypes() []string { return slices.Clone(f.types) }

// MinSizesMB are the smallest volumes, in MB, each of FSTypes is made
// on: a disk asked smaller is refused by the call (service.Config.FSMinMB)
// rather than by mkfs once its operation runs.
func (f *Formatter) MinSizesMB() map[string]int64 { return maps.Clone(f.minMB) }

// Format makes an empty fstype filesystem on path.
func (f *Formatter) Format(ctx context.Context, path, fstype string) error {
	argv, ok := f.have[fstype]
	if !ok {
		return fmt.Errorf("formatting %s: no mkfs for %q on this host (it has %v)", path, fstype, f.types)
	}
	if _, err := f.run.Run(ctx, append(slices.Clone(argv), path)...); err != nil {
		return fmt.Errorf("formatting %s as %s: %w", path, fstype, err)
	}
	return nil
}

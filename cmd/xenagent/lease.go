package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/lease"
)

// lockDir is where the host-wide instance leases live; XENAGENT_LOCK_DIR
// overrides it (tests).
func lockDir() string {
	if d := os.Getenv("XENAGENT_LOCK_DIR"); d != "" {
		return d
	}
	return "/run/lock/xenagent"
}

// takeLease takes the instance's lease, host-wide and, with the file
// backend, in the disks dir too (two hosts sharing an NFS dir, where
// flock works there). A second agent started from a copy of the same
// state.db is refused with the way out.
func takeLease(cfg config.Config, configPath, instance string, log *slog.Logger) (*lease.Lease, error) {
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	h := lease.Holder{PID: os.Getpid(), StateDir: stateDir}
	l := &lease.Lease{}
	paths := []string{filepath.Join(lockDir(), instance+".lock")}
	if cfg.Storage.Backend == "file" {
		paths = append(paths, lease.Path(cfg.Storage.Dir, instance))
	}
	for i, p := range paths {
		err := l.Take(p, h)
		if i > 0 && errors.Is(err, lease.ErrNoLocks) {
			log.Warn("the disks dir refuses flock: a copy of this state.db run on another host over it is not detected", "err", err)
			continue
		}
		var held *lease.HeldError
		if errors.As(err, &held) {
			l.Release()
			return nil, fmt.Errorf("instance %s is already run by another xenagent (pid %d, state_dir %s; lock %s): "+
				"this state.db is a copy of another agent's, and both would take the same volumes and disk ids for their own. "+
				"Stop the other agent, or give this copy a new identity with `xenagent new-instance --config %s` (its disks then stay the other's); "+
				"never run two copies of one state", instance, held.Holder.PID, held.Holder.StateDir, held.Path, configPath)
		}
		if err != nil {
			l.Release()
			return nil, fmt.Errorf("taking the instance lease: %w", err)
		}
	}
	return l, nil
}

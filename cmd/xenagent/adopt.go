package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// adopt is `xenagent adopt [--config FILE] --account ID VOLUME...`, run
// with the agent stopped: it makes the named volumes (quarantined,
// another instance's, unmarked) free data disks of the account. Without
// volumes (`xenagent adopt [--config FILE]`) it lists those it could
// adopt.
func adopt(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("adopt", flag.ContinueOnError)
	path := fs.String("config", "/etc/xenagent/xenagent.toml", "configuration file")
	account := fs.Int64("account", 0, "id of the account the disks go to")
	fs.Usage = func() { fmt.Fprint(fs.Output(), help["adopt"]) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// A wrong command line is told before anything is opened, exit 2 as
	// for every other misuse (man xenagent, EXIT STATUS).
	if fs.NArg() > 0 && *account <= 0 {
		fmt.Fprintf(os.Stderr, "xenagent adopt: --account: the id of the account the disks go to is required to adopt a volume (without VOLUME, adopt lists them)\n\n%s", help["adopt"])
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "xenagent adopt:", err)
		return 1
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return fail(err)
	}
	st, err := workflow.OpenState(filepath.Join(cfg.StateDir, "state.db"), newLogger("error", os.Stderr))
	if errors.Is(err, store.ErrLocked) {
		return fail(fmt.Errorf("%w: stop the agent first (systemctl stop xenagent)", err))
	}
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	ctx := context.Background()
	vols, err := backends[cfg.Storage.Backend](ctx, cfg, newLogger("error", os.Stderr))
	if err != nil {
		return fail(err)
	}
	// A copy of this state run by another agent shares the instance:
	// what adopt marks would be that agent's too.
	lease, err := takeLease(cfg, *path, st.Instance(), newLogger("error", os.Stderr))
	if err != nil {
		return fail(err)
	}
	defer lease.Release()
	if fs.NArg() == 0 {
		cands, err := reconcile.Candidates(ctx, st, vols)
		if err != nil {
			return fail(err)
		}
		noun := "volumes"
		if len(cands) == 1 {
			noun = "volume"
		}
		fmt.Fprintf(out, "%d %s in %s that no disk refers to (this instance: %s):\n", len(cands), noun, storageWhere(cfg), st.Instance())
		for _, v := range cands {
			fmt.Fprintf(out, "%s\t%d MB\t%s\n", v.Name, v.SizeMB, v.Mark)
		}
		return 0
	}
	done, err := reconcile.Adopt(ctx, st, vols, cfg.Datacenter.ID, *account, fs.Args())
	for _, a := range done {
		fmt.Fprintf(out, "adopted %s as disk %d (%s, %d MB) of account %d\n", a.Volume, a.Disk.ID, a.Disk.Volume, a.Disk.SizeMB, a.Disk.AccountID)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

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
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// newInstance is `xenagent new-instance --config FILE`, run with the
// agent of that state stopped: it gives a copied state.db a fresh
// instance id, so it no longer shares volumes, domains and locks with the
// agent it was copied from. It re-marks nothing, and it refuses while the
// storage holds any volume marked with the current id: those are the
// original's (or copies of them), and a renamed copy would keep disk
// records pointing at them: two agents could then drive one volume.
func newInstance(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("new-instance", flag.ContinueOnError)
	path := fs.String("config", defaultConfig, "configuration file")
	fs.Usage = func() { fmt.Fprint(fs.Output(), help["new-instance"]) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "xenagent new-instance:", err)
		return 1
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return fail(err)
	}
	log := newLogger("error", os.Stderr)
	st, err := workflow.OpenState(filepath.Join(cfg.StateDir, "state.db"), log)
	if errors.Is(err, store.ErrLocked) {
		return fail(fmt.Errorf("%w: stop the agent first (systemctl stop xenagent)", err))
	}
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	ctx := context.Background()
	vols, err := backends[cfg.Storage.Backend](ctx, cfg, log)
	if err != nil {
		return fail(err)
	}
	list, err := vols.List(ctx)
	if err != nil {
		return fail(fmt.Errorf("listing %s: %w", storageWhere(cfg), err))
	}
	old, n := st.Instance(), 0
	for _, v := range list {
		if v.Mark.Owner == old {
			n++
		}
	}
	if n > 0 {
		return fail(fmt.Errorf("%s holds %d volumes marked with instance %s: this state's disks are there, made by the agent this state.db was copied from (or copied with it); "+
			"a new identity would leave this copy's disk records pointing at that agent's volumes. "+
			"Run the copy over its own storage (another storage.dir or volume group), or drop the copy; the state is unchanged", storageWhere(cfg), n, old))
	}
	id, err := st.NewInstance()
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "instance %s is now %s (state %s); no volume on %s carried the old id\n", old, id, cfg.StateDir, storageWhere(cfg))
	return 0
}

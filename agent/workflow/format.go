package workflow

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/ops"
)

// formatVolume makes the filesystem a disk_create asked for (its fstype
// param, the Gandi v1 face's) on the volume the step just created. It is
// part of create_volume, not a step of its own, so the steps of journals
// written before it keep their positions. Run again after a crash it
// formats again, which is harmless: the operation has not finished, so
// nothing of a client's is on the volume yet.
func (s *Workflows) formatVolume(ctx context.Context, r *ops.Run, volume string) error {
	fstype := r.Op().Params["fstype"]
	if fstype == "" {
		return nil
	}
	if s.cfg.Formatter == nil {
		return fmt.Errorf("fstype %s: this host makes no filesystems", fstype)
	}
	return s.cfg.Formatter.Format(ctx, s.vols.Path(volume), fstype)
}

package file

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/host"
	"golang.org/x/sys/unix"
)

var _ host.PoolCapacity = (*Backend)(nil)

// Capacity is statfs of the volume directory's filesystem. Free is what
// an unprivileged writer can still use (f_bavail), so Used+Free is less
// than Size by the blocks the filesystem reserves for root. Volumes are
// sparse: their sizes may add up to more than Size, and only Used says
// what they hold.
func (b *Backend) Capacity(ctx context.Context) (host.Capacity, error) {
	if err := ctx.Err(); err != nil {
		return host.Capacity{}, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(b.dir, &st); err != nil {
		return host.Capacity{}, fmt.Errorf("statfs %s: %w", b.dir, err)
	}
	bs := int64(st.Bsize)
	return host.Capacity{Kind: "file", Where: b.dir, Size: int64(st.Blocks) * bs,
		Used: int64(st.Blocks-st.Bfree) * bs, Free: int64(st.Bavail) * bs}, nil
}

package hostfake

import (
	"context"

	"github.com/xenagent/xenagent/agent/host"
)

// PoolSize is the fake pool's size: 1 TiB of data, 1 GiB of metadata (a
// thin pool's, as the LVM backend reports).
const (
	PoolSize         = 1 << 40
	PoolMetadataSize = 1 << 30
)

var _ host.PoolCapacity = (*Volumes)(nil)

// Capacity reports the fake pool as a thin pool whose used data is the
// pages its volumes hold, and whose metadata grows with their number;
// "Capacity" faults apply.
func (v *Volumes) Capacity(ctx context.Context) (host.Capacity, error) {
	var used, count int64
	err := v.lock(ctx, "Capacity", "", func() error {
		for _, x := range v.vols {
			used += int64(len(x.pages)) * page
			count++
		}
		for _, x := range v.partial {
			used += int64(len(x.pages)) * page
			count++
		}
		return nil
	})
	meta := min(PoolMetadataSize, 4096+count*4096)
	return host.Capacity{Kind: "fake-thin", Where: v.dir, Size: PoolSize, Used: used, Free: PoolSize - used,
		Metadata: &host.Space{Size: PoolMetadataSize, Used: meta, Free: PoolMetadataSize - meta}}, err
}

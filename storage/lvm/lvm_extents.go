package lvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/storage/runner"
	"github.com/xenagent/xenagent/storage/volwrite"
)

// A thin LV's data is where the pool's metadata maps its blocks:
// thin_dump of the LV's thin device gives its allocated blocks,
// thin_delta between a snapshot's device and its origin's the blocks
// mapped differently since. Both read the metadata device of a live pool
// only through a metadata snapshot, reserved with a message to the pool
// and released after: one at a time per pool, so a backend takes them in
// turn, and one left by a crash (the kernel then answers "busy") is
// released and taken again, since no one else reserves them on a pool
// the agent owns.

var _ host.Extents = (*Backend)(nil)

// ErrNotThin means a volume is not a thin LV of the configured pool.
var ErrNotThin = errors.New("not a thin volume of the pool")

// thinLV is what Extents need of an LV: its size and thin device id.
type thinLV struct {
	size int64 // bytes
	id   int64
}

// thinInfo returns an LV's size and thin device id, checking that it is
// a thin LV of the configured pool.
func (b *Backend) thinInfo(ctx context.Context, name string) (thinLV, error) {
	rows, err := b.report(ctx, "lvs", "lv_name,lv_size,thin_id,pool_lv", b.lv(name))
	if err != nil {
		return thinLV{}, err
	}
	if len(rows) != 1 {
		return thinLV{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	mb, err := parseMB(rows[0]["lv_size"])
	if err != nil {
		return thinLV{}, err
	}
	lv := thinLV{size: mb << 20}
	if b.cfg.Pool == "" {
		return lv, nil
	}
	if pool := rows[0]["pool_lv"]; pool != b.cfg.Pool {
		return thinLV{}, fmt.Errorf("volume %s (pool %q): %w %s", name, pool, ErrNotThin, b.cfg.Pool)
	}
	if lv.id, err = strconv.ParseInt(strings.TrimSpace(rows[0]["thin_id"]), 10, 64); err != nil || lv.id < 0 {
		return thinLV{}, fmt.Errorf("volume %s: thin_id %q: %w", name, rows[0]["thin_id"], ErrNotThin)
	}
	return lv, nil
}

// dmName is the device-mapper name LVM gives vg/lv: each '-' in either
// doubled, the two joined by one.
func dmName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// poolDevice is the pool's thin-pool target, which takes the messages;
// metaDevice its metadata, which the tools read.
func (b *Backend) poolDevice() string { return dmName(b.cfg.VG, b.cfg.Pool) + "-tpool" }
func (b *Backend) metaDevice() string { return "/dev/mapper/" + dmName(b.cfg.VG, b.cfg.Pool+"_tmeta") }

// message sends the pool a message (reserve_metadata_snap, release_metadata_snap).
func (b *Backend) message(ctx context.Context, msg string) error {
	_, err := b.run.Run(ctx, "dmsetup", "message", b.poolDevice(), "0", msg)
	return err
}

func busy(err error) bool {
	var re *runner.Error
	return errors.As(err, &re) && strings.Contains(strings.ToLower(re.Stderr), "busy")
}

// withMetadataSnap runs fn while the pool's metadata snapshot is held.
// Its release runs even when ctx is done; a release that fails is an
// error (the next reservation takes the snapshot over).
func (b *Backend) withMetadataSnap(ctx context.Context, fn func(meta string) error) (err error) {
	b.metaSnap.Lock()
	defer b.metaSnap.Unlock()
	err = b.message(ctx, "reserve_metadata_snap")
	if busy(err) {
		// Left held by a crash between reserve and release.
		if err = b.message(ctx, "release_metadata_snap"); err == nil {
			err = b.message(ctx, "reserve_metadata_snap")
		}
	}
	if err != nil {
		return fmt.Errorf("lvm: reserving a metadata snapshot of %s: %w", b.poolDevice(), err)
	}
	defer func() {
		if rerr := b.message(context.WithoutCancel(ctx), "release_metadata_snap"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("lvm: releasing the metadata snapshot of %s: %w", b.poolDevice(), rerr))
		}
	}()
	return fn(b.metaDevice())
}

// unknownOption reports a tool refusing an option it does not know.
func unknownOption(err error, opt string) bool {
	var re *runner.Error
	if !errors.As(err, &re) {
		return false
	}
	s := strings.ToLower(re.Stderr)
	return strings.Contains(s, opt) && (strings.Contains(s, "unrecognized") || strings.Contains(s, "unexpected") ||
		strings.Contains(s, "unknown") || strings.Contains(s, "found argument") || strings.Contains(s, "invalid option"))
}

// toExtents turns thin blocks into byte extents within size.
func toExtents(bs []blocks, blockSectors, size int64) []host.Extent {
	unit := blockSectors * 512
	out := make([]host.Extent, 0, len(bs))
	for _, x := range bs {
		out = append(out, host.Extent{Off: x.begin * unit, Len: x.length * unit})
	}
	return host.ClipExtents(host.NormalizeExtents(out), size)
}

// Allocated returns the ranges of a thin LV the pool has blocks for, at
// the pool's chunk size. Without a pool an LV is all allocated.
func (b *Backend) Allocated(ctx context.Context, name string) ([]host.Extent, error) {
	lv, err := b.thinInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	if b.cfg.Pool == "" {
		return []host.Extent{{Off: 0, Len: lv.size}}, nil
	}
	var dump thinDump
	err = b.withMetadataSnap(ctx, func(meta string) error {
		id := strconv.FormatInt(lv.id, 10)
		out, err := b.run.Run(ctx, "thin_dump", "-m", "--dev-id", id, meta)
		if unknownOption(err, "dev-id") {
			// A thin_dump without --dev-id dumps every device; the
			// parser keeps this one's.
			out, err = b.run.Run(ctx, "thin_dump", "-m", meta)
		}
		if err != nil {
			return err
		}
		if dump, err = parseThinDump(bytes.NewReader(out), lv.id); err == nil && !dump.found {
			err = fmt.Errorf("%w: thin device %d of volume %s is not in the pool's metadata", errThinXML, lv.id, name)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mapping volume %s: %w", name, err)
	}
	return toExtents(dump.mapped, dump.blockSectors, lv.size), nil
}

// Changed returns the ranges where the pool maps name's blocks otherwise
// than base's (a thin snapshot of it shares every block not written
// since), at the pool's chunk size.
func (b *Backend) Changed(ctx context.Context, base, name string) ([]host.Extent, error) {
	if b.cfg.Pool == "" {
		return nil, errors.New("lvm: changes since a snapshot need a thin pool")
	}
	from, err := b.thinInfo(ctx, base)
	if err != nil {
		return nil, err
	}
	to, err := b.thinInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	var sectors int64
	var differ []blocks
	err = b.withMetadataSnap(ctx, func(meta string) error {
		out, err := b.run.Run(ctx, "thin_delta", "-m", "--thin1", strconv.FormatInt(from.id, 10), "--thin2", strconv.FormatInt(to.id, 10), meta)
		if err != nil {
			return err
		}
		sectors, differ, err = parseThinDelta(bytes.NewReader(out))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("comparing volume %s with %s: %w", name, base, err)
	}
	return toExtents(differ, sectors, to.size), nil
}

// Writer opens an LV's block device to receive its data, activating it
// first if needed. Ranges never written stay unallocated in the pool;
// zeroed ranges are zeroed by the kernel (see volwrite).
func (b *Backend) Writer(ctx context.Context, name string) (host.VolumeWriter, error) {
	if _, err := b.SizeMB(ctx, name); err != nil {
		return nil, err
	}
	if err := b.ensureActive(ctx, name); err != nil {
		return nil, err
	}
	w, err := volwrite.Open(b.Path(name), true)
	if err != nil {
		return nil, fmt.Errorf("opening volume %s: %w", name, err)
	}
	return w, nil
}

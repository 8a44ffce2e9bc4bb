package lvm

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/host"
)

var _ host.PoolCapacity = (*Backend)(nil)

// Capacity reports the thin pool's data and metadata, or, without a
// pool, the volume group's size and free extents.
//
// A thin pool's fill is what matters: its volumes are overcommitted, and
// the pool, not the VG, runs out. lvs gives lv_size and data_percent for
// the data, lv_metadata_size and metadata_percent for the metadata (a
// full metadata device stops every thin volume as surely as full data).
// Sizes are asked in bytes (--units b) so nothing is rounded.
func (b *Backend) Capacity(ctx context.Context) (host.Capacity, error) {
	if b.cfg.Pool == "" {
		rows, err := b.bytesReport(ctx, "vgs", "vg_size,vg_free", b.cfg.VG)
		if err != nil {
			return host.Capacity{}, err
		}
		size, err1 := parseInt(rows[0], "vg_size")
		free, err2 := parseInt(rows[0], "vg_free")
		if err := firstErr(err1, err2); err != nil {
			return host.Capacity{}, err
		}
		return host.Capacity{Kind: "lvm", Where: b.cfg.VG, Size: size, Used: size - free, Free: free}, nil
	}
	rows, err := b.bytesReport(ctx, "lvs", "lv_size,data_percent,lv_metadata_size,metadata_percent", b.lv(b.cfg.Pool))
	if err != nil {
		return host.Capacity{}, err
	}
	r := rows[0]
	size, err1 := parseInt(r, "lv_size")
	dataPct, err2 := parsePercent(r, "data_percent")
	metaSize, err3 := parseInt(r, "lv_metadata_size")
	metaPct, err4 := parsePercent(r, "metadata_percent")
	if err := firstErr(err1, err2, err3, err4); err != nil {
		return host.Capacity{}, err
	}
	used, metaUsed := share(size, dataPct), share(metaSize, metaPct)
	return host.Capacity{Kind: "lvm-thin", Where: b.lv(b.cfg.Pool), Size: size, Used: used, Free: size - used,
		Metadata: &host.Space{Size: metaSize, Used: metaUsed, Free: metaSize - metaUsed}}, nil
}

// bytesReport is report in bytes; exactly one row is expected.
func (b *Backend) bytesReport(ctx context.Context, cmd, fields, target string) ([]map[string]string, error) {
	out, err := b.cmd(ctx, cmd, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields, target)
	if err != nil {
		return nil, fmt.Errorf("lvm: capacity of %s: %w", target, err)
	}
	rows, err := parseReport(out)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("lvm: capacity of %s: %d report rows, want 1", target, len(rows))
	}
	return rows, nil
}

func parseInt(row map[string]string, field string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(row[field]), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("lvm: %s %q: want a whole number of bytes", field, row[field])
	}
	return n, nil
}

// parsePercent reads lvs's percentages ("12.34"); a pool nothing wrote
// to yet may show "" (0%).
func parsePercent(row map[string]string, field string) (float64, error) {
	s := strings.TrimSpace(row[field])
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
		return 0, fmt.Errorf("lvm: %s %q: want a percentage", field, row[field])
	}
	return f, nil
}

// share is pct percent of size, in whole bytes.
func share(size int64, pct float64) int64 { return min(size, int64(math.Round(float64(size)*pct/100))) }

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"time"

	"github.com/xenagent/xenagent/storage/file"
)

// extentsRows measures what a migration's delta step asks of the file
// backend while the VM is stopped: the ranges changed since the
// pre-copy's snapshot, found from btrfs's extent maps. disk is a fully
// written volume of sizeMB; snap is made here, then changedMiB written
// into disk in 1 MiB pieces spread over it.
func extentsRows(ctx context.Context, b *file.Backend, disk string, sizeMB int64, changedMiB int) ([]row, error) {
	if err := b.Clone(ctx, disk, "presnap", sizeMB, benchMark); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(b.Path(disk), os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	step := sizeMB / int64(changedMiB) << 20
	for i := range int64(changedMiB) {
		if _, err := out.WriteAt(buf, i*step); err != nil {
			out.Close()
			return nil, err
		}
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	changed, err := b.Changed(ctx, "presnap", disk)
	took := time.Since(t0)
	if err != nil {
		return nil, err
	}
	var found int64
	for _, e := range changed {
		found += e.Len
	}
	written := int64(changedMiB) << 20
	return []row{{
		name:   fmt.Sprintf("file backend changes since a snapshot: %d MiB written in %.3g GiB", changedMiB, float64(sizeMB)/1024),
		value:  fmt.Sprintf("%s, %.1f MiB found", ms(took), float64(found)/(1<<20)),
		target: "<= 1 s, = written",
		ok:     took <= time.Second && found >= written && found <= written+int64(changedMiB)*128<<10,
	}}, nil
}

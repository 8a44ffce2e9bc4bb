package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/storage/file"
)

// benchMark marks the benchmark's volumes (on its own throwaway btrfs).
var benchMark = host.Mark{Owner: "bench", Op: 1}

// storageRows measures create_from, snapshot and rollback of a fully
// written image on the file backend over a loop-mounted btrfs, each
// against a full copy of the same image in the same run.
func storageRows(imageGiB int) ([]row, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "xenagent-bench-fs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	mnt, unmount, err := mountBtrfs(dir, 2*imageGiB+4) // move.go
	if err != nil {
		return nil, fmt.Errorf("the storage benchmark's btrfs: %w", err)
	}
	defer unmount()
	b, err := file.New(mnt, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	size := int64(imageGiB) << 10
	if err := b.Create(ctx, "image", size, benchMark); err != nil {
		return nil, err
	}
	// Fill every byte: a copy of a sparse image would flatter the copy.
	buf := make([]byte, 4<<20)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("filling the image with random bytes: %w", err)
	}
	out, err := os.OpenFile(b.Path("image"), os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	for off := int64(0); off < size<<20; off += int64(len(buf)) {
		if _, err := out.WriteAt(buf, off); err != nil {
			return nil, err
		}
	}
	out.Sync()
	out.Close()

	timeIt := func(fn func() error) (time.Duration, error) {
		t0 := time.Now()
		err := fn()
		return time.Since(t0), err
	}
	createFrom, err := timeIt(func() error { return b.Clone(ctx, "image", "disk", size, benchMark) })
	if err != nil {
		return nil, err
	}
	snapshot, err := timeIt(func() error { return b.Clone(ctx, "disk", "snap", size, benchMark) })
	if err != nil {
		return nil, err
	}
	rollback, err := timeIt(func() error { return b.Clone(ctx, "snap", "rolled", size, benchMark) })
	if err != nil {
		return nil, err
	}
	if b.FullCopies() != 0 {
		return nil, fmt.Errorf("btrfs refused reflinks")
	}
	copyTime, err := timeIt(func() error {
		src, err := os.Open(b.Path("image"))
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.Create(filepath.Join(mnt, "fullcopy"))
		if err != nil {
			return err
		}
		defer dst.Close()
		// Plain reads and writes: io.Copy between files would use
		// copy_file_range, which btrfs turns into a reflink.
		if _, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, 4<<20)); err != nil {
			return err
		}
		return dst.Sync()
	})
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, m := range []struct {
		name string
		d    time.Duration
	}{{"create_from", createFrom}, {"snapshot", snapshot}, {"rollback", rollback}} {
		ratio := float64(copyTime) / float64(m.d)
		rows = append(rows, row{
			name:   fmt.Sprintf("file backend %s of a %d GiB image (btrfs reflink)", m.name, imageGiB),
			value:  fmt.Sprintf("%s, %.0fx faster than a copy", ms(m.d), ratio),
			target: "<= 200 ms, >= 100x",
			ok:     m.d <= 200*time.Millisecond && ratio >= 100,
		})
	}
	rows = append(rows, row{name: fmt.Sprintf("full copy of the same %d GiB image", imageGiB), value: ms(copyTime), ok: true})
	erows, err := extentsRows(ctx, b, "disk", size, 100) // extents.go
	if err != nil {
		return nil, fmt.Errorf("changes since a snapshot: %w", err)
	}
	return append(rows, erows...), nil
}

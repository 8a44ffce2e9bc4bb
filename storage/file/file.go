// Package file is the disk backend for hosts without device-mapper: each
// volume is a sparse file in one directory. Clones use the FICLONE ioctl
// (constant time on btrfs and xfs); where the filesystem refuses reflinks
// they fall back to a sparse-aware copy, with a warning, once.
//
// Every mutation writes to a temporary name and renames into place, so a
// crash leaves either the whole volume or a "*.tmp" file that Orphans
// reports and Delete removes; never a half-written volume under a real name.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xenagent/xenagent/storage/durable"
	"golang.org/x/sys/unix"
)

// ErrNotFound means no volume has that name.
var ErrNotFound = errors.New("volume not found")

// ErrShrink means a resize asked for less than the volume has.
var ErrShrink = errors.New("volumes never shrink")

const mb = 1 << 20

// Backend stores volumes as files under Dir.
type Backend struct {
	dir        string
	log        *slog.Logger
	warn       sync.Once
	fullCopies atomic.Int64
}

// FullCopies counts clones that fell back to copying data.
func (b *Backend) FullCopies() int64 { return b.fullCopies.Load() }

// New returns a backend rooted at dir, creating it if needed.
func New(dir string, log *slog.Logger) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating volume directory: %w", err)
	}
	return &Backend{dir: dir, log: log}, nil
}

func validName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || strings.HasSuffix(name, ".tmp") {
		return fmt.Errorf("invalid volume name %q", name)
	}
	return nil
}

// Path is where the hypervisor finds the volume.
func (b *Backend) Path(name string) string { return filepath.Join(b.dir, name+".img") }

// IsBlock reports that volumes are files, not block devices.
func (b *Backend) IsBlock() bool { return false }

// Exists reports whether the volume exists.
func (b *Backend) Exists(ctx context.Context, name string) (bool, error) {
	_, err := os.Stat(b.Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// SizeMB returns the volume's size.
func (b *Backend) SizeMB(ctx context.Context, name string) (int64, error) {
	fi, err := os.Stat(b.Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size() / mb, nil
}

// Create makes an empty sparse volume; an existing one of the same size is kept.
func (b *Backend) Create(ctx context.Context, name string, sizeMB int64) error {
	if err := validName(name); err != nil {
		return err
	}
	if size, err := b.SizeMB(ctx, name); err == nil && size == sizeMB {
		return nil
	}
	tmp := b.Path(name) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("creating volume %s: %w", name, err)
	}
	if err := f.Truncate(sizeMB * mb); err != nil {
		f.Close()
		return fmt.Errorf("sizing volume %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return b.commit(tmp, name)
}

func (b *Backend) commit(tmp, name string) error {
	if err := os.Rename(tmp, b.Path(name)); err != nil {
		return fmt.Errorf("committing volume %s: %w", name, err)
	}
	return durable.SyncDir(b.dir)
}

// Clone makes dst a copy of src, grown to sizeMB if larger. An existing dst
// is kept (the clone already happened before a crash).
func (b *Backend) Clone(ctx context.Context, src, dst string, sizeMB int64) error {
	if err := validName(dst); err != nil {
		return err
	}
	if ok, err := b.Exists(ctx, dst); err != nil || ok {
		if ok {
			return b.Resize(ctx, dst, sizeMB)
		}
		return err
	}
	in, err := os.Open(b.Path(src))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clone source %s: %w", src, ErrNotFound)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := b.Path(dst) + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
		b.warn.Do(func() {
			b.log.Warn("filesystem refuses reflinks; clones are full copies", "dir", b.dir, "err", err)
		})
		b.fullCopies.Add(1)
		if err := sparseCopy(ctx, out, in); err != nil {
			out.Close()
			os.Remove(tmp)
			return fmt.Errorf("copying %s to %s: %w", src, dst, err)
		}
	}
	fi, err := in.Stat()
	if err == nil && sizeMB*mb > fi.Size() {
		err = out.Truncate(sizeMB * mb)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return b.commit(tmp, dst)
}

// sparseCopy copies only the data extents of in, keeping holes.
func sparseCopy(ctx context.Context, out, in *os.File) error {
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if err := out.Truncate(size); err != nil {
		return err
	}
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				return nil // only a hole remains
			}
			return err
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.NewOffsetWriter(out, data), io.NewSectionReader(in, data, hole-data)); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// Resize grows a volume; asking for less than it has is ErrShrink.
func (b *Backend) Resize(ctx context.Context, name string, sizeMB int64) error {
	cur, err := b.SizeMB(ctx, name)
	if err != nil {
		return err
	}
	if sizeMB < cur {
		return fmt.Errorf("resizing %s from %d to %d MB: %w", name, cur, sizeMB, ErrShrink)
	}
	if sizeMB == cur {
		return nil
	}
	return os.Truncate(b.Path(name), sizeMB*mb)
}

// Delete removes a volume and any leftover temporary; missing is fine.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	for _, p := range []string{b.Path(name), b.Path(name) + ".tmp"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("deleting volume %s: %w", name, err)
		}
	}
	return durable.SyncDir(b.dir)
}

// List returns the names of all volumes, including half-made ones
// (reported with their ".tmp" suffix so reconciliation can clear them).
func (b *Backend) List(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".img.tmp"):
			names = append(names, strings.TrimSuffix(n, ".img.tmp")+".tmp")
		case strings.HasSuffix(n, ".img"):
			names = append(names, strings.TrimSuffix(n, ".img"))
		}
	}
	return names, nil
}

// SetReadOnly makes an image's file read-only. Root is not stopped by
// the mode; the agent never opens an image for writing, and an immutable
// flag would also stop an operator's rm -rf of a state directory.
func (b *Backend) SetReadOnly(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := os.Chmod(b.Path(name), 0o444); err != nil {
		return fmt.Errorf("making volume %s read-only: %w", name, err)
	}
	return nil
}

// Package file is the disk backend for hosts without device-mapper: each
// volume is a sparse file in one directory. Clones use the FICLONE ioctl
// (constant time on btrfs and xfs); where the filesystem refuses reflinks
// they fall back to a sparse-aware copy, with a warning, once.
//
// Every mutation writes to a temporary name and renames into place, so a
// crash leaves either the whole volume or a "*.tmp" file that List
// reports as partial; never a half-written volume under a real name.
//
// Every volume carries its mark (the agent instance and the operation
// that made it) in the user xattrs user.xenagent.owner and
// user.xenagent.op, set on the temporary file while it is still unnamed
// (O_TMPFILE) and before it is renamed into place: neither a volume nor
// its temporary is ever seen unmarked. A filesystem refusing user
// xattrs is refused at New, with the reason.
//
// For moving a volume (host.Extents, extents.go) the data a volume holds
// is what SEEK_DATA finds, and what changed since a snapshot is read off
// FIEMAP's physical extents: a reflink clone shares every block not
// written since, so the shared ranges are the same without reading them.
// Where the two share nothing (the clone was a full copy) or FIEMAP
// cannot place an extent, the data is read and compared.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xenagent/xenagent/agent/host"
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

// New returns a backend rooted at dir, creating it if needed. It checks
// that the filesystem keeps user xattrs, where the volumes' marks live.
func New(dir string, log *slog.Logger) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating volume directory: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".xattr-probe-")
	if err != nil {
		return nil, fmt.Errorf("volume directory %s: %w", dir, err)
	}
	defer os.Remove(probe.Name())
	defer probe.Close()
	if err := unix.Fsetxattr(int(probe.Fd()), xattrOwner, []byte("probe"), 0); err != nil {
		return nil, xattrErr(dir, err)
	}
	return &Backend{dir: dir, log: log}, nil
}

// The xattrs holding a volume's mark.
const (
	xattrOwner = "user.xenagent.owner"
	xattrOp    = "user.xenagent.op"
)

func xattrErr(where string, err error) error {
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: %s is on a filesystem that refuses user xattrs (%v); put storage.dir on ext4, xfs or btrfs (mounted without nouser_xattr)",
			host.ErrNoMarks, where, err)
	}
	return fmt.Errorf("marking %s: %w", where, err)
}

// setMark writes the op first: a crash in between leaves the volume
// without a (new) owner, never with an owner and another's op.
func setMark(f *os.File, m host.Mark) error {
	if err := unix.Fsetxattr(int(f.Fd()), xattrOp, []byte(strconv.FormatInt(m.Op, 10)), 0); err != nil {
		return xattrErr(f.Name(), err)
	}
	if err := unix.Fsetxattr(int(f.Fd()), xattrOwner, []byte(m.Owner), 0); err != nil {
		return xattrErr(f.Name(), err)
	}
	return nil
}

// readMark returns the zero mark for a file without one.
func readMark(path string) (host.Mark, error) {
	var m host.Mark
	buf := make([]byte, 128)
	n, err := unix.Getxattr(path, xattrOwner, buf)
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
		return m, nil
	case err != nil:
		return m, fmt.Errorf("reading the mark of %s: %w", path, err)
	}
	m.Owner = string(buf[:n])
	if n, err = unix.Getxattr(path, xattrOp, buf); err == nil {
		m.Op, _ = strconv.ParseInt(string(buf[:n]), 10, 64)
	}
	return m, nil
}

// MarkOf returns a volume's mark (zero when it has none).
func (b *Backend) MarkOf(ctx context.Context, name string) (host.Mark, error) {
	if _, err := os.Stat(b.Path(name)); errors.Is(err, os.ErrNotExist) {
		return host.Mark{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return readMark(b.Path(name))
}

// SetMark marks an existing volume (a legacy one the state refers to, an
// adopted one).
func (b *Backend) SetMark(ctx context.Context, name string, m host.Mark) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := m.Valid(); err != nil {
		return err
	}
	f, err := os.Open(b.Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := setMark(f, m); err != nil {
		return err
	}
	return f.Sync()
}

// claim checks that name is free for a volume marked m, or already the
// volume m made (a redo): exists says which. A half-made temporary of
// another maker is refused too, since writing it would spoil theirs;
// an empty unmarked one of this name is not anyone's (a crash between
// creating and marking it where O_TMPFILE is refused, or an older
// agent's) and is reclaimed: it holds no data. A full volume is never
// reclaimed, marked or not.
func (b *Backend) claim(name string, m host.Mark) (exists bool, err error) {
	for _, p := range []string{b.Path(name), b.Path(name) + ".tmp"} {
		have, err := readMark(p)
		fi, serr := os.Stat(p)
		if errors.Is(serr, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if have.IsZero() && serr == nil && fi.Mode().IsRegular() && fi.Size() == 0 && p != b.Path(name) {
			continue
		}
		if !have.Allows(m) {
			return false, fmt.Errorf("volume %s (%s): %w; it is left as it is", name, have, host.ErrExists)
		}
		if p == b.Path(name) {
			exists = true
		}
	}
	return exists, nil
}

// newTmp makes the temporary of name, marked, replacing a stale one
// claim allowed. The file is made unnamed (O_TMPFILE), marked, then
// linked in as "<name>.img.tmp", so it never appears unmarked: a crash
// before the link leaves nothing. Where the filesystem refuses O_TMPFILE
// it is created by name and marked after, and a crash in between leaves
// an empty unmarked temporary, which claim reclaims.
func (b *Backend) newTmp(name string, m host.Mark) (*os.File, error) {
	tmp := b.Path(name) + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("creating volume %s: %w", name, err)
	}
	fd, err := unix.Open(b.dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o640)
	if err != nil {
		// EOPNOTSUPP: the filesystem has no O_TMPFILE; EISDIR/EINVAL: a
		// kernel without it.
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("creating volume %s: %w", name, err)
		}
		return b.newTmpNamed(name, m)
	}
	f := os.NewFile(uintptr(fd), tmp)
	if err := setMark(f, m); err != nil {
		f.Close()
		return nil, err
	}
	// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (the agent is root);
	// /proc/self/fd works without it.
	err = unix.Linkat(fd, "", unix.AT_FDCWD, tmp, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("creating volume %s: %w", name, err)
	}
	return f, nil
}

// newTmpNamed is newTmp where O_TMPFILE is refused.
func (b *Backend) newTmpNamed(name string, m host.Mark) (*os.File, error) {
	tmp := b.Path(name) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("creating volume %s: %w", name, err)
	}
	if err := setMark(f, m); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	return f, nil
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

// Create makes an empty sparse volume marked m; an existing one of the
// same size and mark is kept. A volume of that name with another mark
// is never touched: that is host.ErrExists.
func (b *Backend) Create(ctx context.Context, name string, sizeMB int64, m host.Mark) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := m.Valid(); err != nil {
		return err
	}
	if _, err := b.claim(name, m); err != nil {
		return err
	}
	if size, err := b.SizeMB(ctx, name); err == nil && size == sizeMB {
		return nil
	}
	tmp := b.Path(name) + ".tmp"
	f, err := b.newTmp(name, m)
	if err != nil {
		return err
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

// Clone makes dst, marked m, a copy of src, grown to sizeMB if larger.
// An existing dst of the same mark is kept (the clone already happened
// before a crash); one of another mark is host.ErrExists.
func (b *Backend) Clone(ctx context.Context, src, dst string, sizeMB int64, m host.Mark) error {
	if err := validName(dst); err != nil {
		return err
	}
	if err := m.Valid(); err != nil {
		return err
	}
	if ok, err := b.claim(dst, m); err != nil || ok {
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
	out, err := b.newTmp(dst, m)
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

// Delete removes a volume and its leftover temporary, only where their
// mark allows m (same owner; same operation unless m.Op is 0); missing
// is fine. A volume of another mark is host.ErrNotOurs and stays. The
// name of a partial volume as List gives it ("x.tmp") removes only it.
func (b *Backend) Delete(ctx context.Context, name string, m host.Mark) error {
	paths := []string{b.Path(name), b.Path(name) + ".tmp"}
	if base, ok := strings.CutSuffix(name, ".tmp"); ok {
		name, paths = base, []string{b.Path(base) + ".tmp"}
	}
	if err := validName(name); err != nil {
		return err
	}
	for _, p := range paths {
		have, err := readMark(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if !have.Allows(m) {
			return fmt.Errorf("deleting volume %s (%s): %w; it is left as it is", filepath.Base(p), have, host.ErrNotOurs)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("deleting volume %s: %w", name, err)
		}
	}
	return durable.SyncDir(b.dir)
}

// Rename gives a volume a new name (quarantine, adoption); an existing
// volume of the new name is never replaced.
func (b *Backend) Rename(ctx context.Context, from, to string) error {
	for _, n := range []string{from, to} {
		if err := validName(n); err != nil {
			return err
		}
	}
	err := unix.Renameat2(unix.AT_FDCWD, b.Path(from), unix.AT_FDCWD, b.Path(to), unix.RENAME_NOREPLACE)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("renaming %s: %w", from, ErrNotFound)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("renaming %s to %s: %w", from, to, host.ErrExists)
	case err != nil:
		return fmt.Errorf("renaming %s to %s: %w", from, to, err)
	}
	return durable.SyncDir(b.dir)
}

// List returns every volume with its mark, including half-made ones
// (reported with their ".tmp" suffix and Partial).
func (b *Backend) List(ctx context.Context) ([]host.Volume, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	var vols []host.Volume
	for _, e := range entries {
		n := e.Name()
		var v host.Volume
		switch {
		case strings.HasSuffix(n, ".img.tmp"):
			v = host.Volume{Name: strings.TrimSuffix(n, ".img.tmp") + ".tmp", Partial: true}
		case strings.HasSuffix(n, ".img"):
			v = host.Volume{Name: strings.TrimSuffix(n, ".img")}
		default:
			continue
		}
		p := filepath.Join(b.dir, n)
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // deleted meanwhile
			}
			return nil, err
		}
		v.SizeMB, v.Bytes = st.Size/mb, st.Blocks*512
		if v.Mark, err = readMark(p); err != nil {
			return nil, err
		}
		vols = append(vols, v)
	}
	return vols, nil
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

package hostfake

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
)

// Errors of the fake Volumes beyond the port's.
var (
	ErrNoVolume = errors.New("volume not found")
	ErrShrink   = errors.New("volumes never shrink")
	ErrReadOnly = errors.New("volume is read-only")
)

const page = 4096

// Volumes is an in-memory host.Volumes. Volumes hold data (sparse, by
// page) so that clones, renames and read-only images can be checked as on
// a real backend. Like the file backend, a half-made volume shows in List
// as "NAME.tmp" (see PutPartial).
type Volumes struct {
	Faults

	mu      sync.Mutex
	dir     string
	block   bool
	vols    map[string]*volume
	partial map[string]*volume
}

type volume struct {
	sizeMB   int64
	mark     host.Mark
	readOnly bool
	pages    map[int64][]byte
}

var _ host.Volumes = (*Volumes)(nil)

// VolumesOption configures fake Volumes.
type VolumesOption func(*Volumes)

// Block makes the volumes block devices (paths under /dev, as LVM's).
func Block() VolumesOption { return func(v *Volumes) { v.block, v.dir = true, "/dev/fakevg" } }

// NewVolumes returns fake volumes with none.
func NewVolumes(opts ...VolumesOption) *Volumes {
	v := &Volumes{dir: "/fake/volumes", vols: map[string]*volume{}, partial: map[string]*volume{}}
	for _, o := range opts {
		o(v)
	}
	return v
}

// lock runs fn under the lock as method on name, recorded and failed as
// the faults say.
func (v *Volumes) lock(ctx context.Context, method, name string, fn func() error) error {
	return v.call(ctx, method, name, func() error {
		v.mu.Lock()
		defer v.mu.Unlock()
		return fn()
	})
}

func validName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || strings.HasSuffix(name, ".tmp") {
		return fmt.Errorf("invalid volume name %q", name)
	}
	return nil
}

// Path is where a domain would find the volume.
func (v *Volumes) Path(name string) string {
	if v.block {
		return path.Join(v.dir, name)
	}
	return path.Join(v.dir, name+".img")
}

// IsBlock reports the Block option.
func (v *Volumes) IsBlock() bool { return v.block }

// Exists reports whether the volume exists.
func (v *Volumes) Exists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := v.lock(ctx, "Exists", name, func() error {
		_, ok = v.vols[name]
		return nil
	})
	return ok, err
}

// claim checks that name is free for a volume marked m, or already the
// one m made (exists); a partial one of another mark is refused too.
func (v *Volumes) claim(name string, m host.Mark) (exists bool, err error) {
	for _, have := range []*volume{v.vols[name], v.partial[name]} {
		if have != nil && !have.mark.Allows(m) {
			return false, fmt.Errorf("volume %s (%s): %w; it is left as it is", name, have.mark, host.ErrExists)
		}
	}
	return v.vols[name] != nil, nil
}

// Create makes an empty volume marked m; the same mark's is kept.
func (v *Volumes) Create(ctx context.Context, name string, sizeMB int64, m host.Mark) error {
	return v.lock(ctx, "Create", name, func() error {
		if err := validName(name); err != nil {
			return err
		}
		if err := m.Valid(); err != nil {
			return err
		}
		if sizeMB <= 0 {
			return fmt.Errorf("creating volume %s: size %d MB must be positive", name, sizeMB)
		}
		if ok, err := v.claim(name, m); err != nil || ok {
			return err
		}
		delete(v.partial, name)
		v.vols[name] = &volume{sizeMB: sizeMB, mark: m, pages: map[int64][]byte{}}
		return nil
	})
}

// Clone makes dst, marked m, a copy of src grown to sizeMB; the same
// mark's dst is kept (and grown).
func (v *Volumes) Clone(ctx context.Context, src, dst string, sizeMB int64, m host.Mark) error {
	return v.lock(ctx, "Clone", dst, func() error {
		if err := validName(dst); err != nil {
			return err
		}
		if err := m.Valid(); err != nil {
			return err
		}
		if ok, err := v.claim(dst, m); err != nil || ok {
			if ok {
				return v.resize(dst, sizeMB)
			}
			return err
		}
		s, ok := v.vols[src]
		if !ok {
			return fmt.Errorf("clone source %s: %w", src, ErrNoVolume)
		}
		c := &volume{sizeMB: max(s.sizeMB, sizeMB), mark: m, pages: map[int64][]byte{}}
		for n, p := range s.pages {
			c.pages[n] = append([]byte(nil), p...)
		}
		delete(v.partial, dst)
		v.vols[dst] = c
		return nil
	})
}

// Resize grows a volume; less than it has is ErrShrink.
func (v *Volumes) Resize(ctx context.Context, name string, sizeMB int64) error {
	return v.lock(ctx, "Resize", name, func() error { return v.resize(name, sizeMB) })
}

func (v *Volumes) resize(name string, sizeMB int64) error {
	x, ok := v.vols[name]
	switch {
	case !ok:
		return fmt.Errorf("resizing %s: %w", name, ErrNoVolume)
	case sizeMB < x.sizeMB:
		return fmt.Errorf("resizing %s from %d to %d MB: %w", name, x.sizeMB, sizeMB, ErrShrink)
	}
	x.sizeMB = sizeMB
	return nil
}

// Delete removes a volume and its partial one where their marks allow
// m; "NAME.tmp" removes only the partial one. Missing is done.
func (v *Volumes) Delete(ctx context.Context, name string, m host.Mark) error {
	return v.lock(ctx, "Delete", name, func() error {
		sets := []map[string]*volume{v.vols, v.partial}
		if base, ok := strings.CutSuffix(name, ".tmp"); ok {
			name, sets = base, sets[1:]
		}
		if err := validName(name); err != nil {
			return err
		}
		for _, set := range sets {
			if x, ok := set[name]; ok && !x.mark.Allows(m) {
				return fmt.Errorf("deleting volume %s (%s): %w; it is left as it is", name, x.mark, host.ErrNotOurs)
			}
		}
		for _, set := range sets {
			delete(set, name)
		}
		return nil
	})
}

// List returns every volume, partial ones as "NAME.tmp", by name.
func (v *Volumes) List(ctx context.Context) ([]host.Volume, error) {
	var out []host.Volume
	err := v.lock(ctx, "List", "", func() error {
		for name, x := range v.vols {
			out = append(out, host.Volume{Name: name, SizeMB: x.sizeMB, Bytes: int64(len(x.pages)) * page, Mark: x.mark})
		}
		for name, x := range v.partial {
			out = append(out, host.Volume{Name: name + ".tmp", SizeMB: x.sizeMB, Bytes: int64(len(x.pages)) * page, Mark: x.mark, Partial: true})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// SetReadOnly makes a volume refuse writes.
func (v *Volumes) SetReadOnly(ctx context.Context, name string) error {
	return v.lock(ctx, "SetReadOnly", name, func() error {
		x, ok := v.vols[name]
		if !ok {
			return fmt.Errorf("making %s read-only: %w", name, ErrNoVolume)
		}
		x.readOnly = true
		return nil
	})
}

// Rename moves a volume, data and mark, never over another.
func (v *Volumes) Rename(ctx context.Context, from, to string) error {
	return v.lock(ctx, "Rename", from, func() error {
		for _, n := range []string{from, to} {
			if err := validName(n); err != nil {
				return err
			}
		}
		x, ok := v.vols[from]
		switch {
		case !ok:
			return fmt.Errorf("renaming %s: %w", from, ErrNoVolume)
		case v.vols[to] != nil:
			return fmt.Errorf("renaming %s to %s: %w", from, to, host.ErrExists)
		}
		delete(v.vols, from)
		v.vols[to] = x
		return nil
	})
}

// SetMark re-marks an existing volume.
func (v *Volumes) SetMark(ctx context.Context, name string, m host.Mark) error {
	return v.lock(ctx, "SetMark", name, func() error {
		if err := m.Valid(); err != nil {
			return err
		}
		x, ok := v.vols[name]
		if !ok {
			return fmt.Errorf("marking %s: %w", name, ErrNoVolume)
		}
		x.mark = m
		return nil
	})
}

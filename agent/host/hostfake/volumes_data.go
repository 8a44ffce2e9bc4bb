package hostfake

import (
	"fmt"

	"github.com/xenagent/xenagent/agent/host"
)

// Put places a volume the agent did not make through the port: an image
// seeded by an operator, a legacy volume (a zero mark), another agent's.
// It replaces any volume of that name.
func (v *Volumes) Put(name string, sizeMB int64, m host.Mark) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.vols[name] = &volume{sizeMB: sizeMB, mark: m, pages: map[int64][]byte{}}
}

// PutPartial places a half-made volume, listed as "NAME.tmp", as a crash
// in the middle of a file backend's Create leaves one.
func (v *Volumes) PutPartial(name string, sizeMB int64, m host.Mark) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.partial[name] = &volume{sizeMB: sizeMB, mark: m, pages: map[int64][]byte{}}
}

// VolumeInfo is what the fake holds of a volume.
type VolumeInfo struct {
	host.Volume
	ReadOnly bool
}

// Volume returns what the fake holds of a whole volume.
func (v *Volumes) Volume(name string) (VolumeInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	x, ok := v.vols[name]
	if !ok {
		return VolumeInfo{}, false
	}
	return VolumeInfo{Volume: host.Volume{Name: name, SizeMB: x.sizeMB, Bytes: int64(len(x.pages)) * page, Mark: x.mark}, ReadOnly: x.readOnly}, true
}

// WriteAt writes b at off into a volume, as a guest would; a read-only
// volume refuses it, and nothing is written past its end.
func (v *Volumes) WriteAt(name string, off int64, b []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	x, ok := v.vols[name]
	switch {
	case !ok:
		return fmt.Errorf("writing %s: %w", name, ErrNoVolume)
	case x.readOnly:
		return fmt.Errorf("writing %s: %w", name, ErrReadOnly)
	case off < 0 || off+int64(len(b)) > x.sizeMB<<20:
		return fmt.Errorf("writing %d bytes at %d into %s: past its end", len(b), off, name)
	}
	for i := range b {
		n, at := (off+int64(i))/page, (off+int64(i))%page
		p := x.pages[n]
		if p == nil {
			p = make([]byte, page)
			x.pages[n] = p
		}
		p[at] = b[i]
	}
	return nil
}

// ReadAt reads n bytes at off from a volume; holes read as zeros.
func (v *Volumes) ReadAt(name string, off int64, n int) ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	x, ok := v.vols[name]
	if !ok {
		return nil, fmt.Errorf("reading %s: %w", name, ErrNoVolume)
	}
	out := make([]byte, n)
	for i := 0; i < n; {
		at := off + int64(i)
		k := min(n-i, int(page-at%page))
		if p := x.pages[at/page]; p != nil {
			copy(out[i:i+k], p[at%page:])
		}
		i += k
	}
	return out, nil
}

// RefusesWrites reports whether a write into the volume is refused.
func (v *Volumes) RefusesWrites(name string) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	x, ok := v.vols[name]
	if !ok {
		return false, fmt.Errorf("%s: %w", name, ErrNoVolume)
	}
	return x.readOnly, nil
}

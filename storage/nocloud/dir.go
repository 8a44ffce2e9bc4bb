// Package nocloud keeps VMs' first-boot seeds as cloud-init NoCloud images:
// one ISO 9660 image (Rock Ridge names) per VM, labelled "cidata" and
// holding user-data, meta-data and network-config, in one directory. Dir
// implements host.Seeds; the hypervisor attaches a VM's image read-only.
//
// An image is built under a ".seed-work-" directory beside the images and
// published by a synced rename (storage/durable): a crash leaves the old
// image or the new one, never half of one, and maybe a work directory
// that Sweep removes.
package nocloud

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/host"
)

const (
	imagePrefix = "xa-seed-"
	imageSuffix = ".iso"
	workPrefix  = ".seed-work-"
)

// Dir keeps the seed images in one directory, made at the first write.
type Dir struct {
	dir string
}

var _ host.Seeds = (*Dir)(nil)

// New keeps seeds in dir.
func New(dir string) *Dir { return &Dir{dir: dir} }

// imagePath is where vmID's image is, whether or not it exists.
func (d *Dir) imagePath(vmID int64) string {
	return filepath.Join(d.dir, imagePrefix+strconv.FormatInt(vmID, 10)+imageSuffix)
}

// Path returns vmID's image and whether it is there. Images are only
// ever published whole, so being there is being whole.
func (d *Dir) Path(vmID int64) (string, bool) {
	p := d.imagePath(vmID)
	_, err := os.Stat(p)
	return p, err == nil
}

// Write builds vmID's image from spec.
func (d *Dir) Write(ctx context.Context, vmID int64, spec host.SeedSpec) error {
	// Traversable but not listable: QEMU runs as its own user and reaches
	// the image, which libvirt hands over to it (dynamic ownership).
	if err := os.MkdirAll(d.dir, 0o711); err != nil {
		return fmt.Errorf("writing seed of vm %d: %w", vmID, err)
	}
	if err := os.Chmod(d.dir, 0o711); err != nil {
		return fmt.Errorf("writing seed of vm %d: %w", vmID, err)
	}
	if err := WriteImage(d.imagePath(vmID), spec); err != nil {
		return fmt.Errorf("writing seed of vm %d: %w", vmID, err)
	}
	return nil
}

// Remove deletes vmID's image.
func (d *Dir) Remove(ctx context.Context, vmID int64) error {
	if err := os.Remove(d.imagePath(vmID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing seed of vm %d: %w", vmID, err)
	}
	return nil
}

// Sweep removes work directories and the images of VMs keep refuses.
// Names it does not recognise are not its to remove.
func (d *Dir) Sweep(ctx context.Context, keep func(vmID int64) bool) ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweeping seeds: %w", err)
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, workPrefix) {
			if err := os.RemoveAll(filepath.Join(d.dir, name)); err != nil {
				return removed, fmt.Errorf("sweeping seeds: %w", err)
			}
			continue
		}
		id, ok := imageVM(name)
		if !ok || keep(id) {
			continue
		}
		if err := os.Remove(filepath.Join(d.dir, name)); err != nil {
			return removed, fmt.Errorf("sweeping seeds: %w", err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// imageVM reads the VM id out of an image's file name.
func imageVM(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, imagePrefix)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, imageSuffix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil
}

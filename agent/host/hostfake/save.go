package hostfake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/xenagent/xenagent/agent/host"
)

// DetailSaved is the Detail of the stopped event Save raises.
const DetailSaved = host.DetailSaved

// saveMagic marks a fake's save file, so a Restore given anything else
// (a disk, a real hypervisor's image) refuses it.
const saveMagic = "xenagent-hostfake-save/1"

// saveFile is what a fake's Save writes: the definition and the guest's
// memory, which here is its counter (GuestCount).
type saveFile struct {
	Magic string
	Spec  host.DomainSpec
	Count int64
}

// WithSavedDefinition has Restore run the saved definition, as libvirt's
// libxl driver does (it refuses a new XML at restore): a spec whose disk
// paths differ from the saved ones is ErrUnsupported.
func WithSavedDefinition() HypervisorOption { return func(h *Hypervisor) { h.savedDefOnly = true } }

// RestoreTakesSpec is false under WithSavedDefinition.
func (h *Hypervisor) RestoreTakesSpec() bool { return !h.savedDefOnly }

// GuestCount is how far the guest of a running domain has counted since
// it booted, as a guest printing a counter on its console would show: it
// counts one more at every look while it runs, not while paused. A start
// begins at 0; Save keeps the count in its file and Restore brings it
// back, so a restored guest counts on from where it was.
func (h *Hypervisor) GuestCount(name string) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.doms[name]
	switch {
	case !ok:
		return 0, noDomain("reading the guest of", name)
	case !d.running:
		return 0, fmt.Errorf("reading the guest of %s: %w", name, host.ErrNotRunning)
	case !d.paused:
		d.count++
	}
	return d.count, nil
}

// fullSpec is d's definition with its disks and seed put back.
func (d *domain) fullSpec() host.DomainSpec {
	spec := d.spec
	spec.Ifaces = slices.Clone(d.spec.Ifaces)
	spec.Disks = nil
	for pos := 0; pos < host.SeedPosition; pos++ {
		if disk, ok := d.disks[pos]; ok {
			spec.Disks = append(spec.Disks, disk)
		}
	}
	if seed, ok := d.disks[host.SeedPosition]; ok {
		spec.Seed = seed.Path
	}
	return spec
}

// Save writes the domain's definition and guest count to path and stops
// it (DetailSaved). A failed write leaves it running and path removed.
func (h *Hypervisor) Save(ctx context.Context, name, path string) error {
	return h.do(ctx, "Save", name, func(e *effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("saving", name)
		case !d.running:
			return fmt.Errorf("saving %s: %w", name, host.ErrNotRunning)
		}
		b, err := json.Marshal(saveFile{Magic: saveMagic, Spec: d.fullSpec(), Count: d.count})
		if err != nil {
			return fmt.Errorf("saving %s: %w", name, err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			os.Remove(path)
			return fmt.Errorf("saving %s to %s: %w", name, path, err)
		}
		h.stop(name, d, DetailSaved, e)
		return nil
	})
}

// Restore defines spec and runs it from path with the saved count,
// checking spec against the saved definition as libvirt's ABI check
// does.
func (h *Hypervisor) Restore(ctx context.Context, path string, spec host.DomainSpec, paused bool) error {
	return h.do(ctx, "Restore", spec.Name, func(e *effects) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("restoring %s from %s: %w", spec.Name, path, err)
		}
		var saved saveFile
		if err := json.Unmarshal(b, &saved); err != nil || saved.Magic != saveMagic {
			return fmt.Errorf("restoring %s: %s is not a saved domain", spec.Name, path)
		}
		if err := sameDomain(saved.Spec, spec, h.savedDefOnly); err != nil {
			return fmt.Errorf("restoring %s from %s: %w", spec.Name, path, err)
		}
		if d, ok := h.doms[spec.Name]; ok && d.running {
			return fmt.Errorf("restoring %s: %w", spec.Name, host.ErrAlreadyActive)
		}
		if err := h.define(spec, e); err != nil {
			return err
		}
		d := h.doms[spec.Name]
		h.start(spec.Name, d, e)
		d.count = saved.Count
		if paused {
			d.paused = true
			e.event(spec.Name, host.EventSuspended, 0)
		}
		return nil
	})
}

// sameDomain says where spec is not the saved domain, naming the field:
// what a guest resumed from memory sees (its memory, processors and
// devices) must not change under it. Paths may, unless fixed.
func sameDomain(saved, spec host.DomainSpec, fixedPaths bool) error {
	macs := func(s host.DomainSpec) []string {
		var out []string
		for _, i := range s.Ifaces {
			out = append(out, i.MAC)
		}
		return out
	}
	switch {
	case saved.Name != spec.Name:
		return fmt.Errorf("name %q is not the saved domain's %q", spec.Name, saved.Name)
	case saved.UUID != spec.UUID:
		return fmt.Errorf("uuid %s is not the saved domain's %s", spec.UUID, saved.UUID)
	case max(saved.MaxMemMB, saved.MemoryMB) != max(spec.MaxMemMB, spec.MemoryMB):
		return fmt.Errorf("maximum memory %d MB is not the saved domain's %d MB", max(spec.MaxMemMB, spec.MemoryMB), max(saved.MaxMemMB, saved.MemoryMB))
	case saved.VCPUs != spec.VCPUs:
		return fmt.Errorf("vcpus %d is not the saved domain's %d", spec.VCPUs, saved.VCPUs)
	case len(saved.Disks) != len(spec.Disks) || (saved.Seed == "") != (spec.Seed == ""):
		return fmt.Errorf("%d disks (seed %t) are not the saved domain's %d (seed %t)", len(spec.Disks), spec.Seed != "", len(saved.Disks), saved.Seed != "")
	case !slices.Equal(macs(saved), macs(spec)):
		return fmt.Errorf("interfaces %v are not the saved domain's %v", macs(spec), macs(saved))
	}
	if fixedPaths {
		for i, disk := range spec.Disks {
			if disk.Path != saved.Disks[i].Path {
				return fmt.Errorf("disk %d at %s, saved at %s: %w: this hypervisor restores the saved definition, so a disk must keep its path", i, disk.Path, saved.Disks[i].Path, host.ErrUnsupported)
			}
		}
	}
	return nil
}

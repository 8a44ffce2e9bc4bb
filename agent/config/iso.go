package config

import "fmt"

// ISO is an ISO image the operator offers for VMs' CD-ROMs
// (hosting.iso.list, hosting.vm.iso_attach), registered at start once,
// by label. File is used in place, read-only: it must stay where it is
// and be readable by the hypervisor (libvirt-qemu under QEMU).
type ISO struct {
	Label string `toml:"label"`
	File  string `toml:"file"`
}

// validateISOs checks every [[isos]] entry names a label, once, and a file.
func (c Config) validateISOs() []string {
	var errs []string
	labels := map[string]bool{}
	for i, iso := range c.ISOs {
		switch {
		case iso.Label == "":
			errs = append(errs, fmt.Sprintf("isos[%d].label: must not be empty", i))
		case labels[iso.Label]:
			errs = append(errs, fmt.Sprintf("isos[%d].label: %q is given twice (ISOs are registered once, by label)", i, iso.Label))
		}
		labels[iso.Label] = true
		if iso.File == "" {
			errs = append(errs, fmt.Sprintf("isos[%d].file: must name the ISO image's file", i))
		}
	}
	return errs
}

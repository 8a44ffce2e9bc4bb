package hypervisor

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// MetadataNS marks domains this agent owns, so reconciliation never
// touches a domain someone else defined.
const MetadataNS = "https://xenagent.dev/xmlns/domain/1"

// Flavor is the kind of domain a connection URI calls for.
type Flavor string

const (
	FlavorXenPV  Flavor = "xenpv"
	FlavorXenHVM Flavor = "xenhvm"
	FlavorQEMU   Flavor = "qemu"
	FlavorKVM    Flavor = "kvm"
	FlavorTest   Flavor = "test"
)

type ownerMeta struct {
	XMLName struct{} `xml:"owner"`
	VMID    int64    `xml:"vm_id,attr"`
	Agent   string   `xml:"agent,attr"`
}

// DomainXML renders spec as libvirt domain XML for flavor.
func DomainXML(flavor Flavor, spec DomainSpec) (string, error) {
	if spec.Name == "" || spec.MemoryMB <= 0 || spec.VCPUs <= 0 {
		return "", fmt.Errorf("domain spec needs a name, memory and vcpus")
	}
	maxMem := max(spec.MaxMemMB, spec.MemoryMB)
	dom := &libvirtxml.Domain{
		Name:          spec.Name,
		UUID:          spec.UUID,
		Memory:        &libvirtxml.DomainMemory{Value: uint(maxMem), Unit: "MiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: uint(spec.MemoryMB), Unit: "MiB"},
		VCPU:          &libvirtxml.DomainVCPU{Placement: "static", Value: uint(spec.VCPUs)},
		OnPoweroff:    "destroy",
		OnReboot:      "restart",
		OnCrash:       "destroy",
		Metadata: &libvirtxml.DomainMetadata{
			XML: fmt.Sprintf(`<xa:owner xmlns:xa="%s" vm_id="%d" agent="%s"/>`, MetadataNS, spec.VMID, spec.Owner),
		},
		Devices: &libvirtxml.DomainDeviceList{},
	}
	if flavor == FlavorXenPV && (spec.CDROM != "" || spec.BootCDROM) {
		return "", fmt.Errorf("domain %s: %w: a Xen PV domain has no CD-ROM and boots its kernel directly", spec.Name, ErrUnsupported)
	}
	if spec.BootCDROM && spec.CDROM == "" {
		return "", fmt.Errorf("domain %s: boot from a CD-ROM needs an ISO attached", spec.Name)
	}
	os := &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"}}
	if spec.BootCDROM {
		// The BIOS boots the CD; a direct kernel would take precedence
		// over any boot device, so the system disk's is left out.
		os.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "cdrom"}, {Dev: "hd"}}
	} else if spec.Kernel != "" {
		os.Kernel = spec.Kernel
		os.Initrd = spec.Initrd
		os.Cmdline = spec.Cmdline
	} else {
		os.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
	}
	dom.OS = os
	if spec.CPUShares > 0 {
		dom.CPUTune = &libvirtxml.DomainCPUTune{Shares: &libvirtxml.DomainCPUTuneShares{Value: uint(spec.CPUShares)}}
	}

	bus, prefix := "virtio", "vd"
	switch flavor {
	case FlavorXenPV:
		dom.Type = "xen"
		os.Type = &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "xenpv", Type: "linux"}
		os.BootDevices = nil
		bus, prefix = "xen", "xvd"
		// A pty console, so that libvirt's console stream (OpenConsole)
		// can reach hvc0.
		dom.Devices.Consoles = []libvirtxml.DomainConsole{{
			Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
			Target: &libvirtxml.DomainConsoleTarget{Type: "xen"},
		}}
	case FlavorXenHVM:
		dom.Type = "xen"
		bus, prefix = "xen", "xvd"
		dom.Features = &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}}
	case FlavorQEMU, FlavorKVM:
		dom.Type = string(flavor)
		os.Type.Machine = "pc"
		// Without ACPI a guest never sees the power button that a graceful
		// shutdown presses.
		dom.Features = &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}}
		// Always a pty, so that libvirt's console stream (OpenConsole) can
		// reach it; ConsoleLog keeps a copy of everything the guest writes
		// (the chardev's log), which the tests and a person read.
		serial := libvirtxml.DomainSerial{Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}}
		if spec.ConsoleLog != "" {
			serial.Log = &libvirtxml.DomainChardevLog{File: spec.ConsoleLog, Append: "on"}
		}
		dom.Devices.Serials = []libvirtxml.DomainSerial{serial}
		dom.Devices.Consoles = []libvirtxml.DomainConsole{{Target: &libvirtxml.DomainConsoleTarget{Type: "serial"}}}
		dom.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "virtio"}
	case FlavorTest:
		dom.Type = "test"
	default:
		return "", fmt.Errorf("unknown domain flavor %q", flavor)
	}

	for i, d := range spec.Disks {
		dom.Devices.Disks = append(dom.Devices.Disks, diskDevice(dom.Type, bus, prefix, i, d))
	}
	if spec.Seed != "" {
		dom.Devices.Disks = append(dom.Devices.Disks, diskDevice(dom.Type, bus, prefix, SeedPosition, DiskSpec{Path: spec.Seed, ReadOnly: true}))
	}
	if spec.CDROM != "" {
		dom.Devices.Disks = append(dom.Devices.Disks, cdromDevice(dom.Type, spec.CDROM))
	}
	for _, n := range spec.Ifaces {
		dom.Devices.Interfaces = append(dom.Devices.Interfaces, interfaceXML(dom.Type, n))
	}
	out, err := dom.Marshal()
	if err != nil {
		return "", fmt.Errorf("rendering domain %s: %w", spec.Name, err)
	}
	return out, nil
}

// diskDevice is one disk at device position i.
func diskDevice(domType, bus, prefix string, i int, d DiskSpec) libvirtxml.DomainDisk {
	disk := libvirtxml.DomainDisk{
		Device: "disk",
		Target: &libvirtxml.DomainDiskTarget{Dev: DiskTarget(prefix, i), Bus: bus},
	}
	if d.ReadOnly {
		disk.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	if d.Block {
		disk.Source = &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: d.Path}}
	} else {
		disk.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.Path}}
	}
	switch {
	case domType == "xen":
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: map[bool]string{true: "phy", false: "qemu"}[d.Block]}
		if !d.Block {
			disk.Driver.Type = "raw"
		}
	case domType != "test":
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"}
	}
	return disk
}

// CDROMTarget is the CD-ROM's device: the IDE secondary master, which
// both QEMU's pc machine and Xen HVM emulate and every BIOS boots from.
const CDROMTarget = "hdc"

// cdromDevice is an ISO image as a read-only IDE CD-ROM.
func cdromDevice(domType, path string) libvirtxml.DomainDisk {
	disk := libvirtxml.DomainDisk{
		Device:   "cdrom",
		Target:   &libvirtxml.DomainDiskTarget{Dev: CDROMTarget, Bus: "ide"},
		ReadOnly: &libvirtxml.DomainDiskReadOnly{},
		Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: path}},
	}
	if domType != "test" {
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"}
	}
	return disk
}

func interfaceXML(domType string, n IfaceSpec) libvirtxml.DomainInterface {
	iface := libvirtxml.DomainInterface{MAC: &libvirtxml.DomainInterfaceMAC{Address: n.MAC}}
	if n.Bridge != "" {
		iface.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}}
	} else {
		iface.Source = &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}}
	}
	if n.Target != "" && domType != "xen" {
		// Xen names the backend vifD.N itself; the agent finds it by MAC.
		iface.Target = &libvirtxml.DomainInterfaceTarget{Dev: n.Target}
	}
	if domType == "qemu" || domType == "kvm" {
		iface.Model = &libvirtxml.DomainInterfaceModel{Type: "virtio"}
	}
	return iface
}

// DiskTarget names the guest device at position i: xvda, xvdb, ... xvdz, xvdaa.
func DiskTarget(prefix string, i int) string {
	var sb strings.Builder
	n := i
	var letters []byte
	for {
		letters = append([]byte{byte('a' + n%26)}, letters...)
		n = n/26 - 1
		if n < 0 {
			break
		}
	}
	sb.WriteString(prefix)
	sb.Write(letters)
	return sb.String()
}

// FlavorForURI picks the domain flavor a connection URI implies.
func FlavorForURI(uri string, hvm, kvm bool) (Flavor, error) {
	switch {
	case strings.HasPrefix(uri, "xen:"):
		if hvm {
			return FlavorXenHVM, nil
		}
		return FlavorXenPV, nil
	case strings.HasPrefix(uri, "qemu:"):
		if kvm {
			return FlavorKVM, nil
		}
		return FlavorQEMU, nil
	case strings.HasPrefix(uri, "test:"):
		return FlavorTest, nil
	}
	return "", fmt.Errorf("unsupported libvirt URI %q (want xen:, qemu: or test:)", uri)
}

// diskXML renders one disk for hot attach.
func diskXML(flavor Flavor, pos int, d DiskSpec) (string, error) {
	spec := DomainSpec{Name: "x", MemoryMB: 1, VCPUs: 1, Disks: make([]DiskSpec, pos+1)}
	for i := range spec.Disks {
		spec.Disks[i] = DiskSpec{Path: "/dev/null"}
	}
	spec.Disks[pos] = d
	full, err := DomainXML(flavor, spec)
	if err != nil {
		return "", err
	}
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(full); err != nil {
		return "", err
	}
	return dom.Devices.Disks[pos].Marshal()
}

// ifaceXML renders one interface for hot plug.
func ifaceXML(flavor Flavor, n IfaceSpec) (string, error) {
	t := map[Flavor]string{FlavorXenPV: "xen", FlavorXenHVM: "xen", FlavorQEMU: "qemu", FlavorKVM: "kvm", FlavorTest: "test"}[flavor]
	x := interfaceXML(t, n)
	return x.Marshal()
}

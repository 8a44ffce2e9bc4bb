package hypervisor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// moveLimit bounds a Save or Restore: they take as long as the memory
// takes to write or read (seconds per GiB), far beyond the command
// timeout; the caller's ctx is the real bound.
const moveLimit = 30 * time.Minute

// Save writes a running or paused domain's memory to path and stops it
// (libvirt's virDomainSaveFlags: libxl's save on Xen, QEMU's migration
// to a file). The domain stays defined. The state is read first, so a
// missing or stopped domain is named in the port's words, whatever the
// driver would say.
func (d *Driver) Save(ctx context.Context, name, path string) error {
	op := "saving " + name + " to " + path
	st, err := d.State(ctx, name)
	switch {
	case err != nil:
		return err
	case !st.Exists:
		return &Error{Op: op, Err: ErrNoDomain}
	case !st.Running:
		return &Error{Op: op, Err: fmt.Errorf("%w: it is shut off", ErrNotRunning)}
	}
	// libvirt reports a missing directory as a system error, which reads
	// as a lost connection (transient): say what it is before calling.
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return &Error{Op: op, Err: err}
	}
	err = d.callWithin(ctx, op, moveLimit, func(c *libvirt.Connect) error {
		dom, err := c.LookupDomainByName(name)
		if err != nil {
			return err
		}
		defer dom.Free()
		return dom.SaveFlags(path, "", 0)
	})
	var e *Error
	if err != nil && !(errors.As(err, &e) && e.Transient()) {
		// A refused save may leave a partial file (QEMU removes its own,
		// the test driver too; libxl does not); an abandoned one may
		// still be writing it, so it is left.
		os.Remove(path)
	}
	return err
}

// Restore defines spec and runs it from a file Save wrote. QEMU takes
// spec's XML for the running domain (virDomainRestoreFlags' dxml,
// checked by libvirt for ABI stability); libxl and the test driver
// refuse any XML there ("xml modification unsupported", every libvirt
// release), so for them the saved definition is read from the file's
// header and checked against spec first: a disk that moved would
// otherwise come back at its old path, or fail halfway through libxl's
// restore.
func (d *Driver) Restore(ctx context.Context, path string, spec DomainSpec, paused bool) error {
	op := "restoring " + spec.Name + " from " + path
	if _, err := os.Stat(path); err != nil {
		return &Error{Op: op, Err: err}
	}
	if spec.ConsoleLog == "" && d.cfg.ConsoleDir != "" {
		spec.ConsoleLog = filepath.Join(d.cfg.ConsoleDir, spec.Name+".log")
	}
	want, err := DomainXML(d.flavor, spec)
	if err != nil {
		return err
	}
	// The saved domain is checked against spec before anything is
	// defined, so a wrong file leaves nothing behind.
	takesXML := d.RestoreTakesSpec()
	var saved string
	if takesXML {
		err = d.call(ctx, op, func(c *libvirt.Connect) error {
			saved, err = c.DomainSaveImageGetXMLDesc(path, 0)
			return err
		})
		if err != nil {
			return err
		}
	} else if saved, err = savedDomainXML(path); err != nil {
		return &Error{Op: op, Err: err}
	}
	if err := sameSavedDomain(saved, want, !takesXML); err != nil {
		return &Error{Op: op, Err: err}
	}
	if takesXML {
		if want, err = withSavedBalloon(saved, want); err != nil {
			return &Error{Op: op, Err: err}
		}
	}
	st, err := d.State(ctx, spec.Name)
	switch {
	case err != nil:
		return err
	case st.Running:
		return &Error{Op: op, Err: fmt.Errorf("%w: it runs", ErrAlreadyActive)}
	}
	// Defined first, so the restored domain is persistent with spec's
	// definition (a restore into no definition leaves a transient one).
	if err := d.Define(ctx, spec); err != nil {
		return err
	}
	var flags libvirt.DomainSaveRestoreFlags
	dxml := ""
	switch {
	case takesXML:
		dxml = want
		// QEMU resumes a domain as it was when saved unless told.
		flags = libvirt.DOMAIN_SAVE_RUNNING
		if paused {
			flags = libvirt.DOMAIN_SAVE_PAUSED
		}
	case d.flavor != FlavorTest && paused:
		flags = libvirt.DOMAIN_SAVE_PAUSED // libxl takes this one flag
	}
	err = d.callWithin(ctx, op, moveLimit, func(c *libvirt.Connect) error {
		return c.DomainRestoreFlags(path, dxml, flags)
	})
	if err == nil && paused && d.flavor == FlavorTest {
		// The test driver takes no flags; it has no guest to run ahead.
		err = d.Suspend(ctx, spec.Name)
	}
	return err
}

// RestoreTakesSpec is true for QEMU (and KVM), whose restore takes a
// new XML; libxl and the test driver run the saved one.
func (d *Driver) RestoreTakesSpec() bool { return d.flavor == FlavorQEMU || d.flavor == FlavorKVM }

// The headers libvirt writes before the saved XML. libxl's
// (libxlSavefileHeader): a 16-byte magic, version and XML length as
// 32-bit integers, padding to 64 bytes. The test driver's: its magic
// with the C string's NUL, a native int length.
var (
	libxlSaveMagic = []byte("libvirt-xml\n \x00 \r")
	testSaveMagic  = []byte("TestGuestMagic\x00")
)

// maxSavedXML bounds the XML read from a header: a domain's definition
// is kilobytes; a corrupt length must not allocate gigabytes.
const maxSavedXML = 16 << 20

// savedDomainXML reads the domain definition from the header of a file
// libxl's or the test driver's save wrote (native byte order: the file
// is read on a host of the same architecture).
func savedDomainXML(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("reading the saved header: %w", err)
	}
	head = head[:n]
	var off, size int64
	switch {
	case len(head) == 64 && bytes.HasPrefix(head, libxlSaveMagic):
		off, size = 64, int64(binary.NativeEndian.Uint32(head[20:24]))
	case len(head) >= len(testSaveMagic)+4 && bytes.HasPrefix(head, testSaveMagic):
		off, size = int64(len(testSaveMagic))+4, int64(int32(binary.NativeEndian.Uint32(head[len(testSaveMagic):])))
	default:
		return "", fmt.Errorf("%s is not a domain saved by libvirt's libxl or test driver", path)
	}
	if size <= 0 || size > maxSavedXML {
		return "", fmt.Errorf("%s: saved definition of %d bytes", path, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, off); err != nil {
		return "", fmt.Errorf("reading the saved definition: %w", err)
	}
	return string(bytes.TrimRight(b, "\x00")), nil
}

// sameSavedDomain says where the saved definition is not the one wanted,
// naming the field: the name and UUID, and, where the saved definition
// is what runs (fixedPaths), each disk's path. libvirt checks the rest
// (memory, processors, devices) when it takes a new XML.
func sameSavedDomain(saved, want string, fixedPaths bool) error {
	var s, w libvirtxml.Domain
	if err := s.Unmarshal(saved); err != nil {
		return fmt.Errorf("the saved definition: %w", err)
	}
	if err := w.Unmarshal(want); err != nil {
		return err
	}
	switch {
	case s.Name != w.Name:
		return fmt.Errorf("name %q is not the saved domain's %q", w.Name, s.Name)
	case s.UUID != w.UUID:
		return fmt.Errorf("uuid %s is not the saved domain's %s", w.UUID, s.UUID)
	case memoryKiB(s.Memory) != memoryKiB(w.Memory):
		return fmt.Errorf("maximum memory %d KiB is not the saved domain's %d KiB", memoryKiB(w.Memory), memoryKiB(s.Memory))
	case vcpus(s) != vcpus(w):
		return fmt.Errorf("vcpus %d is not the saved domain's %d", vcpus(w), vcpus(s))
	}
	paths := func(d libvirtxml.Domain) []string {
		var out []string
		if d.Devices != nil {
			for _, disk := range d.Devices.Disks {
				out = append(out, diskPath(disk))
			}
		}
		return out
	}
	sp, wp := paths(s), paths(w)
	if fixedPaths && !slices.Equal(sp, wp) {
		return fmt.Errorf("disks %v, saved at %v: %w: this hypervisor restores the saved definition, so a disk must keep its path", wp, sp, ErrUnsupported)
	}
	return nil
}

// withSavedBalloon is want with the saved domain's current memory: the
// balloon's size is the guest's state, which the saved file carries (a
// guest without a balloon driver stays at its maximum whatever the
// definition asked), and QEMU's ABI check refuses any other.
func withSavedBalloon(saved, want string) (string, error) {
	var s, w libvirtxml.Domain
	if err := s.Unmarshal(saved); err != nil {
		return "", fmt.Errorf("the saved definition: %w", err)
	}
	if err := w.Unmarshal(want); err != nil {
		return "", err
	}
	if s.CurrentMemory == nil {
		return want, nil
	}
	cur := *s.CurrentMemory
	w.CurrentMemory = &cur
	return w.Marshal()
}

// memoryKiB is a domain's <memory> in KiB, whatever unit it is written
// in (libvirt writes KiB back; we define in MiB).
func memoryKiB(m *libvirtxml.DomainMemory) uint64 {
	if m == nil {
		return 0
	}
	v := uint64(m.Value)
	switch m.Unit {
	case "b", "bytes":
		return v / 1024
	case "M", "MiB":
		return v << 10
	case "G", "GiB":
		return v << 20
	case "T", "TiB":
		return v << 30
	}
	return v // "", "k", "KiB"
}

func vcpus(d libvirtxml.Domain) uint {
	if d.VCPU == nil {
		return 0
	}
	return d.VCPU.Value
}

package guesttest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ISOMarker appears on the serial console when a guest boots from an ISO
// that BuildISO made: it is on the kernel command line isolinux passes,
// which the kernel prints ("Kernel command line: ..."). isolinux also
// SAYs it, but that line reaches only a console someone has open: QEMU's
// pty, unread, loses what isolinux writes while it parses its
// configuration (seen with QEMU 7.2), so a test cannot count on it.
const ISOMarker = "xenagent.booted_from=cdrom"

// The Debian packages BuildISO takes its boot loader from (isolinux,
// syslinux-common) and its ISO writer (genisoimage).
const (
	isolinuxBin = "/usr/lib/ISOLINUX/isolinux.bin"
	ldlinuxC32  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

// isolinuxCfg talks on the first serial port, says ISOMarker there and
// boots the guest's kernel at once with ISOMarker on its command line;
// loglevel=6 lets the kernel print that line (a notice) where quiet would not.
const isolinuxCfg = `SERIAL 0 115200
SAY ` + ISOMarker + `
PROMPT 0
TIMEOUT 1
DEFAULT linux
LABEL linux
  KERNEL /vmlinuz
  APPEND initrd=/initrd.img console=ttyS0 loglevel=6 panic=-1 ` + ISOMarker + `
`

// RequireISOTools skips, saying why, when BuildISO cannot run here; with
// XENAGENT_REQUIRE_QEMU=1 (make test) it fails instead, as RequireQEMU.
func RequireISOTools(t testing.TB) {
	t.Helper()
	why := ""
	for _, f := range []string{isolinuxBin, ldlinuxC32} {
		if _, err := os.Stat(f); err != nil {
			why = fmt.Sprintf("no %s: install isolinux and syslinux-common", f)
		}
	}
	if _, err := exec.LookPath("genisoimage"); err != nil {
		why = "no genisoimage: install genisoimage"
	}
	if why == "" {
		return
	}
	if os.Getenv("XENAGENT_REQUIRE_QEMU") == "1" {
		t.Fatalf("ISO test cannot run: %s", why)
	}
	t.Skip("skipping: " + why)
}

// BuildISO writes out, a BIOS-bootable ISO 9660 image (isolinux, El
// Torito without emulation) that says ISOMarker on the serial console and
// boots the guest in guestDir (a behaviour directory Build wrote:
// vmlinuz and initrd.img).
func BuildISO(out, guestDir string) error {
	tree, err := os.MkdirTemp("", "xenagent-iso-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	copies := map[string]string{
		isolinuxBin: "isolinux/isolinux.bin", ldlinuxC32: "isolinux/ldlinux.c32",
		filepath.Join(guestDir, "vmlinuz"): "vmlinuz", filepath.Join(guestDir, "initrd.img"): "initrd.img",
	}
	if err := os.MkdirAll(filepath.Join(tree, "isolinux"), 0o755); err != nil {
		return err
	}
	for src, dst := range copies {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("building an ISO: %w", err)
		}
		if err := os.WriteFile(filepath.Join(tree, dst), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tree, "isolinux", "isolinux.cfg"), []byte(isolinuxCfg), 0o644); err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd := exec.Command("genisoimage", "-quiet", "-o", out, "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "-R", "-V", "XENAGENT_TEST", tree)
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("genisoimage: %w: %s", err, stderr.Bytes())
	}
	if err := os.Chmod(out, 0o644); err != nil {
		return err
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		return errors.Join(errors.New("genisoimage wrote no image"), err)
	}
	return nil
}

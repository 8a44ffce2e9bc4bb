// Package guesttest builds tiny guests for tests against real QEMU: the
// Debian kernel from /boot with a busybox initramfs. Two behaviours, each
// a "kernel version" directory (vmlinuz + initrd.img) that a system disk's
// kernel_version selects:
//
//	coop      loads button.ko and evdev.ko and runs acpid, so the ACPI
//	          power button powers it off (a graceful stop works)
//	stubborn  ignores the power button (only a hard stop works)
//
// Both print "xenagent-guest: ready" on the serial console once they can
// take a power button press.
package guesttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// ReadyMarker appears on the console when the guest is up.
const ReadyMarker = "xenagent-guest: ready"

const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp /etc/acpi/PWRF
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "xenagent-guest: booted behaviour=%[1]s" > /dev/console
if [ %[1]s = coop ]; then
  insmod /lib/evdev.ko
  insmod /lib/button.ko
  printf '#!/bin/sh\necho "xenagent-guest: power button" > /dev/console\npoweroff -f\n' > /etc/acpi/PWRF/00000080
  chmod +x /etc/acpi/PWRF/00000080
  acpid -c /etc/acpi -l /dev/console
  for i in $(seq 1 50); do pidof acpid >/dev/null && [ -e /dev/input/event0 ] && break; sleep 0.1; done
fi
echo "%[2]s" > /dev/console
while true; do sleep 3600; done
`

// Kernel returns the newest Debian kernel in /boot and its module dir.
func Kernel() (vmlinuz, modules string, err error) {
	found, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(found) == 0 {
		return "", "", errors.New("no /boot/vmlinuz-*: install linux-image-amd64")
	}
	sort.Strings(found)
	vmlinuz = found[len(found)-1]
	release := filepath.Base(vmlinuz)[len("vmlinuz-"):]
	return vmlinuz, filepath.Join("/lib/modules", release), nil
}

// Build writes dir/coop and dir/stubborn and returns nil, or why it cannot.
func Build(dir string) error {
	vmlinuz, modules, err := Kernel()
	if err != nil {
		return err
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return errors.New("no busybox: install busybox-static")
	}
	busybox, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	kernel, err := os.ReadFile(vmlinuz)
	if err != nil {
		return err
	}
	mods := map[string][]byte{}
	for _, m := range []string{"kernel/drivers/input/evdev.ko", "kernel/drivers/acpi/button.ko"} {
		b, err := os.ReadFile(filepath.Join(modules, m))
		if err != nil {
			return fmt.Errorf("guest module: %w", err)
		}
		mods["lib/"+filepath.Base(m)] = b
	}
	for _, behaviour := range []string{"coop", "stubborn"} {
		out := filepath.Join(dir, behaviour)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "vmlinuz"), kernel, 0o644); err != nil {
			return err
		}
		w := newCpio()
		for _, d := range []string{"bin", "dev", "lib", "proc", "sys", "etc"} {
			w.dir(d)
		}
		w.file("bin/busybox", 0o755, busybox)
		w.file("init", 0o755, []byte(fmt.Sprintf(initScript, behaviour, ReadyMarker)))
		for name, b := range mods {
			w.file(name, 0o644, b)
		}
		if err := os.WriteFile(filepath.Join(out, "initrd.img"), w.close(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

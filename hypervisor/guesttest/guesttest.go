// Package guesttest builds tiny guests for tests against real QEMU: the
// Debian kernel from /boot with a busybox initramfs. Two behaviours, each
// a "kernel version" directory (vmlinuz + initrd.img) that a system disk's
// kernel_version selects:
//
//	coop      loads button.ko and evdev.ko and runs acpid, so the ACPI
//	          power button powers it off (a graceful stop works)
//	stubborn  ignores the power button and Xen's shutdown and reboot
//	          requests (only a hard stop or reset works)
//
// Both print "xenagent-guest: ready" on the serial console once they can
// take a power button press, then run a shell on it; with xenagent.count
// on the kernel command line they also count on it (CountPrefix).
package guesttest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
)

// ReadyMarker appears on the console when the guest is up.
const ReadyMarker = "xenagent-guest: ready"

// CountPrefix starts the lines a guest booted with xenagent.count on its
// command line prints every half second, counting from 1: CountPrefix
// and the count.
const CountPrefix = "xenagent-count "

const initScript = `#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp /etc/acpi/PWRF
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "xenagent-guest: booted behaviour=%[1]s" > /dev/console
for m in /lib/*.ko; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
if [ %[1]s = coop ]; then
  # Xen asks through xenstore and the kernel runs /sbin/poweroff or
  # /sbin/reboot; QEMU presses the ACPI power button, which acpid turns
  # into the same poweroff.
  printf '#!/bin/sh\necho "xenagent-guest: powering off" > /dev/console\nexec /bin/busybox poweroff -f\n' > /sbin/poweroff
  printf '#!/bin/sh\necho "xenagent-guest: rebooting" > /dev/console\nexec /bin/busybox reboot -f\n' > /sbin/reboot
  chmod +x /sbin/poweroff /sbin/reboot
  cp /sbin/poweroff /etc/acpi/PWRF/00000080
  if [ -e /lib/01-button.ko ]; then
    acpid -c /etc/acpi -l /dev/console
    for i in $(seq 1 50); do pidof acpid >/dev/null && [ -e /dev/input/event0 ] && break; sleep 0.1; done
  fi
else
  # Ignore requests. The commands must exist: when /sbin/reboot is
  # missing, Linux gives up on an orderly reboot and forces one.
  printf '#!/bin/sh\necho "xenagent-guest: ignoring $0" > /dev/console\nexit 0\n' > /sbin/poweroff
  cp /sbin/poweroff /sbin/reboot
  chmod +x /sbin/poweroff /sbin/reboot
fi
# A first-boot seed (cloud-init NoCloud) is an ISO 9660 disk; QEMU guests
# name virtio disks in probe order, so try each: show its instance-id.
sleep 0.5
mkdir -p /seed
for dev in /dev/vd? /dev/xvd?; do
  [ -e "$dev" ] || continue
  if mount -t iso9660 -o ro "$dev" /seed 2>/dev/null; then
    if [ -e /seed/meta-data ]; then
      # What credentials the seed gives, as a digest (CredsDigest).
      creds() { %[3]s; }
      echo "xenagent-guest: seed $(grep -o '"instance-id": "[^"]*"' /seed/meta-data) creds=$(creds /seed/user-data)" > /dev/console
    fi
    umount /seed
  fi
done
# ip=ADDR::GW:MASK:HOST:DEV:off on the kernel command line configures the network.
for arg in $(cat /proc/cmdline); do
  case "$arg" in
  xenagent.spoof=*)
    spoof=${arg#xenagent.spoof=}
    ;;
  ip=*)
    IFS=: read addr _ gw mask host dev _ <<EOT
${arg#ip=}
EOT
    dev=${dev:-eth0}
    for i in $(seq 1 50); do [ -e /sys/class/net/$dev ] && break; sleep 0.1; done
    ip link set lo up
    ip link set "$dev" up
    ip addr add "$addr/$mask" dev "$dev"
    [ -n "$gw" ] && ip route add default via "$gw"
    [ -n "$host" ] && hostname "$host"
    echo "xenagent-guest: network $addr/$mask on $dev" > /dev/console
    # Traffic ends for bandwidth checks: port 5001 discards what it
    # receives, port 5002 sends zeros until the peer goes.
    printf '#!/bin/sh\nexec cat > /dev/null\n' > /bin/xa-discard
    printf '#!/bin/sh\nexec cat /dev/zero\n' > /bin/xa-source
    chmod +x /bin/xa-discard /bin/xa-source
    nc -ll -p 5001 -e /bin/xa-discard &
    nc -ll -p 5002 -e /bin/xa-source &
    ;;
  esac
done
# xenagent.spoof=ADDR makes the guest claim an address that is not its
# own, as a spoofing guest would: it answers ARP and ping for it.
if [ -n "$spoof" ] && [ -n "$dev" ]; then
  ip addr add "$spoof/32" dev "$dev"
  echo "xenagent-guest: also claiming $spoof" > /dev/console
fi
echo "%[2]s" > /dev/console
# xenagent.count on the kernel command line: a counter on the console,
# so a test tells a guest resumed from saved memory (it counts on) from
# one booted again (it starts from 1).
case " $(cat /proc/cmdline) " in
*" xenagent.count "*)
  (i=0; while true; do i=$((i+1)); echo "xenagent-count $i" > /dev/console; sleep 0.5; done) &
  ;;
esac
# A shell on the console (libvirt's console stream types into it); one
# that exits is started again. Without a controlling tty it has no job
# control, which a test typing commands does not need.
while true; do sh < /dev/console > /dev/console 2>&1; sleep 1; done
`

// SeedLine is what a guest prints on its console for the first-boot
// seed it finds: the seed's instance-id and the digest of its
// credentials (CredsDigest).
func SeedLine(instanceID, credsDigest string) string {
	return fmt.Sprintf(`xenagent-guest: seed "instance-id": %q creds=%s`, instanceID, credsDigest)
}

// CredsScript prints the digest of the credentials in the user-data
// file $1 (CredsDigest): its password hashes and public keys, each
// quoted, sorted, once each. The guests run it as a shell function's
// body; so can a host, on a seed it mounted.
const CredsScript = `{ grep -oE '"[$]6[$][^"]*"' "$1"; grep -oE '"(ssh-|ecdsa-|sk-)[^"]*"' "$1"; } | sort -u | sha256sum | cut -d' ' -f1`

// CredsDigest is the digest a guest prints of the credentials its seed
// gives: SHA-256 of the SHA-512-crypt password hashes and the public key
// lines, each in double quotes on a line of its own, sorted, once each.
// Computed from what the agent recorded, it matching the guest's says
// the guest read those credentials, whatever the seed's layout.
func CredsDigest(hashes, keys []string) string {
	seen := map[string]bool{}
	var lines []string
	for _, x := range append(slices.Clone(hashes), keys...) {
		if x == "" || seen[x] {
			continue
		}
		seen[x] = true
		lines = append(lines, `"`+x+`"`)
	}
	sort.Strings(lines)
	text := ""
	for _, l := range lines {
		text += l + "\n"
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// Options says what a guest is built from.
type Options struct {
	Kernel  string // vmlinuz
	Modules string // /lib/modules/RELEASE of that kernel
	Busybox string // a static busybox
	// Xen builds PV guests (block and net front-ends); otherwise QEMU
	// guests (ACPI button and evdev for acpid).
	Xen bool
}

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

// Build writes QEMU guests from this machine's kernel and busybox.
func Build(dir string) error {
	vmlinuz, modules, err := Kernel()
	if err != nil {
		return err
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return errors.New("no busybox: install busybox-static")
	}
	return BuildWith(dir, Options{Kernel: vmlinuz, Modules: modules, Busybox: bb})
}

// BuildWith writes dir/coop and dir/stubborn.
func BuildWith(dir string, o Options) error {
	busybox, err := os.ReadFile(o.Busybox)
	if err != nil {
		return err
	}
	kernel, err := os.ReadFile(o.Kernel)
	if err != nil {
		return err
	}
	// Modules load in this order (dependencies first); the optional ones
	// let the guest read its first-boot seed and are skipped where the
	// kernel material lacks them.
	want := []string{"kernel/drivers/input/evdev.ko", "kernel/drivers/acpi/button.ko"}
	optional := []string{"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
		"kernel/drivers/virtio/virtio_pci_legacy_dev.ko", "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
		"kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/block/virtio_blk.ko"}
	if o.Xen {
		want = []string{"kernel/drivers/block/xen-blkfront.ko", "kernel/drivers/net/xen-netfront.ko"}
		optional = nil
	}
	optional = append(optional, "kernel/drivers/cdrom/cdrom.ko", "kernel/fs/isofs/isofs.ko")
	mods := map[string][]byte{}
	for i, m := range append(want, optional...) {
		b, err := os.ReadFile(filepath.Join(o.Modules, m))
		if err != nil && i >= len(want) && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("guest module: %w", err)
		}
		mods[fmt.Sprintf("lib/%02d-%s", i, filepath.Base(m))] = b
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
		w.file("init", 0o755, []byte(fmt.Sprintf(initScript, behaviour, ReadyMarker, CredsScript)))
		for name, b := range mods {
			w.file(name, 0o644, b)
		}
		if err := os.WriteFile(filepath.Join(out, "initrd.img"), w.close(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

#!/bin/bash
# Builds the nested Xen lab's artefacts once and caches them by a content
# key (this script, the package list and the dom0 files): a second run
# prints the cached directory at once.
#
#   build-image.sh CACHE_ROOT     prints CACHE_ROOT/<key>
#
# The directory holds: rootfs.img (raw ext4 dom0 root), xen (the gunzipped
# hypervisor, loadable by qemu -kernel), vmlinuz and initrd.img (dom0),
# guestsrc/ (the dom0 kernel, its xen-blkfront and xen-netfront modules and
# a static busybox: what the harness builds PV test guests from, so guest
# changes need no image rebuild), lab_key (ssh key for root in dom0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${1:?usage: build-image.sh CACHE_ROOT}
# The agent is not in the image: each run installs its package (make deb's
# build) at first boot, so agent and unit changes need no image rebuild.
key=$(cat "$here/build-image.sh" "$here/packages.txt" "$here"/dom0/* | sha256sum | cut -c1-16)
out=$cache_root/$key
if [ -f "$out/done" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'umount -R "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" 2>/dev/null || true; rm -rf "$work"' EXIT
rootfs=$work/rootfs
log() { echo "build-image: $*" >&2; }

log "debootstrap (minbase)"
debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >&2

# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
# The dom0 initrd must mount its root over virtio and carry 9p.
mkdir -p "$rootfs/etc/initramfs-tools"
printf 'virtio_pci\nvirtio_blk\next4\n9p\n9pnet_virtio\n' > "$rootfs/etc/initramfs-tools/modules"
mount --bind /proc "$rootfs/proc"; mount --bind /sys "$rootfs/sys"; mount --bind /dev "$rootfs/dev"
log "installing $(wc -l < "$here/packages.txt") packages"
chroot "$rootfs" apt-get update >&2
DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
  $(cat "$here/packages.txt") >&2
chroot "$rootfs" apt-get clean
umount "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
rm -f "$rootfs/usr/sbin/policy-rc.d"

log "configuring dom0"
install -m 0644 "$here/dom0/interfaces" "$rootfs/etc/network/interfaces"
install -m 0644 "$here/dom0/modules" "$rootfs/etc/modules-load.d/lab.conf"
install -m 0644 "$here/dom0/fstab" "$rootfs/etc/fstab"
install -m 0755 "$here/dom0/lab-firstboot" "$rootfs/usr/local/sbin/lab-firstboot"
install -m 0644 "$here/dom0/lab-firstboot.service" "$rootfs/etc/systemd/system/lab-firstboot.service"
echo lab-dom0 > "$rootfs/etc/hostname"
echo 'root:lab' | chroot "$rootfs" chpasswd
mkdir -p "$rootfs/root/.ssh" "$rootfs/mnt/lab"
ssh-keygen -q -t ed25519 -N '' -f "$work/lab_key"
install -m 0600 "$work/lab_key.pub" "$rootfs/root/.ssh/authorized_keys"
sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/' "$rootfs/etc/ssh/sshd_config"
# Guest consoles go to files the harness can read.
echo 'XENCONSOLED_TRACE=guest' >> "$rootfs/etc/default/xen"
ln -sf /etc/systemd/system/lab-firstboot.service "$rootfs/etc/systemd/system/multi-user.target.wants/lab-firstboot.service"

mkdir -p "$out.tmp/guestsrc/modules"
release=$(ls "$rootfs/lib/modules" | sort | tail -1)
gunzip -c "$rootfs"/boot/xen-4.17-amd64.gz > "$out.tmp/xen"
cp "$rootfs/boot/vmlinuz-$release" "$out.tmp/vmlinuz"
cp "$rootfs/boot/initrd.img-$release" "$out.tmp/initrd.img"
cp "$work/lab_key" "$out.tmp/lab_key"

cp "$rootfs/boot/vmlinuz-$release" "$out.tmp/guestsrc/vmlinuz"
cp "$rootfs/bin/busybox" "$out.tmp/guestsrc/busybox"
for m in kernel/drivers/block/xen-blkfront.ko kernel/drivers/net/xen-netfront.ko; do
  mkdir -p "$out.tmp/guestsrc/modules/$(dirname $m)"
  cp "$rootfs/lib/modules/$release/$m" "$out.tmp/guestsrc/modules/$m"
done

log "making the root filesystem image"
truncate -s 3G "$out.tmp/rootfs.img"
mkfs.ext4 -q -F -L labroot -d "$rootfs" "$out.tmp/rootfs.img"
touch "$out.tmp/done"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"

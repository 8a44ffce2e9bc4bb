#!/bin/bash
# Starts virtlogd and libvirtd for the tests on machines without systemd
# (CI containers); on a systemd host, makes sure the units run. Idempotent.
set -euo pipefail
# A container's /dev/kvm keeps the host's group (no udev gives it to kvm,
# as Debian's rules do on a host). libvirt then finds KVM usable for root
# but not for the qemu user, and probes QEMU's capabilities again at every
# call (a minute each: a define times out). Give it to kvm, as udev would.
if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
if virsh -c qemu:///system version >/dev/null 2>&1; then
  exit 0
fi
if [ -d /run/systemd/system ]; then
  systemctl start virtlogd libvirtd
else
  mkdir -p /run/libvirt
  # A libvirtd that is still shutting down holds its pid file: let it go.
  for _ in $(seq 1 100); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
fi
for _ in $(seq 1 300); do
  virsh -c qemu:///system version >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "libvirtd did not come up" >&2
exit 1

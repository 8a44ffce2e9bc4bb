#!/bin/bash
# Starts virtlogd and libvirtd for the tests on machines without systemd
# (CI containers); on a systemd host, makes sure the units run. Idempotent.
set -euo pipefail
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

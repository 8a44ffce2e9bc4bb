#!/bin/bash
# Builds the xenagent Debian package from binaries already built (make deb
# builds them with the Makefile's LDFLAGS first). Plain dpkg-deb: no
# debhelper, no debian/ tree in the repository.
#
#   build-deb.sh BINDIR VERSION     writes BINDIR/xenagent_<debversion>_<arch>.deb
#
# VERSION is the binaries' version (git describe). The package's version
# is DEB_VERSION when set, else VERSION made Debian-valid and ordered like
# the history: a tag v1.2 gives 1.2, 3 commits after it 1.2+3.g<hash>;
# without a tag, 0.0+git<commits>.g<hash>; a dirty tree adds .dirty.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bindir=${1:?usage: build-deb.sh BINDIR VERSION}
version=${2:?usage: build-deb.sh BINDIR VERSION}
die() { echo "build-deb: $*" >&2; exit 1; }

for b in xenagent xenagentctl; do
  [ -x "$bindir/$b" ] || die "$bindir/$b is missing: run make build (or make deb)"
done
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (package dpkg)"
command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps is missing: apt-get install dpkg-dev"

debversion() {
  local d count
  if d=$(git -C "$repo" describe --tags --long --match 'v[0-9]*' --dirty 2>/dev/null); then
    # v1.2-3-gabc1234[-dirty] -> 1.2 (+3.gabc1234 when past the tag)
    local rest=${d#v} dirty=""
    case $rest in *-dirty) dirty=.dirty; rest=${rest%-dirty} ;; esac
    local hash=${rest##*-}; rest=${rest%-*}
    local n=${rest##*-} tag=${rest%-*}
    if [ "$n" = 0 ] && [ -z "$dirty" ]; then echo "$tag"; else echo "$tag+$n.$hash$dirty"; fi
  elif count=$(git -C "$repo" rev-list --count HEAD 2>/dev/null); then
    d=$(git -C "$repo" describe --always --dirty)
    echo "0.0+git$count.g${d//-/.}"
  else
    echo "0.0+$(echo "$version" | tr -c 'A-Za-z0-9.+~\n' '.')"
  fi
}
debver=${DEB_VERSION:-$(debversion)}
# Debian's rule for a native version: starts with a digit; digits,
# letters and . + ~ only (a hyphen would mean a Debian revision).
[[ $debver =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "package version $debver is not a valid Debian version"
arch=$(dpkg --print-architecture)

stage=$(mktemp -d "${TMPDIR:-/tmp}/xenagent-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/xenagent" \
  "$root/usr/share/man/man1" "$root/usr/share/man/man8" "$root/usr/share/doc/xenagent/examples"
install -m 0755 "$bindir/xenagent" "$bindir/xenagentctl" "$root/usr/bin/"
install -m 0644 "$repo/deploy/xenagent.service" "$root/lib/systemd/system/xenagent.service"
# The documented example is the conffile: dpkg keeps an operator's edits
# across upgrades. A pristine copy lets postinst (and the operator) tell
# an edited file from the shipped one.
install -m 0640 "$repo/deploy/xenagent.example.toml" "$root/etc/xenagent/xenagent.toml"
install -m 0644 "$repo/deploy/xenagent.example.toml" "$root/usr/share/doc/xenagent/examples/xenagent.example.toml"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/xenagent/README.md"
install -m 0644 "$here/copyright" "$root/usr/share/doc/xenagent/copyright"
gzip -9n -c "$here/xenagent.8" > "$root/usr/share/man/man8/xenagent.8.gz"
gzip -9n -c "$here/xenagentctl.1" > "$root/usr/share/man/man1/xenagentctl.1.gz"
chmod 0644 "$root"/usr/share/man/man*/*.gz
for s in postinst prerm postrm; do
  install -m 0755 "$here/$s" "$root/DEBIAN/$s"
done
echo /etc/xenagent/xenagent.toml > "$root/DEBIAN/conffiles"

# Depends from the binaries' dynamic libraries (libc6, libvirt0), with
# the versions their symbols need.
mkdir -p "$stage/src/debian"
printf 'Source: xenagent\n\nPackage: xenagent\nArchitecture: any\n' > "$stage/src/debian/control"
depends=$(cd "$stage/src" && dpkg-shlibdeps -O -e"$root/usr/bin/xenagent" -e"$root/usr/bin/xenagentctl" 2>"$stage/shlibdeps.err") ||
  die "dpkg-shlibdeps failed: $(cat "$stage/shlibdeps.err")"
depends=${depends#shlibs:Depends=}
[[ $depends == *libvirt0* && $depends == *libc6* ]] || die "computed Depends lack libvirt0 or libc6: $depends"

cat > "$root/DEBIAN/control" <<CONTROL
Package: xenagent
Version: $debver
Architecture: $arch
Maintainer: xenagent developers <xenagent@invalid>
Section: admin
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: libvirt-daemon-system, libvirt-daemon-driver-xen, lvm2, thin-provisioning-tools
Description: per-host control-plane agent for Xen
 xenagent runs on a Xen dom0 and makes the hosting API's operations real
 on that host through libvirt, LVM thin or reflink file volumes and the
 kernel's network stack, journalled so that a crash is resumed.
 .
 The service is enabled but not started until /etc/xenagent/xenagent.toml
 is configured. Removing or purging the package never deletes volumes or
 the state in /var/lib/xenagent.
CONTROL

out=$bindir/xenagent_${debver}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out.tmp" >/dev/null
mv "$out.tmp" "$out"
echo "$out"

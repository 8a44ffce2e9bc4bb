#!/bin/bash
# Proves the package on a fresh Debian 12 root, as a host installs it:
#
#   check-in-root.sh ROOT
#
# ROOT is a prepared chroot (proc, sys and dev mounted, apt working: see
# deploy/test/fresh-root.sh). The package is bin/xenagent_*.deb, built
# with `make deb` unless a package newer than bin/xenagent is there
# (XENAGENT_DEB=FILE names one). In the root: apt installs it, resolving
# its Depends from the archive (Recommends are a dom0's business and are
# not installed here); both commands answer --help and --version; the
# man pages, the conffile, the enabled unit and the state directory are
# where they belong; systemd-analyze verify accepts the unit (systemd and
# man-db are installed in the root for that, after the package); an
# upgrade to the same binaries at a higher version keeps the operator's
# edit of the configuration; a purge keeps a volume and state.db in the
# state directory and says so.
#
# Exits non-zero with "check-in-root: FAIL: ..." on the first failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ROOT=${1:?usage: check-in-root.sh ROOT}
ROOT=$(cd "$ROOT" && pwd)

log() { echo "check-in-root: $*"; }
fail() { echo "check-in-root: FAIL: $*" >&2; exit 1; }
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
apt_in_root() { in_root apt-get -o DPkg::Lock::Timeout=600 -y --no-remove --no-install-recommends "$@"; }

[ -x "$ROOT/usr/bin/apt-get" ] || fail "$ROOT is not a Debian root (no /usr/bin/apt-get)"
[ -r "$ROOT/proc/self/stat" ] || fail "$ROOT/proc is not mounted"
if in_root dpkg-query -W -f='${Status}' xenagent 2>/dev/null | grep -q 'ok installed'; then
  fail "xenagent is already installed in $ROOT: give a fresh root"
fi

# The package.
deb=${XENAGENT_DEB:-}
if [ -z "$deb" ]; then
  deb=$(ls -t "$repo"/bin/xenagent_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ] || [ ! -e "$repo/bin/xenagent" ] || [ "$repo/bin/xenagent" -nt "$deb" ]; then
    log "building the package (make deb)"
    make -C "$repo" deb >&2
    deb=$(ls -t "$repo"/bin/xenagent_*.deb | head -1)
  fi
fi
[ -f "$deb" ] || fail "no package at $deb"
version=$(dpkg-deb -f "$deb" Version)
log "package $(basename "$deb") (version $version)"

work=/tmp/xenagent-check
rm -rf "${ROOT:?}$work"
mkdir -p "$ROOT$work"
trap 'rm -rf "${ROOT:?}$work"' EXIT
cp "$deb" "$ROOT$work/"

# Install with apt, as a host would.
if ! ls "$ROOT"/var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  in_root apt-get update -q >&2 || fail "apt-get update in the root failed"
fi
log "apt-get install ./$(basename "$deb")"
out=$(apt_in_root install "$work/$(basename "$deb")" 2>&1) || {
  echo "$out" >&2; fail "apt-get install of the package failed (Depends: $(dpkg-deb -f "$deb" Depends))"; }
echo "$out" | grep -q "installed and enabled, not started" ||
  { echo "$out" >&2; fail "the first install did not say the service waits for its configuration"; }
[ "$(in_root dpkg-query -W -f='${Status} ${Version}' xenagent)" = "install ok installed $version" ] ||
  fail "dpkg does not list xenagent $version as installed"

# The commands and their help.
for args in "--help" "--version" "version" "serve --help" "check-config --help" "hash-key --help" "version --help"; do
  in_root /usr/bin/xenagent $args > "$ROOT$work/out" 2>&1 || fail "xenagent $args: exit $? ($(head -3 "$ROOT$work/out"))"
  [ -s "$ROOT$work/out" ] || fail "xenagent $args printed nothing"
done
[ "$(in_root /usr/bin/xenagent --version)" = "$(in_root /usr/bin/xenagentctl -version)" ] || fail "xenagent and xenagentctl report different versions"
for args in "--help" "-version" "help" "vm --help" "disk --help" "op --help" "host --help" "call --help" "version --help"; do
  in_root /usr/bin/xenagentctl $args > "$ROOT$work/out" 2>&1 || fail "xenagentctl $args: exit $? ($(head -3 "$ROOT$work/out"))"
  [ -s "$ROOT$work/out" ] || fail "xenagentctl $args printed nothing"
done
in_root /usr/bin/xenagent check-config --config /etc/xenagent/xenagent.toml >/dev/null || fail "the shipped configuration does not pass check-config"
log "both commands answer --help (each command) and --version: $(in_root /usr/bin/xenagent --version)"

# Files where they belong.
for f in /usr/share/man/man8/xenagent.8.gz /usr/share/man/man1/xenagentctl.1.gz /lib/systemd/system/xenagent.service \
  /usr/share/doc/xenagent/examples/xenagent.example.toml; do
  [ -f "$ROOT$f" ] || fail "$f is missing"
done
in_root dpkg-query -W -f='${Conffiles}\n' xenagent | grep -q '^ /etc/xenagent/xenagent.toml ' || fail "/etc/xenagent/xenagent.toml is not a conffile"
cmp -s "$ROOT/etc/xenagent/xenagent.toml" "$repo/deploy/xenagent.example.toml" || fail "/etc/xenagent/xenagent.toml is not the documented example"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/xenagent.service" ] || fail "the service is not enabled (no multi-user.target.wants link)"
[ "$(stat -c '%U:%G %a' "$ROOT/var/lib/xenagent")" = "root:root 750" ] ||
  fail "/var/lib/xenagent is $(stat -c '%U:%G %a' "$ROOT/var/lib/xenagent"), want root:root 750"
log "conffile, man pages, enabled unit and state directory (root:root 0750) in place"

# The unit, verified by the root's own systemd (installed for the check).
if ! in_root sh -c 'command -v systemd-analyze && command -v man' >/dev/null; then
  log "installing systemd and man-db in the root for the unit and man page checks"
  apt_in_root install systemd man-db > "$ROOT$work/apt.log" 2>&1 || { cat "$ROOT$work/apt.log" >&2; fail "installing systemd and man-db in the root"; }
fi
in_root man -w xenagent >/dev/null || fail "man -w xenagent finds no page"
in_root man -w xenagentctl >/dev/null || fail "man -w xenagentctl finds no page"
if ! verify=$(in_root systemd-analyze verify /lib/systemd/system/xenagent.service 2>&1) || [ -n "$verify" ]; then
  fail "systemd-analyze verify xenagent.service: $verify"
fi
log "systemd-analyze verify accepts the unit; man -w finds both pages"

# Upgrade: the same binaries at a higher version keep the operator's edit.
newver=$version+check1
dpkg --compare-versions "$newver" gt "$version" || fail "$newver does not sort after $version"
rm -rf "$ROOT$work/re"
dpkg-deb -R "$deb" "$ROOT$work/re"
sed -i "s/^Version: .*/Version: $newver/" "$ROOT$work/re/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$ROOT$work/re" "$ROOT$work/xenagent_${newver}_upgrade.deb" >/dev/null
rm -rf "$ROOT$work/re"
sed -i '0,/^listen = .*/s//listen = "127.0.0.1:18080" # edited by the operator/' "$ROOT/etc/xenagent/xenagent.toml"
edited=$(sha256sum < "$ROOT/etc/xenagent/xenagent.toml")
log "upgrading to $newver"
out=$(apt_in_root install "$work/xenagent_${newver}_upgrade.deb" 2>&1) || { echo "$out" >&2; fail "the upgrade failed"; }
[ "$(in_root dpkg-query -W -f='${Version}' xenagent)" = "$newver" ] || fail "after the upgrade dpkg lists $(in_root dpkg-query -W -f='${Version}' xenagent)"
[ "$(sha256sum < "$ROOT/etc/xenagent/xenagent.toml")" = "$edited" ] || fail "the upgrade changed the operator's /etc/xenagent/xenagent.toml"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/xenagent.service" ] || fail "the upgrade disabled the service"
in_root /usr/bin/xenagent check-config --config /etc/xenagent/xenagent.toml >/dev/null || fail "the edited configuration no longer loads"
log "upgrade kept the edited configuration and the enablement"

# Purge: customer data stays, and the purge says so.
state=$ROOT/var/lib/xenagent
mkdir -p "$state/disks"
head -c 1048576 /dev/urandom > "$state/disks/xa-disk-7"
head -c 65536 /dev/urandom > "$state/state.db"
before=$(cd "$state" && sha256sum state.db disks/xa-disk-7)
log "apt-get purge xenagent (with a volume and state.db in /var/lib/xenagent)"
out=$(in_root apt-get -o DPkg::Lock::Timeout=600 -y purge xenagent 2>&1) || { echo "$out" >&2; fail "the purge failed"; }
in_root dpkg-query -W -f='${Status}' xenagent 2>/dev/null | grep -q 'not-installed' ||
  [ -z "$(in_root dpkg-query -W -f='${Status}' xenagent 2>/dev/null)" ] || fail "xenagent is still known to dpkg after purge"
[ "$( { cd "$state" && sha256sum state.db disks/xa-disk-7; } 2>&1)" = "$before" ] || fail "the purge changed or removed state.db or the volume"
echo "$out" | grep -q "purge kept the agent's state and volumes" || { echo "$out" >&2; fail "the purge did not say it kept the state"; }
echo "$out" | grep -q "/var/lib/xenagent" || { echo "$out" >&2; fail "the purge did not say where the state is"; }
for gone in /etc/xenagent /usr/bin/xenagent /usr/bin/xenagentctl /lib/systemd/system/xenagent.service \
  /etc/systemd/system/multi-user.target.wants/xenagent.service; do
  [ ! -e "$ROOT$gone" ] && [ ! -L "$ROOT$gone" ] || fail "$gone is left after the purge"
done
log "purge kept state.db and the volume, said so, and removed the rest:"
echo "$out" | sed -n '/^xenagent: purge kept/,/by hand/p' | sed 's/^/  | /'
log "ok"

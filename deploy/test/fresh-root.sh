#!/bin/bash
# Proves the README's first command on a fresh Debian 12, on every
# `make test`: a debootstrap minbase root holding only what a person has
# before typing it (git, make, the CA store), with this machine's apt
# settings and Go (read-only) put in; a fresh clone of the committed HEAD;
# `make run` there until the API answers version.info, from the host over
# loopback (a chroot shares the network), with the key it printed.
#
#   fresh-root.sh
#
# XENAGENT_FRESH_CACHE   where the debootstrapped root is kept, keyed by
#                        its inputs (default /var/cache/xenagent-fresh-root)
# XENAGENT_FRESH_TIMEOUT seconds make run gets to serve (default 900)
#
# HOOK: after make run is stopped, deploy/deb/check-in-root.sh ROOT runs
# (when it exists) with ROOT still prepared: proc, sys, dev and Go
# mounted, apt usable, the clone in ROOT/root/xenagent. Its failure fails
# this check.
#
# Whatever happens, the root's processes are killed, its mounts lazily
# unmounted and the copy removed; the cached root is never run in.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache_root=${XENAGENT_FRESH_CACHE:-/var/cache/xenagent-fresh-root}
timeout=${XENAGENT_FRESH_TIMEOUT:-900}
goroot=/usr/local/go
# Bump when the way the cached root is made changes.
version=1
mirror=http://deb.debian.org/debian
debootstrap_args=(--variant=minbase --include=git,make,ca-certificates bookworm)
key=$(printf '%s\n' "$version" "${debootstrap_args[*]}" "$mirror" | sha256sum | cut -c1-16)

started=$SECONDS
mark=$SECONDS
log() { echo "fresh-root: $*" >&2; }
# phase NAME: prints how long the phase that just ended took.
phase() { log "$(printf '%-36s %4d s' "$1" $((SECONDS - mark)))"; mark=$SECONDS; }
die() { log "FAILED: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"
for tool in debootstrap git python3 chroot; do
  command -v $tool >/dev/null || die "needs $tool (make test-deps installs it)"
done
[ -x "$goroot/bin/go" ] || die "needs Go in $goroot (mounted read-only into the root)"

# unmount_under DIR: lazily unmounts everything mounted below DIR, deepest first.
unmount_under() {
  awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
mounted_under() { awk -v d="$1/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# The cached root: made once per key, under a lock (two checks at once
# wait for one debootstrap), published by a rename.
mkdir -p "$cache_root"
cache_root=$(realpath "$cache_root")
base=$cache_root/$key
exec 9>"$cache_root/.lock"
flock 9
if [ ! -f "$base.done" ]; then
  log "debootstrap ${debootstrap_args[*]} $mirror (once per key, ~5 min; log in $base.log)"
  unmount_under "$base.tmp"
  rm -rf --one-file-system "$base.tmp"
  if ! debootstrap "${debootstrap_args[@]}" "$base.tmp" "$mirror" > "$base.log" 2>&1; then
    tail -20 "$base.log" >&2
    unmount_under "$base.tmp"
    die "debootstrap (log: $base.log)"
  fi
  rm -rf --one-file-system "$base"
  mv "$base.tmp" "$base"
  touch "$base.done"
  # Roots of older keys are never used again.
  for done in "$cache_root"/*.done; do
    old=${done%.done}
    [ "$old" = "$base" ] || { unmount_under "$old"; rm -rf --one-file-system "$old" "$old.log" "$done"; }
  done
  phase "debootstrap (cached now)"
else
  phase "debootstrap (cached: $key)"
fi
flock -u 9

run=$(mktemp -d "$cache_root/run.XXXXXX")
root=$run/root
root_pids() {
  local p
  # -ef compares inodes without a fork per process (a busy machine has
  # hundreds).
  for p in /proc/[0-9]*; do
    [ "$p/root" -ef "$root" ] 2>/dev/null && echo "${p#/proc/}"
  done
  return 0
}
# stop_root: TERM to every process whose root is the copy, KILL after 10 s.
stop_root() {
  local pids
  pids=$(root_pids)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    [ -n "$(root_pids)" ] || return 0
    sleep 0.2
  done
  pids=$(root_pids)
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  sleep 0.5
}
cleanup() {
  local rc=$?
  set +e
  stop_root
  unmount_under "$run"
  if mounted_under "$run"; then
    log "still mounted under $run: not removed"
    rc=1
  else
    rm -rf --one-file-system "$run"
  fi
  [ $rc -eq 0 ] && log "$(printf '%-36s %4d s' "ok, total" $((SECONDS - started)))"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -a "$base" "$root"
# This machine's apt settings, resolver and trust store (the registries
# are reached through authorities only this store has); no service starts
# inside a chroot.
rm -rf "$root/etc/apt" "$root/etc/ssl/certs" "$root/etc/resolv.conf"
cp -a /etc/apt "$root/etc/apt"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
cp -a /etc/ssl/certs "$root/etc/ssl/certs"
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
# Slaves, so that unmounting in the copy never unmounts the host's.
for d in sys dev; do
  mount --rbind "/$d" "$root/$d"
  mount --make-rslave "$root/$d"
done
mkdir -p "$root$goroot"
mount --bind "$goroot" "$root$goroot"
mount -o remount,bind,ro "$root$goroot"

head=$(git -C "$repo" rev-parse HEAD)
git clone -q --no-hardlinks "$repo" "$root/root/xenagent"
git -C "$root/root/xenagent" -c advice.detachedHead=false checkout -q "$head"
phase "copy, mounts, clone of ${head:0:12}"

# make run, as the README says, in a clean environment: PATH with Go
# (as a machine of this kind has it), no GOFLAGS, caches or proxies of
# the host.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$run/make-run.log
# Made here, not by the background job's redirection: the loop below may
# read it first (under load it did, and sed's failure ended the script).
: > "$out"
log "make run LISTEN=127.0.0.1:$port in the root (a fresh machine: apt, modules and the first cgo build, ~5 min)"
run_started=$SECONDS
(
  cd /
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=$goroot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    /bin/bash -c "cd /root/xenagent && exec make run LISTEN=127.0.0.1:$port" < /dev/null 2>&1 |
    while IFS= read -r line; do
      printf '%4d %s\n' $((SECONDS - run_started)) "$line"
      case $line in '==> '*|*'API key'*) log "  [$((SECONDS - run_started)) s] $line" 2>&3 ;; esac
    done > "$out"
) 3>&2 2>/dev/null & # (no "Terminated" from the shell when the root is stopped)
make_pid=$!

# Ask until it answers: a refused connection means not yet (exit 1), a
# fault or a wrong answer means it is broken (exit 2).
cat > "$run/ask.py" <<'EOF'
import sys, xmlrpc.client
api = xmlrpc.client.ServerProxy("http://127.0.0.1:%s/xmlrpc/" % sys.argv[1])
try:
    v = api.version.info(sys.argv[2])
except (ConnectionError, OSError):
    sys.exit(1)
except Exception as e:
    print(repr(e))
    sys.exit(2)
if not isinstance(v, dict) or "api_version" not in v:
    print("unexpected answer: %r" % (v,))
    sys.exit(2)
print(v)
EOF
deadline=$((SECONDS + timeout))
while :; do
  apikey=$(sed -n 's/.*demo account DEMO-XENAGENT, API key \([^ ]*\) .*/\1/p' "$out" | tail -1)
  if [ -n "$apikey" ]; then
    rc=0
    answer=$(python3 "$run/ask.py" "$port" "$apikey" 2>&1) || rc=$?
    [ $rc -eq 0 ] && break
    [ $rc -eq 1 ] || { tail -30 "$out" >&2; die "version.info: $answer"; }
  fi
  if ! kill -0 $make_pid 2>/dev/null; then
    tail -40 "$out" >&2
    die "make run exited before the API answered (log above)"
  fi
  [ $SECONDS -lt $deadline ] || { tail -40 "$out" >&2; die "make run did not serve within $timeout s"; }
  sleep 2
done
log "version.info: $answer"
phase "make run until the API answered"
stop_root
wait $make_pid 2>/dev/null || true
[ -z "$(root_pids)" ] || die "processes left in the root after stopping it"
phase "stop"

# HOOK: the Debian package check (deploy/deb/), in the same fresh root.
hook=$repo/deploy/deb/check-in-root.sh
if [ -e "$hook" ]; then
  log "$hook $root"
  "$hook" "$root" || die "$hook"
  stop_root
  phase "deb package check"
fi

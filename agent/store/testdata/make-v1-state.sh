#!/bin/bash
# Makes state-v1.db and state-v1.json beside this script: builds the agent
# of the checked-out commit and drives it through its API on libvirt's
# test driver with the file disk backend, in a temporary directory (no
# root, QEMU or libvirtd; cgo against libvirt-dev, as `make build`).
# See README.md here for what the file holds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"
export PATH="$PATH:/usr/local/go/bin"
commit="$(git rev-parse HEAD)"
if [ -n "$(git status --porcelain -- . ':!agent/store/testdata')" ]; then
	echo "make-v1-state.sh: the agent's code differs from $commit (git status); commit it first, the fixture names its commit" >&2
	exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -ldflags "-X main.version=$(git describe --always)" -o "$work/xenagent" ./cmd/xenagent
go build -o "$work/makev1" ./agent/store/testdata/makev1
"$work/makev1" -agent "$work/xenagent" -out "$here" -commit "$commit"

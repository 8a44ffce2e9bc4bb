#!/bin/bash
# Runs the Gandi overview's Python walk-through against a fresh agent on
# the test driver, as a newcomer would after `make run`.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
sed -e "s#^state_dir = .*#state_dir = \"$dir\"#" -e "s#^dir = .*#dir = \"$dir/disks\"#" deploy/dev.toml > "$dir/agent.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./bin/xenagent serve --config "$dir/agent.toml" --listen 127.0.0.1:$port > "$dir/agent.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:$port/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
url="http://127.0.0.1:$port/xmlrpc/"
python3 deploy/test/gandi_example.py "$url" "$(cat "$dir/apikey")" || { cat "$dir/agent.log"; exit 1; }

# The operator CLI over the same API.
ctl() { ./bin/xenagentctl -url "$url" -key-file "$dir/apikey" "$@"; }
ctl version | grep -q api_version
image=$(ctl call hosting.image.list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["disk_id"])')
ops=$(ctl call hosting.vm.create_from '{"datacenter_id":1,"hostname":"ctl1","memory":256}' '{}' "$image" |
      python3 -c 'import json,sys; print(" ".join(str(o["id"]) for o in json.load(sys.stdin)))')
ctl op wait $ops
ctl vm list | grep -q "ctl1 *running"
vm=$(ctl vm list | awk '$2=="ctl1" {print $1}')
ctl vm stop "$vm" -wait | grep -q "vm_stop DONE"
ctl vm info "$vm" | grep -q '"state": "halted"'
ctl disk list | grep -q created
ctl op list | grep -q vm_stop
if ctl vm info 999999 2>/dev/null; then echo "xenagentctl: a missing vm did not fail" >&2; exit 1; fi
echo "xenagentctl ok"

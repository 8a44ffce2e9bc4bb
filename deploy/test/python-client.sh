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
python3 deploy/test/gandi_example.py "http://127.0.0.1:$port/xmlrpc/" "$(cat "$dir/apikey")" || { cat "$dir/agent.log"; exit 1; }

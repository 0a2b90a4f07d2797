#!/usr/bin/env bash
# The main job: a real live migration on this machine, over loopback TCP.
# On the kvm backend (a real VM running xmig's test guest) where /dev/kvm
# works; otherwise on the sim backend, with a message saying so.
# Usage: examples/live-migration.sh [BUILD_DIR]     (default: build)
# XMIG_BACKEND=sim forces the simulated guest.
set -euo pipefail
build=${1:-build}
bin=$build/tools
[ -x "$bin/xmig-send" ] || { echo "no tools in $bin: build first (see README)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

backend=sim
guest=$build/tests/guest/xmig-test-guest
if [ "${XMIG_BACKEND:-}" = sim ]; then
  echo "NOTE: XMIG_BACKEND=sim: migrating a SIMULATED guest." >&2
elif [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ -f "$guest" ] &&
   "$bin/xmig-send" --help >"$tmp/help" && grep -q -- '--guest' "$tmp/help"; then
  backend=kvm
else
  echo "NOTE: /dev/kvm or the kvm backend is not available here:" \
       "migrating a SIMULATED guest (sim backend) instead." >&2
fi

echo "== xmig-recv listening on 127.0.0.1 (backend $backend)"
if [ $backend = kvm ]; then
  "$bin/xmig-recv" --backend kvm --listen 127.0.0.1:0 --accept-timeout 60s \
    --until-exit --json "$tmp/recv.json" >"$tmp/recv.out" 2>"$tmp/recv.err" &
else
  "$bin/xmig-recv" --backend sim --listen 127.0.0.1:0 --accept-timeout 60s \
    --run-after 1s --json "$tmp/recv.json" >"$tmp/recv.out" 2>"$tmp/recv.err" &
fi
recv=$!
port=
for _ in $(seq 200); do
  port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/recv.err")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$tmp/recv.err" >&2; exit 1; }

echo "== xmig-send: live migration to 127.0.0.1:$port"
if [ $backend = kvm ]; then
  "$bin/xmig-send" --backend kvm --guest "$guest" --mem 256M \
    --append "ws=4M pattern=hot:1M rate=max hb=2 time=6" --run-before 2s \
    --verify --to "127.0.0.1:$port"
else
  "$bin/xmig-send" --backend sim --mem 1G --dirty hot:64M:200M/s --run-before 1s \
    --verify --to "127.0.0.1:$port"
fi
rc=0
wait $recv || rc=$?
echo
echo "== xmig-recv (destination)"
cat "$tmp/recv.err" "$tmp/recv.out"
exit $rc

#!/usr/bin/env bash
# Real VMs through the command-line tools: a verified live migration of the
# test guest over TCP, and a ping-pong of one guest between two receivers,
# 10 migrations in a row; the guest must finish with a clean self-check.
# Usage: tests/kvm.sh TOOLS_DIR GUEST_ELF
set -euo pipefail
bin=${1:?usage: kvm.sh TOOLS_DIR GUEST_ELF} guest=${2:?}
# (the help read whole: grep -q on a pipe would cut a long text short, and
# pipefail would then take the SIGPIPE for "no kvm backend")
help=$("$bin/xmig-send" --help)
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ] || ! grep -q -- --guest <<<"$help"; then
  echo "SKIP kvm_tools: no usable /dev/kvm or no kvm backend: real-VM tool tests not run"
  exit 77   # ctest: skipped
fi
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.err; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
pass=0

wait_socket() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done; fail "no socket $1"; }

# 1. one verified migration over TCP, the guest run to its end
"$bin/xmig-recv" --backend kvm --listen 127.0.0.1:0 --accept-timeout 60s --until-exit \
  --require-verify --json "$tmp/r.json" >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!
for _ in $(seq 200); do
  port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/r.err"); [ -n "$port" ] && break; sleep 0.05
done
"$bin/xmig-send" --backend kvm --guest "$guest" --mem 64M --verify \
  --append "ws=2M pattern=hot:256K rate=max hb=2 time=4" --run-before 1s \
  --to "127.0.0.1:$port" --json "$tmp/s.json" >"$tmp/s.out" 2>"$tmp/s.err" || fail "xmig-send"
wait $rpid || fail "xmig-recv"
[ "$(json "$tmp/r.json" "d['guest_check'].startswith('clean: guest exited 0')")" = True ] ||
  fail "guest check: $(json "$tmp/r.json" "d['guest_check']")"
[ "$(json "$tmp/r.json" "d['verified']")" = True ] || fail "not verified"
[ "$(json "$tmp/r.json" "d['heartbeat']['dest_first_seq'] == d['heartbeat']['source_last_seq'] + 1")" = True ] ||
  fail "heartbeat does not continue"
[ "$(json "$tmp/r.json" "d['guest_downtime_ms'] is not None and d['guest_downtime_ms'] > 0")" = True ] ||
  fail "no guest-observed downtime"
echo "migration: engine downtime $(json "$tmp/s.json" "d['downtime_ms']") ms, guest-seen $(json "$tmp/r.json" "d['guest_downtime_ms']") ms"
pass=$((pass+1))

# 2. ping-pong: sender -> A -> B -> A -> ... 10 migrations, ending on B
"$bin/xmig-recv" --backend kvm --listen "unix:$tmp/a" --forward-to "unix:$tmp/b" --hops 5 \
  --run-after 300ms --accept-timeout 60s --require-verify >"$tmp/a.out" 2>"$tmp/a.err" &
apid=$!
"$bin/xmig-recv" --backend kvm --listen "unix:$tmp/b" --forward-to "unix:$tmp/a" --hops 5 \
  --keep-last --until-exit --run-after 300ms --accept-timeout 60s \
  --require-verify --json "$tmp/b.json" >"$tmp/b.out" 2>"$tmp/b.err" &
bpid=$!
wait_socket "$tmp/a"
wait_socket "$tmp/b"
"$bin/xmig-send" --backend kvm --guest "$guest" --mem 32M --verify \
  --append "ws=1M pattern=random rate=max hb=5 time=12" --run-before 500ms \
  --to "unix:$tmp/a" -q >"$tmp/p.out" 2>"$tmp/p.err" || fail "ping-pong: first send"
wait $apid || fail "ping-pong: receiver A"
wait $bpid || fail "ping-pong: receiver B"
hops=$(cat "$tmp/a.out" "$tmp/b.out" | grep -c 'guest running\|verdict      OK' || true)
grep -q '5 of 5 hops done' "$tmp/a.err" || fail "A did not do 5 hops"
grep -q '5 of 5 hops done' "$tmp/b.err" || fail "B did not do 5 hops"
[ "$(json "$tmp/b.json" "d['guest_check'].startswith('clean: guest exited 0')")" = True ] ||
  fail "after 10 migrations: $(json "$tmp/b.json" "d['guest_check']")"
echo "ping-pong: 10 migrations, guest clean ($hops summary lines)"
pass=$((pass+1))

# 3. --paused: a real VM committed here and kept paused for 1.5 s, then
#    started by SIGUSR1; its own heartbeats show it did not run meanwhile
#    (the gap they see is at least the wait) and its self-check stays clean
"$bin/xmig-recv" --backend kvm --listen 127.0.0.1:0 --accept-timeout 60s --until-exit \
  --paused --json "$tmp/pz.json" >"$tmp/pz.out" 2>"$tmp/pz.err" &
rpid=$!
for _ in $(seq 200); do
  port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/pz.err"); [ -n "$port" ] && break; sleep 0.05
done
"$bin/xmig-send" --backend kvm --guest "$guest" --mem 32M --verify \
  --append "ws=1M pattern=hot:256K rate=max hb=2 time=4" --run-before 500ms \
  --to "127.0.0.1:$port" -q >"$tmp/ps.out" 2>"$tmp/ps.err" || fail "--paused: xmig-send"
for _ in $(seq 200); do grep -q 'kill -USR1' "$tmp/pz.err" && break; sleep 0.05; done
grep -q 'kill -USR1' "$tmp/pz.err" || fail "--paused: no word on how to start it"
sleep 1.5
kill -USR1 $rpid
wait $rpid || fail "--paused: xmig-recv"
[ "$(json "$tmp/pz.json" "d['guest_check'].startswith('clean: guest exited 0')")" = True ] ||
  fail "--paused: guest check: $(json "$tmp/pz.json" "d['guest_check']")"
[ "$(json "$tmp/pz.json" "d['guest_downtime_ms'] is not None and d['guest_downtime_ms'] >= 1500")" = True ] ||
  fail "--paused: the guest ran before SIGUSR1 (guest-seen gap $(json "$tmp/pz.json" "d['guest_downtime_ms']") ms)"
echo "paused: guest-seen gap $(json "$tmp/pz.json" "d['guest_downtime_ms']") ms across a 1.5 s hold"
pass=$((pass+1))

echo "$pass passed, 0 failed"

#!/usr/bin/env bash
# The command-line tools end to end: xmig-send -> xmig-recv over TCP and a
# unix socket, save to a file and restore it, xmig-dump, and argument errors;
# streams on stdout, pipes and inherited descriptors; the command line checked
# before any guest starts; saves that are complete or absent; stray
# connections to a waiting receiver dropped.
# With a TLS build, TLS between the tools: mutual X.509 and PSK, and refusals.
# Usage: tests/tools.sh TOOLS_DIR [TLS_MAKE_CERTS]
# (TLS_MAKE_CERTS: tests/tls_make_certs of a TLS build; without it the TLS
# section only checks that the options say TLS is not built in)
set -euo pipefail
# grep that reads all its input: `... | grep -q` ends at the first match, and
# under pipefail the writer's SIGPIPE then fails the test now and then
has() { grep "$@" > /dev/null; }
bin=${1:?usage: tools.sh TOOLS_DIR [TLS_MAKE_CERTS]}
make_certs=${2:-}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass=0

# A free TCP port: let xmig-recv pick one and tell us.
start_recv() { # args...; sets recv_pid and port
  # (emptied here, not by the child's redirection: on a busy machine the
  # loop below read the previous receiver's port before the child ran)
  : > "$tmp/recv.err"
  "$bin/xmig-recv" --listen 127.0.0.1:0 --accept-timeout 30s "$@" \
    >"$tmp/recv.out" 2>"$tmp/recv.err" &
  recv_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/recv.err")
    [ -n "$port" ] && return 0
    sleep 0.05
  done
  fail "xmig-recv did not start: $(cat "$tmp/recv.err")"
}

# 1. live migration over TCP, verified, with JSON on both sides
start_recv --json "$tmp/recv.json" --run-after 200ms
"$bin/xmig-send" --mem 64M --dirty hot:8M:50M/s --run-before 200ms --verify \
  --to "127.0.0.1:$port" --json "$tmp/send.json" >"$tmp/send.out" 2>"$tmp/send.err" ||
  fail "xmig-send over TCP: $(cat "$tmp/send.err")"
wait "$recv_pid" || fail "xmig-recv over TCP: $(cat "$tmp/recv.err")"
grep -q '"ok": true' "$tmp/send.json" || fail "send.json not ok"
grep -q '"verified": true' "$tmp/recv.json" || fail "recv.json not verified"
grep -q 'downtime breakdown' "$tmp/send.out" || fail "no downtime breakdown in the summary"
grep -q 'verdict      OK' "$tmp/send.out" || fail "no OK verdict"
grep -q 'guest check  clean' "$tmp/recv.out" || fail "the guest's own check did not pass"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['rounds']>=2 and d['downtime_ms']>0 and len(d['per_round'])==d['rounds']" "$tmp/send.json" ||
  fail "send.json is incomplete"
pass=$((pass+1))

# 2. over a unix socket
"$bin/xmig-recv" --listen "unix:$tmp/sock" --accept-timeout 30s -q >"$tmp/u.out" 2>&1 &
upid=$!
for _ in $(seq 100); do [ -S "$tmp/sock" ] && break; sleep 0.05; done
"$bin/xmig-send" --mem 8M --dirty uniform:10M/s --to "unix:$tmp/sock" -q >"$tmp/q.out" 2>&1 ||
  fail "xmig-send over a unix socket: $(cat "$tmp/q.out")"
wait "$upid" || fail "xmig-recv over a unix socket: $(cat "$tmp/u.out")"
# -q: the verdict alone ("only errors and the verdict")
[ "$(cat "$tmp/q.out")" = "verdict      OK" ] || fail "xmig-send -q printed: $(cat "$tmp/q.out")"
grep -qx 'verdict      OK' "$tmp/u.out" && ! grep -q 'round\|bytes' "$tmp/u.out" ||
  fail "xmig-recv -q printed: $(cat "$tmp/u.out")"
set +e; "$bin/xmig-send" --mem 8M --to "unix:$tmp/nosock" -q >"$tmp/q.out" 2>&1; rc=$?; set -e
[ $rc -eq 1 ] && [ "$(grep -c . "$tmp/q.out")" -eq 1 ] && grep -q 'error:' "$tmp/q.out" ||
  fail "xmig-send -q to nobody: exit $rc: $(cat "$tmp/q.out")"
pass=$((pass+1))

# 3. save to a file, inspect it, restore it
"$bin/xmig-send" --mem 16M --dirty seq:20M/s --verify --to "file:$tmp/img" -q ||
  fail "xmig-send to a file"
"$bin/xmig-dump" "$tmp/img" >"$tmp/dump.out" || fail "xmig-dump: $(tail -1 "$tmp/dump.out")"
grep -q 'HEADER' "$tmp/dump.out" && grep -q 'complete and valid' "$tmp/dump.out" ||
  fail "xmig-dump output"
"$bin/xmig-recv" --from "file:$tmp/img" -q --require-verify || fail "xmig-recv from a file"
pass=$((pass+1))

# 4. a damaged file is refused, with the record and offset named
cp "$tmp/img" "$tmp/bad"
printf '\x55' | dd of="$tmp/bad" bs=1 seek=5000 conv=notrunc status=none
if "$bin/xmig-dump" "$tmp/bad" >/dev/null 2>"$tmp/bad.err"; then fail "xmig-dump accepted a damaged file"; fi
grep -q 'checksum mismatch' "$tmp/bad.err" || fail "damage not reported as a checksum mismatch: $(cat "$tmp/bad.err")"
# --json: what was found, valid or not (schema 1); with -, the JSON alone on stdout
"$bin/xmig-dump" --json - "$tmp/img" >"$tmp/dump.json" 2>"$tmp/dump.err" || fail "xmig-dump --json -"
grep -q 'complete and valid' "$tmp/dump.err" || fail "xmig-dump --json -: no text on stderr"
set +e; "$bin/xmig-dump" --json "$tmp/bad.json" "$tmp/bad" >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 1 ] || fail "xmig-dump --json of a damaged file: exit $rc"
python3 "$(dirname "$0")/json_check.py" "$tmp/dump.json" "$tmp/bad.json" || fail "xmig-dump's JSON"
python3 - "$tmp/dump.json" "$tmp/bad.json" <<'PY' || fail "xmig-dump's JSON: $(cat "$tmp/bad.json")"
import json, sys
good, bad = (json.load(open(p)) for p in sys.argv[1:])
assert good["ok"] and good["end"] and good["digest_record"] and good["header"]["guest_pages"] == 4096
assert good["per_round"][-1]["final"] and good["rounds"] >= 2
assert not bad["ok"] and "checksum mismatch" in bad["error"] and not bad["end"]
PY
if "$bin/xmig-recv" --from "file:$tmp/bad" -q 2>"$tmp/bad2.err"; then fail "xmig-recv restored a damaged file"; fi
grep -q 'record 1 (PAGE_BATCH)' "$tmp/bad2.err" || fail "xmig-recv error lacks context: $(cat "$tmp/bad2.err")"
head -c 3000 "$tmp/img" >"$tmp/short"
if "$bin/xmig-recv" --from "file:$tmp/short" -q 2>/dev/null; then fail "xmig-recv restored a truncated file"; fi
pass=$((pass+1))

# 5. command-line errors: exit 2 with one line; --help exits 0
for args in "--mem 1X --to 127.0.0.1:1" "--to" "--dirty hot:8M --to 127.0.0.1:1" \
            "--policy fastest --to 127.0.0.1:1" "--vcpus 0 --to 127.0.0.1:1" "--bogus"; do
  set +e; "$bin/xmig-send" $args >/dev/null 2>"$tmp/e"; rc=$?; set -e
  [ $rc -eq 2 ] || fail "xmig-send $args: exit $rc, wanted 2"
  [ "$(wc -l <"$tmp/e")" -eq 1 ] || fail "xmig-send $args: $(cat "$tmp/e")"
done
set +e; "$bin/xmig-recv" --listen 127.0.0.1:1 --from file:x >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || fail "xmig-recv with both --listen and --from: exit $rc"
set +e; "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 -q 2>"$tmp/e"; rc=$?; set -e
[ $rc -eq 1 ] || fail "xmig-send to a closed port: exit $rc"
grep -q 'refused' "$tmp/e" || fail "closed port: $(cat "$tmp/e")"
for t in xmig-send xmig-recv xmig-dump xmig-simulate; do
  # whole, then searched: grep -q would close the pipe under a long text
  "$bin/$t" --help >"$tmp/help" && grep -q Usage "$tmp/help" || fail "$t --help"
  "$bin/$t" --version | has -x "$t (xmig) [0-9][0-9.]*" || fail "$t --version"
done
# input that is no stream is named as such
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' > "$tmp/http.txt"
set +e; "$bin/xmig-dump" "$tmp/http.txt" 2>"$tmp/e"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q 'not an xmig stream' "$tmp/e" || fail "xmig-dump of text: $(cat "$tmp/e")"
pass=$((pass+1))

# 6. xmig-simulate: the policies on a model too large for any test machine
"$bin/xmig-simulate" --mem 8G --link 125M/s --rtt 1ms --dirty uniform:50M/s --policy both \
  --json "$tmp/sim.json" >"$tmp/sim.out" || fail "xmig-simulate"
python3 - "$tmp/sim.json" <<'PY' || fail "xmig-simulate results: $(cat "$tmp/sim.out")"
import json, math, sys
d = json.load(open(sys.argv[1]))
r = {x["policy"]: x for x in d["results"]}
xen, dt = r["xen-classic"], r["downtime"]
assert len(xen["per_round"]) == 5 and not xen["converged"] and xen["downtime_ms"] > 50
assert dt["converged"] and dt["downtime_ms"] <= 50
# round 0: every page; what it dirtied follows h(1 - exp(-r t / h))
r0 = dt["per_round"][0]
pages = 8 * 2**30 / 4096
assert r0["pages"] == pages
w = 50 * 2**20 / 4096 * r0["duration_ms"] / 1e3
assert abs(r0["dirtied"] - pages * (1 - math.exp(-w / pages))) < 1
PY
"$bin/xmig-simulate" --mem 1T --link 12G/s --dirty hot:16G:2G/s >/dev/null || fail "1 TiB model"
# schema 1 (docs/json.md), also when aborted; with --json - the JSON alone on stdout
"$bin/xmig-simulate" --mem 1G --max-rounds 3 --dirty uniform:2G/s --on-no-converge abort \
  --policy both --json - >"$tmp/simab.json" 2>"$tmp/simab.err" || fail "xmig-simulate --json -"
python3 "$(dirname "$0")/json_check.py" "$tmp/sim.json" "$tmp/simab.json" || fail "xmig-simulate's JSON"
grep -q "outcome: ABORTED" "$tmp/simab.err" || fail "xmig-simulate --json -: no text on stderr"
# the engine's caps hold in the model too: xen-classic stops at --max-rounds 3
python3 - "$tmp/simab.json" <<'PY' || fail "xmig-simulate ignores --max-rounds: $(cat "$tmp/simab.err")"
import json, sys
r = {x["policy"]: x for x in json.load(open(sys.argv[1]))["results"]}
assert r["xen-classic"]["live_rounds"] == 3 and r["xen-classic"]["aborted"], r["xen-classic"]
assert r["downtime"]["live_rounds"] == 3 and r["downtime"]["aborted"], r["downtime"]
PY
# its default model fits any size (it once required 16 GiB of guest)
"$bin/xmig-simulate" --mem 8G >"$tmp/sim8.out" 2>&1 || fail "xmig-simulate --mem 8G: $(cat "$tmp/sim8.out")"
grep -q "dirty hot:128M:2G/s" "$tmp/sim8.out" || fail "xmig-simulate's default model: $(head -3 "$tmp/sim8.out")"
set +e; "$bin/xmig-simulate" --dirty hot:2T:1G/s --mem 1T >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || fail "a hot set larger than memory: exit $rc"
# rates say their unit: 10Gbit/s = 1250MB/s (powers of 1000) < 1250M/s (MiB)
for l in 10Gbit/s 1250MB/s 1250M/s; do
  "$bin/xmig-simulate" --mem 8G --link $l --json "$tmp/link-${l%%/s}.json" >/dev/null ||
    fail "xmig-simulate --link $l"
done
python3 - "$tmp" <<'PY' || fail "rate units: 10Gbit/s, 1250MB/s and 1250M/s"
import json, sys
t = lambda n: [r["duration_ms"] for r in json.load(open(sys.argv[1] + "/link-%s.json" % n))["results"][0]["per_round"]]
assert t("10Gbit") == t("1250MB"), (t("10Gbit"), t("1250MB"))
assert t("1250M")[0] < t("1250MB")[0] * 0.96, (t("1250M"), t("1250MB"))
PY
# the progress line: time, this round's rate, the policy's expected downtime
"$bin/xmig-send" --mem 64M --dirty hot:8M:50M/s --max-bandwidth 40M/s --to "file:$tmp/prog.img" \
  >/dev/null 2>"$tmp/prog.err" || fail "xmig-send with progress: $(cat "$tmp/prog.err")"
grep -Eq '^xmig-send: [0-9.]+ s, round 0 \(live\): 16384/16384 pages, .* on the wire, [0-9]+ MB/s$' \
  "$tmp/prog.err" || fail "round 0's progress line: $(cat "$tmp/prog.err")"
grep -Eq 'round 1 \(live\): .* MB/s, expected downtime ~[0-9]+ ms$' "$tmp/prog.err" ||
  fail "no expected downtime in the progress: $(cat "$tmp/prog.err")"
set +e; "$bin/xmig-send" --mem 8M --max-bandwidth 10Mb/s --to "file:$tmp/nope" 2>"$tmp/e"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "not a rate" "$tmp/e" || fail "--max-bandwidth 10Mb/s: exit $rc, $(cat "$tmp/e")"
[ ! -e "$tmp/nope" ] || fail "a refused command line wrote its file"
pass=$((pass+1))

# 7. SIGINT and SIGTERM end every wait promptly, with what became of the
#    guest, and exit 128 + the signal (130, 143)
sig_rc() { # SIGNAL AFTER command...: the exit status, the time it took
  local s=$1 after=$2; shift 2
  local t0; t0=$(date +%s%N)
  set +e; timeout --preserve-status -k 10 -s "$s" "$after" "$@" 2>"$tmp/sig.err"; rc=$?; set -e
  took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
sig_rc INT 1 "$bin/xmig-recv" --listen 127.0.0.1:0
[ $rc -eq 130 ] && [ $took_ms -lt 4000 ] || fail "xmig-recv waiting, SIGINT: exit $rc in $took_ms ms"
grep -q 'interrupted (Interrupt) while waiting for a sender: no guest was received' \
  "$tmp/sig.err" || fail "xmig-recv SIGINT: $(cat "$tmp/sig.err")"
sig_rc TERM 1 "$bin/xmig-recv" --listen 127.0.0.1:0
[ $rc -eq 143 ] || fail "xmig-recv waiting, SIGTERM: exit $rc"
sig_rc INT 1 "$bin/xmig-send" --mem 8M --run-before 60s --to 127.0.0.1:9
[ $rc -eq 130 ] && [ $took_ms -lt 4000 ] || fail "xmig-send --run-before, SIGINT: exit $rc in $took_ms ms"
grep -q 'before the migration: nothing was sent' "$tmp/sig.err" ||
  fail "xmig-send SIGINT: $(cat "$tmp/sig.err")"
# during a migration (slowed down): cancelled, the guest stays on the source.
# A small guest on a slow link: its start (which a 256M guest needed more than
# 1.5 s for under ASan on a busy machine) is over long before the signal.
"$bin/xmig-recv" --listen "unix:$tmp/sig.sock" -q >"$tmp/sigr.out" 2>&1 &
rpid=$!
for i in $(seq 50); do [ -S "$tmp/sig.sock" ] && break; sleep 0.1; done
sig_rc INT 1.5 "$bin/xmig-send" --mem 64M --max-bandwidth 8M/s --to "unix:$tmp/sig.sock"
[ $rc -eq 130 ] || fail "xmig-send migrating, SIGINT: exit $rc: $(cat "$tmp/sig.err")"
grep -q 'the migration was cancelled; the guest keeps running on the source' "$tmp/sig.err" ||
  fail "xmig-send migrating, SIGINT: $(cat "$tmp/sig.err")"
set +e; wait $rpid; rrc=$?; set -e
[ $rrc -eq 1 ] || fail "the receiver of a cancelled migration: exit $rrc"
pass=$((pass+1))

# One line on stderr, exit 2, and no guest started (its "started" line would
# be a second line): what a command line refused before anything ran gives.
expect_usage() { # WHAT PATTERN command...
  local what=$1 pat=$2; shift 2
  set +e; "$@" >"$tmp/usage.out" 2>"$tmp/usage.err"; rc=$?; set -e
  [ $rc -eq 2 ] || fail "$what: exit $rc, wanted 2: $(cat "$tmp/usage.err")"
  [ "$(wc -l <"$tmp/usage.err")" -eq 1 ] || fail "$what: more than one line: $(cat "$tmp/usage.err")"
  grep -qF -- "$pat" "$tmp/usage.err" || fail "$what: no '$pat' in: $(cat "$tmp/usage.err")"
}

# 8. streams on stdout, in a pipe, on an inherited descriptor: no message of
#    the tool ever goes into one (--to file:/dev/stdout >f once put the
#    summary into the image and said "verdict OK")
for to in - file:/dev/stdout; do
  "$bin/xmig-send" --mem 8M --dirty uniform:10M/s --to "$to" >"$tmp/out.img" 2>"$tmp/out.err" ||
    fail "xmig-send --to $to >FILE: $(cat "$tmp/out.err")"
  grep -q 'verdict      OK' "$tmp/out.err" || fail "xmig-send --to $to: no summary on stderr"
  "$bin/xmig-dump" "$tmp/out.img" >"$tmp/out.dump" 2>&1 ||
    fail "xmig-send --to $to >FILE made a corrupt image: $(tail -1 "$tmp/out.dump")"
done
"$bin/xmig-send" --mem 16M --dirty seq:20M/s --verify --to - 2>"$tmp/pipe.err" |
  "$bin/xmig-recv" --from - --require-verify >"$tmp/pipe.out" 2>&1 ||
  fail "xmig-send --to - | xmig-recv --from -: $(cat "$tmp/pipe.err" "$tmp/pipe.out")"
grep -q 'guest check  clean' "$tmp/pipe.out" || fail "through a pipe: $(cat "$tmp/pipe.out")"
"$bin/xmig-send" --mem 8M --to fd:3 -q 3>"$tmp/fd.img" || fail "xmig-send --to fd:3"
"$bin/xmig-recv" --from fd:3 -q 3<"$tmp/fd.img" || fail "xmig-recv --from fd:3"
# fd:N of a socket is a live migration (READY, COMMIT, DONE go back on it)
python3 - "$bin" <<'PY' || fail "a live migration over fd:N of a socketpair"
import socket, subprocess, sys
b = sys.argv[1]
a, c = socket.socketpair()
r = subprocess.Popen([b + "/xmig-recv", "--from", "fd:%d" % c.fileno(), "-q"], pass_fds=[c.fileno()])
s = subprocess.run([b + "/xmig-send", "--mem", "8M", "--dirty", "uniform:10M/s",
                    "--to", "fd:%d" % a.fileno()], pass_fds=[a.fileno()],
                   capture_output=True, text=True)
a.close(); c.close()
assert r.wait(timeout=60) == 0 and s.returncode == 0, s.stderr
assert "commit sent" in s.stdout, s.stdout
PY
expect_usage "--to fd:9, not open" "--to 'fd:9': descriptor 9 is not open" \
  "$bin/xmig-send" --mem 8M --to fd:9
expect_usage "--to - --json -" "--json -: the migration stream goes there" \
  "$bin/xmig-send" --mem 8M --to - --json -
set +e; "$bin/xmig-send" --mem 8M --to - >"$tmp/mixed" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q 'redirect stderr elsewhere' "$tmp/mixed" ||
  fail "--to - with stderr on stdout: exit $rc: $(head -c 300 "$tmp/mixed")"
pass=$((pass+1))

# 9. the whole command line is checked before a guest starts: exit 2 naming
#    the option and its value (these once started the guest, then exit 1)
for spec in localhost:99999 127.0.0.1 '[::1]' file: unix: fd:x tcp:host:port; do
  expect_usage "xmig-send --to $spec" "'$spec'" "$bin/xmig-send" --mem 8M --to "$spec"
  grep -qF -- "--to" "$tmp/usage.err" || fail "--to $spec: the option is not named"
done
expect_usage "xmig-send --to a missing directory" "cannot create a file in '$tmp/no/such'" \
  "$bin/xmig-send" --mem 8M --to "file:$tmp/no/such/img"
expect_usage "xmig-recv --from file:" "--from 'file:': empty path" "$bin/xmig-recv" --from file:
expect_usage "xmig-recv --from a missing file" "cannot read '$tmp/nothing'" \
  "$bin/xmig-recv" --from "file:$tmp/nothing"
expect_usage "xmig-recv --listen without a port" "--listen: address '127.0.0.1': missing port" \
  "$bin/xmig-recv" --listen 127.0.0.1 --accept-timeout 1s
# --cleanup (xen leftovers) stands alone, and --dry-run / --resume need it
expect_usage "xmig-send --cleanup --to" "--cleanup takes no other options" \
  "$bin/xmig-send" --cleanup --to 127.0.0.1:1
expect_usage "xmig-recv --cleanup --listen" "--cleanup takes no other options" \
  "$bin/xmig-recv" --cleanup --listen 127.0.0.1:1
expect_usage "xmig-recv --dry-run alone" "--dry-run is for --cleanup" "$bin/xmig-recv" --dry-run
expect_usage "xmig-send --resume alone" "--resume is for --cleanup" "$bin/xmig-send" --resume 5
expect_usage "--cleanup --dry-run --resume" "not with --dry-run" \
  "$bin/xmig-send" --cleanup --dry-run --resume 5
expect_usage "--cleanup --resume 0" "--resume: '0' is not the id of a guest domain" \
  "$bin/xmig-recv" --cleanup --resume 0
# off Xen (this machine): a clear failure, never "no leftovers"
set +e; "$bin/xmig-recv" --cleanup >"$tmp/cl.out" 2>&1; rc=$?; set -e
[ $rc -eq 1 ] && grep -qE "xen backend|Xen control interface" "$tmp/cl.out" ||
  fail "xmig-recv --cleanup off Xen: exit $rc: $(cat "$tmp/cl.out")"
expect_usage "xmig-recv --forward-to out of range" "--forward-to: address '127.0.0.1:70000'" \
  "$bin/xmig-recv" --listen 127.0.0.1:0 --accept-timeout 1s --forward-to 127.0.0.1:70000
pass=$((pass+1))

# 10. a save is complete or absent: written to PATH.partial-XXXXXX, renamed
#     onto PATH once whole, removed when it fails or is interrupted; an
#     existing PATH needs --force
echo precious >"$tmp/keep.img"
expect_usage "xmig-send over an existing file" "use --force to overwrite it" \
  "$bin/xmig-send" --mem 8M --to "file:$tmp/keep.img"
[ "$(cat "$tmp/keep.img")" = precious ] || fail "an existing file was overwritten without --force"
"$bin/xmig-send" --mem 8M --to "file:$tmp/keep.img" --force -q || fail "xmig-send --force"
"$bin/xmig-dump" -s "$tmp/keep.img" >/dev/null || fail "the image saved with --force"
"$bin/xmig-send" --mem 32M --max-bandwidth 16M/s --to "file:$tmp/slow.img" -q &
spid=$!
sleep 0.5
ls "$tmp"/slow.img.partial-?????? >/dev/null 2>&1 && [ ! -e "$tmp/slow.img" ] ||
  fail "a save under way is not under its temporary name: $(ls "$tmp")"
wait $spid || fail "the slow save"
[ -f "$tmp/slow.img" ] && ! ls "$tmp"/*.partial-* >/dev/null 2>&1 ||
  fail "a finished save was not renamed into place: $(ls "$tmp")"
sig_rc INT 1.5 "$bin/xmig-send" --mem 64M --max-bandwidth 8M/s --to "file:$tmp/int.img"
[ $rc -eq 130 ] || fail "an interrupted save: exit $rc: $(cat "$tmp/sig.err")"
grep -q "the incomplete stream was removed: '$tmp/int.img' was not created" "$tmp/sig.err" ||
  fail "an interrupted save: $(cat "$tmp/sig.err")"
echo precious >"$tmp/old.img"
sig_rc TERM 1.5 "$bin/xmig-send" --mem 64M --max-bandwidth 8M/s --force --to "file:$tmp/old.img"
[ $rc -eq 143 ] && [ "$(cat "$tmp/old.img")" = precious ] ||
  fail "an interrupted --force save: exit $rc, the old file: $(head -c 40 "$tmp/old.img")"
# a write that fails (file size limit 1 MiB; SIGXFSZ ignored, so EFBIG)
set +e; (trap '' XFSZ; ulimit -f 1024; exec "$bin/xmig-send" --mem 8M --to "file:$tmp/big.img" -q) \
  2>"$tmp/e"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q 'File too large' "$tmp/e" || fail "a save that cannot be written: exit $rc: $(cat "$tmp/e")"
[ ! -e "$tmp/int.img" ] && [ ! -e "$tmp/big.img" ] && ! ls "$tmp"/*.partial-* >/dev/null 2>&1 ||
  fail "a failed save left a file: $(ls "$tmp")"
# a unix socket left by a receiver that died: named stale, with the hint,
# and left in place (a receiver between bind and listen looks the same);
# a second receiver on a live socket says so and does not disturb the first
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$tmp/stale.sock"
set +e; "$bin/xmig-recv" --listen "unix:$tmp/stale.sock" --accept-timeout 1s 2>"$tmp/e"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "is a stale socket, nobody listens on it" "$tmp/e" &&
  grep -qF "remove it (rm '$tmp/stale.sock')" "$tmp/e" || fail "a stale socket: exit $rc: $(cat "$tmp/e")"
[ -S "$tmp/stale.sock" ] || fail "the stale socket was removed"
"$bin/xmig-recv" --listen "unix:$tmp/live.sock" --accept-timeout 30s -q >"$tmp/live.out" 2>&1 &
lpid=$!
for _ in $(seq 100); do [ -S "$tmp/live.sock" ] && break; sleep 0.05; done
set +e; "$bin/xmig-recv" --listen "unix:$tmp/live.sock" --accept-timeout 1s 2>"$tmp/e"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "another program listens on '$tmp/live.sock'" "$tmp/e" ||
  fail "a socket in use: exit $rc: $(cat "$tmp/e")"
"$bin/xmig-send" --mem 8M --to "unix:$tmp/live.sock" -q || fail "the first receiver was disturbed"
wait $lpid || fail "the first receiver: $(cat "$tmp/live.out")"
pass=$((pass+1))

# 11. TLS: --tls-* on both tools. Mutual X.509 and PSK migrations succeed;
#     a sender whose certificate another CA signed, a wrong PSK and a sender
#     without TLS are refused before any record, and no guest starts on the
#     receiver; TLS options that cannot apply are usage errors (exit 2).
# A receiver refused a sender: it dropped that connection, no guest ever
# arrived, and it waits on (until SIGTERM here: exit 143).
expect_refused() { # WHAT SEND_PATTERN RECV_PATTERN (after a send, with $rc its status)
  local what=$1 spat=$2 rpat=$3 rrc
  [ $rc -eq 1 ] || fail "$what: xmig-send exit $rc, wanted 1: $(cat "$tmp/tls.err")"
  for _ in $(seq 200); do grep -q 'dropped connection 1' "$tmp/recv.err" && break; sleep 0.05; done
  grep -q 'dropped connection 1, not an xmig sender: .*; still listening' "$tmp/recv.err" ||
    fail "$what: xmig-recv did not drop the connection: $(cat "$tmp/recv.err")"
  kill -0 "$recv_pid" 2>/dev/null || fail "$what: xmig-recv stopped listening: $(cat "$tmp/recv.err")"
  kill -TERM "$recv_pid"
  set +e; wait "$recv_pid"; rrc=$?; set -e
  [ $rrc -eq 143 ] || fail "$what: xmig-recv exit $rrc after SIGTERM, wanted 143: $(cat "$tmp/recv.err")"
  grep -qF -- "$spat" "$tmp/tls.err" || fail "$what: no '$spat' from xmig-send: $(cat "$tmp/tls.err")"
  grep -qF -- "$rpat" "$tmp/recv.err" || fail "$what: no '$rpat' from xmig-recv: $(cat "$tmp/recv.err")"
  ! grep -q 'round 0\|verdict\|guest check' "$tmp/recv.out" "$tmp/recv.err" ||
    fail "$what: a guest came to the receiver: $(cat "$tmp/recv.out" "$tmp/recv.err")"
  grep -q 'round 0' "$tmp/tls.err" && fail "$what: the sender sent pages: $(cat "$tmp/tls.err")"
  return 0
}
if [ -z "$make_certs" ]; then
  expect_usage "--tls-ca in a build without TLS" "this xmig was built without TLS (libgnutls28-dev)" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 --tls-ca "$tmp/img"
  expect_usage "--tls-psk-file in a build without TLS" "this xmig was built without TLS" \
    "$bin/xmig-recv" --listen 127.0.0.1:0 --tls-psk-file "$tmp/img"
  echo "SKIP: the TLS migrations: this xmig was built without TLS (libgnutls28-dev)"
else
  pki=$(TMPDIR=$tmp "$make_certs") && [ -f "$pki/ca.pem" ] || fail "tls_make_certs: no certificates"
  srv=(--tls-ca "$pki/ca.pem" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key")
  cli=(--tls-ca "$pki/ca.pem" --tls-cert "$pki/client.pem" --tls-key "$pki/client.key")
  # trusts only ca2, which did not sign the sender's certificate
  srv_ca2=(--tls-ca "$pki/ca2.pem" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key")
  psk=(--tls-psk-identity xmig-lab --tls-psk-file "$pki/psk.hex")
  # mutual X.509, the sender checking the receiver's name
  start_recv --json "$tmp/tls-recv.json" --run-after 100ms "${srv[@]}"
  "$bin/xmig-send" --mem 64M --dirty hot:8M:50M/s --verify --to "127.0.0.1:$port" "${cli[@]}" \
    --tls-peer-name localhost --json "$tmp/tls-send.json" >"$tmp/tls.out" 2>"$tmp/tls.err" ||
    fail "xmig-send over TLS: $(cat "$tmp/tls.err")"
  wait "$recv_pid" || fail "xmig-recv over TLS: $(cat "$tmp/recv.err")"
  grep -q 'verdict      OK' "$tmp/tls.out" || fail "TLS: no OK verdict: $(cat "$tmp/tls.out")"
  grep -q '"ok": true' "$tmp/tls-send.json" && grep -q '"verified": true' "$tmp/tls-recv.json" ||
    fail "TLS: the JSON results are not ok and verified"
  grep -q 'guest check  clean' "$tmp/recv.out" || fail "TLS: the guest's check: $(cat "$tmp/recv.out")"
  # the receiver above did speak TLS: a sender in clear is refused
  start_recv "${srv[@]}"
  set +e; "$bin/xmig-send" --mem 8M --to "127.0.0.1:$port" >/dev/null 2>"$tmp/tls.err"; rc=$?; set -e
  expect_refused "a sender without TLS" "error:" "the client does not speak TLS 1.3"
  # a receiver whose CA did not sign the sender's certificate
  start_recv "${srv_ca2[@]}"
  set +e; "$bin/xmig-send" --mem 64M --to "127.0.0.1:$port" "${cli[@]}" -q >/dev/null \
    2>"$tmp/tls.err"; rc=$?; set -e
  expect_refused "a certificate of another CA" "the server does not trust our certificate" \
    "the client's certificate 'CN=xmig-client' is not signed by the CA in $pki/ca2.pem"
  # the receiver's name is checked: the server's certificate is for localhost
  start_recv "${srv[@]}"
  set +e; "$bin/xmig-send" --mem 8M --to "127.0.0.1:$port" "${cli[@]}" --tls-peer-name dst.test \
    -q >/dev/null 2>"$tmp/tls.err"; rc=$?; set -e
  expect_refused "a receiver of another name" "the server's certificate 'CN=localhost' is not for 'dst.test'" \
    "the client refused our certificate"
  # PSK over a unix socket; then a wrong key
  "$bin/xmig-recv" --listen "unix:$tmp/tls.sock" --accept-timeout 30s "${psk[@]}" \
    >"$tmp/recv.out" 2>"$tmp/recv.err" &
  recv_pid=$!
  for _ in $(seq 100); do [ -S "$tmp/tls.sock" ] && break; sleep 0.05; done
  "$bin/xmig-send" --mem 64M --dirty uniform:10M/s --to "unix:$tmp/tls.sock" "${psk[@]}" \
    >"$tmp/tls.out" 2>"$tmp/tls.err" || fail "xmig-send with a PSK: $(cat "$tmp/tls.err")"
  wait "$recv_pid" || fail "xmig-recv with a PSK: $(cat "$tmp/recv.err")"
  grep -q 'verdict      OK' "$tmp/tls.out" || fail "PSK: no OK verdict: $(cat "$tmp/tls.out")"
  start_recv "${psk[@]}"
  set +e; "$bin/xmig-send" --mem 64M --to "127.0.0.1:$port" --tls-psk-identity xmig-lab \
    --tls-psk-file "$pki/psk2.hex" -q >/dev/null 2>"$tmp/tls.err"; rc=$?; set -e
  expect_refused "a wrong PSK" "the server refused us: the pre-shared keys differ" \
    "the pre-shared keys differ"
  # fd:N of a socket: TLS over the descriptor, the sender as client
  python3 - "$bin" "$pki" <<'PY' || fail "a TLS migration over fd:N of a socketpair"
import socket, subprocess, sys
b, pki = sys.argv[1], sys.argv[2]
psk = ["--tls-psk-identity", "xmig-lab", "--tls-psk-file", pki + "/psk.hex"]
a, c = socket.socketpair()
r = subprocess.Popen([b + "/xmig-recv", "--from", "fd:%d" % c.fileno(), "-q"] + psk,
                     pass_fds=[c.fileno()])
s = subprocess.run([b + "/xmig-send", "--mem", "8M", "--to", "fd:%d" % a.fileno()] + psk,
                   pass_fds=[a.fileno()], capture_output=True, text=True)
a.close(); c.close()
assert r.wait(timeout=60) == 0 and s.returncode == 0, s.stderr
assert "verdict      OK" in s.stdout, s.stdout
PY
  # usage errors, before any guest starts
  expect_usage "TLS on a file" "TLS runs on a network stream" \
    "$bin/xmig-send" --mem 8M --to "file:$tmp/tls.img" "${cli[@]}"
  expect_usage "TLS on stdout" "not on --to '-'" "$bin/xmig-send" --mem 8M --to - "${psk[@]}"
  expect_usage "TLS on fd:N of a file" "TLS runs on a network stream" \
    "$bin/xmig-send" --mem 8M --to fd:3 "${psk[@]}" 3>"$tmp/tls.fd"
  expect_usage "TLS on --from file:" "not on --from 'file:$tmp/img'" \
    "$bin/xmig-recv" --from "file:$tmp/img" "${srv[@]}"
  expect_usage "X.509 and PSK mixed" "not both" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 "${cli[@]}" "${psk[@]}"
  expect_usage "no --tls-key" "--tls-key is missing" \
    "$bin/xmig-recv" --listen 127.0.0.1:0 --tls-ca "$pki/ca.pem" --tls-cert "$pki/server.pem"
  expect_usage "no --tls-ca" "--tls-ca is missing" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 --tls-cert "$pki/client.pem" --tls-key "$pki/client.key"
  expect_usage "PSK without its file" "--tls-psk-file is missing" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 --tls-psk-identity xmig-lab
  expect_usage "an unreadable CA file" "--tls-ca '$tmp/no-ca.pem': cannot read it" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 --tls-ca "$tmp/no-ca.pem" \
    --tls-cert "$pki/client.pem" --tls-key "$pki/client.key"
  expect_usage "an unreadable PSK file" "--tls-psk-file '$tmp/no.hex': cannot read it" \
    "$bin/xmig-recv" --listen 127.0.0.1:0 --tls-psk-identity x --tls-psk-file "$tmp/no.hex"
  expect_usage "--tls-peer-name alone" "TLS needs credentials" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 --tls-peer-name localhost
  expect_usage "--tls-peer-name with PSK" "--tls-peer-name is for X.509" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 --tls-peer-name localhost "${psk[@]}"
  expect_usage "a bad --tls-handshake-timeout" "--tls-handshake-timeout: 'soon'" \
    "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 "${psk[@]}" --tls-handshake-timeout soon
  expect_usage "--forward-to over TLS" "forwarding over TLS is not supported" \
    "$bin/xmig-recv" --listen 127.0.0.1:0 "${srv[@]}" --forward-to 127.0.0.1:1
  for t in xmig-send xmig-recv; do
    "$bin/$t" --help >"$tmp/help" && grep -q -- '--tls-psk-file' "$tmp/help" ||
      fail "$t --help lacks the TLS options"
  done
fi
pass=$((pass+1))

# 12. a waiting receiver drops what is not an xmig sender (an HTTP request,
#     a connection closed at once, zeros), says so, and receives the sender
#     that comes next, within the one --accept-timeout.
start_recv --json "$tmp/stray.json"
python3 - "$port" <<'PY' || fail "the stray connections could not be made"
import socket, sys, time
port = int(sys.argv[1])
for data in (b"GET / HTTP/1.0\r\n\r\n", b"", b"\0" * 65536):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
    except OSError:
        pass
    s.close()
    time.sleep(0.2)
PY
"$bin/xmig-send" --mem 16M --verify --to "127.0.0.1:$port" -q >"$tmp/stray.out" 2>"$tmp/stray.err" ||
  fail "the sender after the strays: $(cat "$tmp/stray.err")"
wait "$recv_pid" || fail "xmig-recv after stray connections: $(cat "$tmp/recv.err")"
for n in 1 2 3; do
  grep -q "dropped connection $n, not an xmig sender" "$tmp/recv.err" ||
    fail "stray connection $n not dropped and counted: $(cat "$tmp/recv.err")"
done
grep -q 'dropped connection 4' "$tmp/recv.err" && fail "the real sender was dropped too"
grep -q 'it starts with "GET / HTTP/1.0' "$tmp/recv.err" ||
  fail "the HTTP request is not named: $(cat "$tmp/recv.err")"
grep -q '"verified": true' "$tmp/stray.json" || fail "stray: the migration after them is not verified"
# the wait has its deadline whatever came: strays do not extend it
start_recv_t() { : > "$tmp/recv.err"; "$bin/xmig-recv" --listen 127.0.0.1:0 --accept-timeout "$1" >"$tmp/recv.out" 2>"$tmp/recv.err" & recv_pid=$!; }
start_recv_t 1500ms
for _ in $(seq 100); do port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/recv.err"); [ -n "$port" ] && break; sleep 0.05; done
python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1]))); s.sendall(b'x'*32); s.close()" "$port"
set +e; wait "$recv_pid"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q 'no sender connected within 1500 ms (--accept-timeout) (every connection so far was dropped)' "$tmp/recv.err" ||
  fail "the deadline after a stray: exit $rc: $(cat "$tmp/recv.err")"
pass=$((pass+1))

# 13. JSON (docs/json.md, schema 1): every result above conforms, on success
#     and on failure; a failure before any session writes its JSON too;
#     --json - puts the JSON alone on stdout, the text on stderr.
check_json="python3 $(dirname "$0")/json_check.py"
$check_json "$tmp/send.json" "$tmp/recv.json" "$tmp/stray.json" || fail "JSON of sections 1 and 12"
[ -f "$tmp/tls-send.json" ] && { $check_json "$tmp/tls-send.json" "$tmp/tls-recv.json" || fail "TLS JSON"; }
set +e; "$bin/xmig-send" --mem 8M --to 127.0.0.1:1 --json "$tmp/refused.json" 2>/dev/null; rc=$?; set -e
[ $rc -eq 1 ] && $check_json "$tmp/refused.json" || fail "no valid JSON from a refused connection"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert not d['ok'] and 'refused' in d['error'] and d['guest_pages'] is None and d['downtime_ms'] is None, d" "$tmp/refused.json" ||
  fail "the refused connection's JSON: $(cat "$tmp/refused.json")"
set +e; "$bin/xmig-recv" --listen 127.0.0.1:0 --accept-timeout 300ms --json "$tmp/nobody.json" 2>/dev/null; rc=$?; set -e
[ $rc -eq 1 ] && $check_json "$tmp/nobody.json" && grep -q '"error_code": "XMIG_ETIMEDOUT"' "$tmp/nobody.json" ||
  fail "no valid JSON from a receiver nobody reached: $(cat "$tmp/nobody.json" 2>/dev/null)"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['verified'] is None, d" "$tmp/nobody.json" ||
  fail "a receiver that compared nothing says verified $(grep verified "$tmp/nobody.json")"
start_recv --json "$tmp/j-recv.json"
"$bin/xmig-send" --mem 16M --verify --to "127.0.0.1:$port" --json - >"$tmp/j-send.json" 2>"$tmp/j.err" ||
  fail "--json -: $(cat "$tmp/j.err")"
wait "$recv_pid" || fail "xmig-recv for --json -: $(cat "$tmp/recv.err")"
$check_json "$tmp/j-send.json" "$tmp/j-recv.json" || fail "--json - is not JSON alone: $(head -c 300 "$tmp/j-send.json")"
grep -q 'verdict      OK' "$tmp/j.err" || fail "--json -: the text did not go to stderr"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); r=json.load(open(sys.argv[2])); assert s['verified'] is True and r['verified'] is True and r['policy'] is None and r['downtime_ms'] is None and s['downtime_ms'] > 0, (s, r)" "$tmp/j-send.json" "$tmp/j-recv.json" ||
  fail "--verify: both sides' JSON say verified; the receiver's unknowns are null"
pass=$((pass+1))

# 14. the ambiguous window (COMMIT out, its answer lost) is resolved by an
#     outcome query: a relay loses COMMIT, then DONE, and closes both ends.
#     The sender asks the receiver, which kept the outcome (--linger), and
#     resumes its copy (COMMIT lost: exit 1, nothing started there) or
#     destroys it (DONE lost: exit 0, the guest runs on the destination);
#     with nobody left to ask it exits 4 and says what cannot be known.
relay() { # MODE: relays to $port; sets relay_pid and rport
  rm -f "$tmp/relay.port"
  python3 "$(dirname "$0")/relay_cut.py" "$1" "$tmp/relay.port" "$port" >"$tmp/relay.out" 2>&1 &
  relay_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/relay.port" ] && break; sleep 0.05; done
  rport=$(cat "$tmp/relay.port") || fail "the relay did not start: $(cat "$tmp/relay.out")"
}
ambiguous_run() { # expected sender and receiver exit; sender options
  local want_s=$1 want_r=$2; shift 2
  set +e
  "$bin/xmig-send" --mem 8M --to "127.0.0.1:$rport" "$@" >"$tmp/a.out" 2>"$tmp/a.err"; rc=$?
  wait "$recv_pid"; rrc=$?
  set -e
  kill "$relay_pid" 2>/dev/null || true
  wait "$relay_pid" 2>/dev/null || true
  [ "$rc" -eq "$want_s" ] && [ "$rrc" -eq "$want_r" ] ||
    fail "ambiguous window: sender exit $rc (want $want_s), receiver exit $rrc (want $want_r): $(cat "$tmp/a.err" "$tmp/recv.err")"
}
start_recv --linger 20s
relay commit
ambiguous_run 1 1
grep -q 'cut COMMIT' "$tmp/relay.out" || fail "the relay did not cut COMMIT: $(cat "$tmp/relay.out")"
grep -q 'runs here again' "$tmp/a.err" || fail "COMMIT lost: $(cat "$tmp/a.err")"
grep -q 'was told that the guest was not started here' "$tmp/recv.err" ||
  fail "COMMIT lost, receiver: $(cat "$tmp/recv.err")"
start_recv --linger 20s --run-after 100ms
relay done
ambiguous_run 0 0 --json "$tmp/amb.json"
$check_json "$tmp/amb.json" && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['ok'] and d['outcome_by_query'] is True and d['downtime_ms'] is None, d" "$tmp/amb.json" ||
  fail "DONE lost: the JSON does not say the outcome came by query: $(cat "$tmp/amb.json")"
grep -q 'cut DONE' "$tmp/relay.out" || fail "the relay did not cut DONE: $(cat "$tmp/relay.out")"
grep -q 'answers that it started the guest' "$tmp/a.err" || fail "DONE lost: $(cat "$tmp/a.err")"
grep -q 'verdict      OK' "$tmp/a.out" || fail "DONE lost: no OK verdict: $(cat "$tmp/a.out")"
grep -q 'was told that the guest runs here' "$tmp/recv.err" && grep -q 'guest check  clean' "$tmp/recv.out" ||
  fail "DONE lost, receiver: $(cat "$tmp/recv.err" "$tmp/recv.out")"
start_recv --linger 0
relay done
ambiguous_run 4 0 --resolve-timeout 2s
grep -q 'cannot be known from here' "$tmp/a.err" && grep -q 'check the destination' "$tmp/a.err" ||
  fail "nobody to ask: $(cat "$tmp/a.err")"
if grep -q 'most likely' "$tmp/a.err"; then fail "the sender still guesses: $(cat "$tmp/a.err")"; fi
pass=$((pass+1))

# 15. --ssh HOST, as xl migrate does: the receiver runs "there" (a stand-in
#     for ssh that runs the command here) on the connection's stdin/stdout
cat >"$tmp/fake-ssh" <<'SH'
#!/bin/sh
# HOST is ignored; the command runs here through sh, as sshd runs it there
shift
PATH="$XMIG_TOOLS:$PATH" exec sh -c "$*"
SH
chmod +x "$tmp/fake-ssh"
XMIG_TOOLS=$bin "$bin/xmig-send" --mem 32M --dirty hot:4M:20M/s --verify --ssh backup-host \
  --ssh-command "$tmp/fake-ssh" --json "$tmp/ssh.json" >"$tmp/ssh.out" 2>"$tmp/ssh.err" ||
  fail "xmig-send --ssh: $(cat "$tmp/ssh.err")"
grep -q 'verdict      OK' "$tmp/ssh.out" && grep -q 'guest check  clean' "$tmp/ssh.err" ||
  fail "xmig-send --ssh: no verified migration: $(cat "$tmp/ssh.out" "$tmp/ssh.err")"
python3 "$(dirname "$0")/json_check.py" "$tmp/ssh.json" || fail "--ssh JSON"
grep -q '"transport": "ssh:backup-host"' "$tmp/ssh.json" || fail "--ssh JSON transport: $(cat "$tmp/ssh.json")"
# a remote end that cannot run: the migration fails and says why
set +e
XMIG_TOOLS=$bin "$bin/xmig-send" --mem 8M --ssh h --ssh-command "$tmp/fake-ssh" \
  --remote "no-such-receiver --from stdio" -q 2>"$tmp/ssh2.err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q 'exited with status 127 (the command was not found)' "$tmp/ssh2.err" ||
  fail "--ssh, no receiver there: exit $rc, $(cat "$tmp/ssh2.err")"
for bad in "--ssh -oProxyCommand=x" "--ssh h --to 127.0.0.1:1" "--remote x --to 127.0.0.1:1"; do
  set +e; "$bin/xmig-send" --mem 8M $bad 2>/dev/null; rc=$?; set -e
  [ $rc -eq 2 ] || fail "xmig-send --mem 8M $bad: exit $rc, not 2"
done
# the far end alone, nobody sending: a precise failure, the text on stderr only
set +e; "$bin/xmig-recv" --from stdio </dev/null 2>"$tmp/e" >"$tmp/o"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q 'receiving the header' "$tmp/e" && ! grep -q verdict "$tmp/o" ||
  fail "xmig-recv --from stdio without a sender: exit $rc, $(cat "$tmp/e")"
pass=$((pass+1))

# 16. --paused (xl migrate -p): the commit leaves the guest paused here and the
#     source gone; it starts on SIGUSR1, and not before
start_recv --paused --run-after 200ms --json "$tmp/p.json"
"$bin/xmig-send" --mem 16M --dirty uniform:10M/s --verify --to "127.0.0.1:$port" \
  --json "$tmp/ps.json" >"$tmp/ps.out" 2>&1 || fail "xmig-send to a --paused receiver: $(cat "$tmp/ps.out")"
grep -q '"ok": true' "$tmp/ps.json" || fail "--paused: the sender did not succeed"
for _ in $(seq 100); do grep -q 'kill -USR1' "$tmp/recv.err" && break; sleep 0.05; done
grep -q "committed here and paused (--paused; its source is gone): kill -USR1 $recv_pid starts it" \
  "$tmp/recv.err" || fail "--paused: no word on how to start it: $(cat "$tmp/recv.err")"
sleep 0.5
kill -0 "$recv_pid" 2>/dev/null || fail "--paused: the receiver did not wait for SIGUSR1"
grep -q 'guest check' "$tmp/recv.out" && fail "--paused: the guest ran before SIGUSR1"
kill -USR1 "$recv_pid"
wait "$recv_pid" || fail "--paused: after SIGUSR1: $(cat "$tmp/recv.err")"
grep -q 'started the guest (SIGUSR1)' "$tmp/recv.err" && grep -q 'guest check  clean' "$tmp/recv.out" ||
  fail "--paused: $(cat "$tmp/recv.err" "$tmp/recv.out")"
python3 "$(dirname "$0")/json_check.py" "$tmp/p.json" || fail "--paused JSON"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['ok'] and d['verified'] and d['timeline_ms']['dest_running'] > d['timeline_ms']['commit_sent'] + 400, d['timeline_ms']" "$tmp/p.json" ||
  fail "--paused: the guest started before the signal: $(cat "$tmp/p.json")"
expect_usage "--paused with --forward-to" "not with --forward-to" "$bin/xmig-recv" --listen 127.0.0.1:0 --paused --forward-to 127.0.0.1:1
pass=$((pass+1))

# 17. --keep-listening: one migration after another on the same address, a
#     stray connection between them dropped, a failed one counted; one JSON
#     line each; SIGTERM while waiting ends it with status 0 (1 after a failure)
rm -f "$tmp/kl.json"
start_recv --keep-listening --json "$tmp/kl.json" --run-after 100ms
for i in 1 2; do
  "$bin/xmig-send" --mem 8M --dirty uniform:10M/s --verify --to "127.0.0.1:$port" -q >"$tmp/k.out" 2>&1 ||
    fail "--keep-listening: migration $i: $(cat "$tmp/k.out")"
done
printf 'GET / HTTP/1.0\r\n\r\n' | python3 -c "
import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read()); s.close()" "$port"
"$bin/xmig-send" --mem 8M --to "127.0.0.1:$port" -q >"$tmp/k.out" 2>&1 ||
  fail "--keep-listening: after a stray connection: $(cat "$tmp/k.out")"
for _ in $(seq 100); do grep -q '3 migrations received' "$tmp/recv.err" && break; sleep 0.05; done
kill -0 "$recv_pid" 2>/dev/null || fail "--keep-listening: it stopped: $(cat "$tmp/recv.err")"
kill -TERM "$recv_pid"
set +e; wait "$recv_pid"; rc=$?; set -e
[ $rc -eq 0 ] && grep -q 'stopped listening: 3 migrations received, 0 failed' "$tmp/recv.err" &&
  grep -q 'dropped connection 1, not an xmig sender' "$tmp/recv.err" ||
  fail "--keep-listening: exit $rc: $(cat "$tmp/recv.err")"
[ "$(grep -c . "$tmp/kl.json")" -eq 3 ] || fail "--keep-listening: $(grep -c . "$tmp/kl.json") JSON lines, not 3"
python3 "$(dirname "$0")/json_check.py" "$tmp/kl.json" || fail "--keep-listening JSON lines"
# a failed migration is counted, the receiver goes on, and its status says so
start_recv --keep-listening --max-mem 4M
set +e; "$bin/xmig-send" --mem 8M --to "127.0.0.1:$port" -q >"$tmp/k.out" 2>&1; rc=$?; set -e
[ $rc -eq 1 ] || fail "--keep-listening: a guest too large was not refused: exit $rc"
"$bin/xmig-send" --mem 2M --to "127.0.0.1:$port" -q >"$tmp/k.out" 2>&1 ||
  fail "--keep-listening: after a failure: $(cat "$tmp/k.out")"
for _ in $(seq 100); do grep -q '1 migrations received, 1 failed' "$tmp/recv.err" && break; sleep 0.05; done
kill -TERM "$recv_pid"
set +e; wait "$recv_pid"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q 'stopped listening: 1 migrations received, 1 failed' "$tmp/recv.err" ||
  fail "--keep-listening after a failure: exit $rc: $(cat "$tmp/recv.err")"
expect_usage "--keep-listening with --from" "needs --listen" "$bin/xmig-recv" --from file:/nonexistent --keep-listening
pass=$((pass+1))

# 18. the xl helper's settings (docs/xl-helper.md): a bad value in the file or
# the environment fails the restore with a message naming it, before Xen is
# touched; a good one passes on to the Xen part (which this machine may lack)
if [ -x "$bin/xmig-xl-helper" ]; then
  xlh() { "$bin/xmig-xl-helper" --restore-domain 0 -1 1 1 0 1 0 768 0 </dev/null | tr -c '[:print:]' '\n'; }
  printf '# a comment\nmin_rate = 1x\n' >"$tmp/xlh.conf"
  XMIG_XL_HELPER_CONF=$tmp/xlh.conf xlh | has "xlh.conf:2: bad setting 'min_rate = 1x'" ||
    fail "xl helper: a bad min_rate in the file: $(XMIG_XL_HELPER_CONF=$tmp/xlh.conf xlh)"
  XMIG_XL_HELPER_CONF=/dev/null XMIG_XL_MIN_RATE=fast xlh | has "bad XMIG_XL_MIN_RATE='fast'" ||
    fail "xl helper: a bad XMIG_XL_MIN_RATE was not named"
  printf 'min_rate = 64K\ntimeout_ms = 60000\n' >"$tmp/xlh.conf"
  out=$(XMIG_XL_HELPER_CONF=$tmp/xlh.conf XMIG_XL_MIN_RATE=0 xlh)
  ! echo "$out" | has "bad" || fail "xl helper: good settings refused: $out"
  echo "$out" | has "xen" || fail "xl helper: good settings, then no word of Xen: $out"
  pass=$((pass+1))
else
  echo "tools.sh: no xmig-xl-helper in this build (no Xen headers): its settings not checked"
fi

echo "$pass passed, 0 failed"

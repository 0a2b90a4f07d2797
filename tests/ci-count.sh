#!/usr/bin/env bash
# The CI's closing line is counted, not written: feed .ci/count the results
# of a dummy ctest project with one passing, one failing and one skipping
# (exit 77) test, a bench summary with a failed migration and a skipped
# part, and lab verdicts (scenarios, and a lab that did not boot), and check
# every count and the exit status. The dummy suites live only here.
# Usage: tests/ci-count.sh   (needs cmake, ctest and python3)
set -euo pipefail
# grep that reads all its input: `... | grep -q` ends at the first match, and
# under pipefail the writer's SIGPIPE then fails the test now and then
has() { grep "$@" > /dev/null; }
here=$(cd "$(dirname "$0")" && pwd)
count=$here/../.ci/count
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$tmp/proj"
cat > "$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(dummy NONE)
enable_testing()
add_test(NAME good COMMAND sh -c "echo fine")
add_test(NAME broken COMMAND sh -c "echo broken; exit 1")
add_test(NAME cannot COMMAND sh -c "echo 'SKIP cannot: no such device here'; exit 77")
set_tests_properties(cannot PROPERTIES SKIP_RETURN_CODE 77)
CM
cmake -S "$tmp/proj" -B "$tmp/build" >/dev/null
(cd "$tmp/build" && ctest --output-junit "$tmp/build/ctest-junit.xml" >/dev/null 2>&1) || true

# 1. ctest alone: 1 passed, 1 failed, 1 skipped, with the skip's reason
out=$(python3 "$count" --junit "$tmp/build/ctest-junit.xml") && fail "exit 0 with a failure"
echo "$out"
echo "$out" | tail -1 | has -x "1 passed, 1 failed, 1 skipped" || fail "ctest counts"
echo "$out" | has "SKIPPED build: cannot -- SKIP cannot: no such device here" ||
  fail "the skip's reason is not shown"
echo "$out" | has "FAILED  build: broken" || fail "the failure is not named"

# 2. bench and lab results add their own counts
cat > "$tmp/summary.json" <<'J'
{"groups": [{"files": ["sim-1.json", "sim-2.json"]}, {"files": ["kvm-1.json"]}],
 "failures": [{"id": "kvm-1", "error": "digest mismatch"}],
 "skipped": [{"backend": "qemu", "why": "QEMU 10 not fetched"}]}
J
cat > "$tmp/lab.json" <<'J'
{"tier": "xen quick", "status": "ok",
 "scenarios": [{"name": "m1", "status": "pass"}, {"name": "fail", "status": "pass"},
               {"name": "linux", "status": "fail", "why": "no heartbeat"}]}
J
echo '{"tier": "xen pv", "status": "unavailable", "why": "no dom0 after 240 s"}' > "$tmp/pv.json"
out=$(python3 "$count" --bench "$tmp/summary.json" --lab "$tmp/lab.json" --lab "$tmp/pv.json") &&
  fail "exit 0 with failures"
echo "$out"
echo "$out" | tail -1 | has -x "4 passed, 2 failed, 2 skipped" || fail "bench + lab counts"
echo "$out" | has "SKIPPED xen pv -- LAB UNAVAILABLE: no dom0 after 240 s" ||
  fail "an unavailable lab is not shown as skipped"
echo "$out" | has "FAILED  bench: kvm-1 -- digest mismatch" || fail "bench failure"

# 3. all passing: exit 0; nothing at all, or a tier that left no file: exit 1
echo '{"tier": "t", "status": "ok", "scenarios": [{"name": "a", "status": "pass"}]}' > "$tmp/ok.json"
python3 "$count" --lab "$tmp/ok.json" | tail -1 | has -x "1 passed, 0 failed, 0 skipped" ||
  fail "a clean run"
python3 "$count" --lab "$tmp/ok.json" >/dev/null || fail "a clean run exits non-zero"
python3 "$count" >/dev/null && fail "a run where nothing passed exits 0"
out=$(python3 "$count" --lab "$tmp/ok.json" --lab "$tmp/none.json" --missing "bench:crashed") &&
  fail "a missing result file exits 0"
echo "$out" | tail -1 | has -x "1 passed, 2 failed, 0 skipped" || fail "missing results"
echo "ci-count: all checks passed"

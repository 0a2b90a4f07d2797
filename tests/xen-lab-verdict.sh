#!/usr/bin/env bash
# The Xen lab's verdict (tests/xen-lab/summarize.py --verdict), which CI
# counts, judged on made-up result directories: it must fail a "fail"
# scenario whose source stayed paused, a migration with no heartbeat from
# its new domain, a --verify migration that did not verify, a planned
# scenario that never ran; count a failed `xl migrate` as skipped (the
# reference's failure); and pass a clean run.
# Usage: tests/xen-lab-verdict.sh   (needs python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]));
print([s['status'] for s in d['scenarios'] if s['name']==sys.argv[2]][0])" "$1/verdict.json" "$2"; }

mkrun() { # DIR: a clean quick-tier run
  local d=$1
  mkdir -p "$d"
  printf 'm1\nfail\nrep1\n' > "$d/plan.txt"
  echo 'xmig xen lab: 6.1, xen_version : 4.17.7' > "$d/summary.txt"
  echo '{"rc":0,"src_domid":1,"dst_domid":2,"verified":1}' > "$d/m1.json"
  echo '--verify --name xg' > "$d/m1.args"
  echo '{"rc":-12,"src_domid":2,"dst_domid":0,"verified":0}' > "$d/fail.json"
  echo '--fail-load' > "$d/fail.args"
  echo 'source_state=-b----' > "$d/fail.after"
  echo '{"rc":0,"src_domid":2,"dst_domid":3,"verified":1}' > "$d/rep1.json"
  echo '--verify --name xg' > "$d/rep1.args"
  cat > "$d/dmesg.txt" <<'D'
(d1) [   10.0] XG HB 1
(d1) [   10.1] XG HB 2
(d2) [   11.0] XG HB 3
=== fail t=20 dom=2
(d2) [   20.5] XG HB 50
=== fail done rc=1 t=21
(d2) [   21.5] XG HB 60
(d2) [   21.6] XG HB 61
(d3) [   30.0] XG HB 70
D
}

mkrun "$tmp/good"
python3 "$here/xen-lab/summarize.py" "$tmp/good" --verdict "t" >/dev/null || fail "a clean run fails"
for s in m1 fail rep1; do [ "$(status "$tmp/good" $s)" = pass ] || fail "clean $s"; done

mkrun "$tmp/bad"
echo 'source_state=--p---' > "$tmp/bad/fail.after"           # the source stayed paused
sed -i '/(d3)/d' "$tmp/bad/dmesg.txt"                         # rep1's new domain never ran
echo '{"rc":0,"src_domid":1,"dst_domid":2,"verified":0}' > "$tmp/bad/m1.json"  # not verified
echo rep2 >> "$tmp/bad/plan.txt"                              # planned, never ran
echo '{"rc":1,"src_domid":5,"dst_domid":0}' > "$tmp/bad/bench-xl-r1.json"
echo '{"system":"xl","guest":"xg","mem":"64M","workload":"w","rep":1,"wall_ms":1}' > "$tmp/bad/bench-xl-r1.meta"
python3 "$here/xen-lab/summarize.py" "$tmp/bad" --verdict "t" > "$tmp/bad.out" &&
  fail "a bad run passes"
[ "$(status "$tmp/bad" fail)" = fail ] || fail "a paused source passes"
[ "$(status "$tmp/bad" rep1)" = fail ] || fail "no heartbeat from the new domain passes"
[ "$(status "$tmp/bad" m1)" = fail ] || fail "an unverified --verify migration passes"
[ "$(status "$tmp/bad" rep2)" = fail ] || fail "a scenario that never ran passes"
[ "$(status "$tmp/bad" bench-xl-r1)" = skip ] || fail "a failed xl migrate is not a skip"
grep -q "never ran" "$tmp/bad.out" || fail "the reason is not printed"

# a failed migration whose source printed nothing afterwards
mkrun "$tmp/silent"
sed -i '/=== fail done/,$ { /(d2)/d }' "$tmp/silent/dmesg.txt"
python3 "$here/xen-lab/summarize.py" "$tmp/silent" --verdict "t" >/dev/null && fail "silent source"
[ "$(status "$tmp/silent" fail)" = fail ] || fail "a silent source passes"
# a run cut short while a step was running
mkrun "$tmp/cut"
python3 "$here/xen-lab/summarize.py" "$tmp/cut" --verdict "t" --cut-short "step rep2 overran" \
  >/dev/null && fail "a cut-short run passes"
echo "xen-lab-verdict: all checks passed"

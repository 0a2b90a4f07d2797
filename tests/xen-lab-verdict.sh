#!/usr/bin/env bash
# The Xen lab's verdict (tests/xen-lab/summarize.py --verdict), which CI
# counts, judged on made-up result directories: it must fail a "fail"
# scenario whose source stayed paused, a fault scenario whose fault never
# fired or whose outcome is not the one expected, a migration with no heartbeat from
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
  printf 'm1\nfail\nsuspend-noack\nfault-map-eio\nfault-clean-short\nfault-map-enoent\nfault-destroy-src\nrep1\n' \
    > "$d/plan.txt"
  echo 'xmig xen lab: 6.1, xen_version : 4.17.7' > "$d/summary.txt"
  echo '{"rc":0,"src_domid":1,"dst_domid":2,"verified":1}' > "$d/m1.json"
  echo '--verify --name xg' > "$d/m1.args"
  echo '{"rc":-12,"src_domid":2,"dst_domid":0,"verified":0,"error":"state: the receiver failed: no"}' \
    > "$d/fail.json"
  echo '--fail-load' > "$d/fail.args"
  echo 'source_state=-b----' > "$d/fail.after"
  echo '{"rc":-10,"src_domid":2,"dst_domid":0,"error":"xen: d2 did not take the suspend request within 1000 ms (request withdrawn; the guest keeps running)"}' \
    > "$d/suspend-noack.json"
  echo 'source_state=-b----' > "$d/suspend-noack.after"
  echo '{"rc":-8,"src_domid":2,"dst_domid":0,"fault":"map-eio","fault_hits":1,"error":"map_pages: xen: d2: cannot read gfn 0x10 (Input/output error), which Xen says belongs to the guest: stopping rather than send it as a hole"}' \
    > "$d/fault-map-eio.json"
  echo 'source_state=-b----' > "$d/fault-map-eio.after"
  echo '{"rc":-8,"src_domid":2,"dst_domid":0,"fault":"clean-short","fault_hits":1,"error":"xen: d2: log-dirty CLEAN (final) covered 9 of 10 frames: the dirty state of the others is unknown"}' \
    > "$d/fault-clean-short.json"
  echo 'source_state=-b----' > "$d/fault-clean-short.after"
  echo '{"rc":0,"src_domid":2,"dst_domid":3,"verified":1,"fault":"map-enoent","fault_hits":1}' \
    > "$d/fault-map-enoent.json"
  echo '--fault map-enoent --verify --name xg' > "$d/fault-map-enoent.args"
  echo '{"rc":-17,"src_domid":3,"dst_domid":4,"verified":1,"fault":"destroy-src","fault_hits":1,"src_retry_rc":0}' \
    > "$d/fault-destroy-src.json"
  echo '--fault destroy-src --verify --name xg' > "$d/fault-destroy-src.args"
  : > "$d/fault-destroy-src.after"
  echo '{"rc":0,"src_domid":4,"dst_domid":5,"verified":1}' > "$d/rep1.json"
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
=== suspend-noack done rc=1 t=21.7
(d2) [   21.8] XG HB 61
=== fault-map-eio done rc=1 t=22
(d2) [   22.5] XG HB 62
=== fault-clean-short done rc=1 t=23
(d2) [   23.5] XG HB 63
(d3) [   25.0] XG HB 64
(d4) [   27.0] XG HB 65
(d5) [   30.0] XG HB 70
D
}

mkrun "$tmp/good"
python3 "$here/xen-lab/summarize.py" "$tmp/good" --verdict "t" >/dev/null || fail "a clean run fails"
for s in m1 fail suspend-noack fault-map-eio fault-clean-short fault-map-enoent fault-destroy-src rep1; do
  [ "$(status "$tmp/good" $s)" = pass ] || fail "clean $s"
done

mkrun "$tmp/bad"
echo 'source_state=--p---' > "$tmp/bad/fail.after"           # the source stayed paused
sed -i '/(d5)/d' "$tmp/bad/dmesg.txt"                         # rep1's new domain never ran
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

# the fault scenarios: a fault that never fired tested nothing; a fault
# that let the migration end "OK" after a lost frame; a source destroy that
# never succeeded; a source that stayed stopped after a refused CLEAN
mkrun "$tmp/faults"
sed -i 's/"fault_hits":1/"fault_hits":0/' "$tmp/faults/fault-map-enoent.json"
sed -i 's/"rc":-8/"rc":0/' "$tmp/faults/fault-map-eio.json"
sed -i 's/"src_retry_rc":0/"src_retry_rc":-8/' "$tmp/faults/fault-destroy-src.json"
echo 'source_state=--ps--' > "$tmp/faults/fault-clean-short.after"
echo 'source_state=---s--' > "$tmp/faults/suspend-noack.after"   # left suspended
python3 "$here/xen-lab/summarize.py" "$tmp/faults" --verdict "t" > "$tmp/faults.out" &&
  fail "bad fault scenarios pass"
for s in fault-map-enoent fault-map-eio fault-destroy-src fault-clean-short suspend-noack; do
  [ "$(status "$tmp/faults" $s)" = fail ] || fail "a bad $s passes"
done
grep -q "never fired" "$tmp/faults.out" || fail "an unfired fault is not named"
mkrun "$tmp/left"
echo 'source_state=-b----' > "$tmp/left/fault-destroy-src.after"
python3 "$here/xen-lab/summarize.py" "$tmp/left" --verdict "t" >/dev/null && fail "source left"
[ "$(status "$tmp/left" fault-destroy-src)" = fail ] || fail "a source left behind passes"

# the connection cut after COMMIT: settled by an outcome query, the guest
# on exactly one side; not settled, or the source left behind, fails
mkasked() { # DIR
  mkrun "$1"
  printf 'fault-commit-lost\nfault-done-lost\n' >> "$1/plan.txt"
  echo '{"rc":-12,"src_domid":5,"dst_domid":0,"fault":"commit-lost","fault_hits":1,"domains_before":2,"domains_after":2,"ambiguous":1,"unsettled":1,"outcome":2,"answered":1,"resolved":1,"error":"the receiver never started the guest (COMMIT did not reach it, or the guest could not start there) and destroyed its copy; the guest runs here again"}' \
    > "$1/fault-commit-lost.json"
  echo '--fault commit-lost' > "$1/fault-commit-lost.args"
  echo 'source_state=-b----' > "$1/fault-commit-lost.after"
  echo '{"rc":0,"src_domid":5,"dst_domid":6,"verified":1,"fault":"done-lost","fault_hits":1,"domains_before":2,"domains_after":2,"ambiguous":1,"unsettled":1,"outcome":1,"answered":1,"resolved":1}' \
    > "$1/fault-done-lost.json"
  echo '--fault done-lost --verify --name xg' > "$1/fault-done-lost.args"
  : > "$1/fault-done-lost.after"
  printf '=== fault-commit-lost t=31 dom=5\n=== fault-commit-lost done rc=1 t=32\n(d5) [   32.5] XG HB 75\n(d6) [   35.0] XG HB 80\n' \
    >> "$1/dmesg.txt"
}
mkasked "$tmp/asked"
python3 "$here/xen-lab/summarize.py" "$tmp/asked" --verdict "t" > "$tmp/asked.out" ||
  fail "good outcome-query scenarios fail: $(cat "$tmp/asked.out")"
for s in fault-commit-lost fault-done-lost; do
  [ "$(status "$tmp/asked" $s)" = pass ] || fail "clean $s"
done
mkasked "$tmp/asked-bad"
sed -i 's/"answered":1/"answered":-100/' "$tmp/asked-bad/fault-commit-lost.json"
echo 'source_state=--p---' > "$tmp/asked-bad/fault-done-lost.after"   # running twice
python3 "$here/xen-lab/summarize.py" "$tmp/asked-bad" --verdict "t" >/dev/null &&
  fail "unsettled outcomes pass"
[ "$(status "$tmp/asked-bad" fault-commit-lost)" = fail ] || fail "an unanswered query passes"
[ "$(status "$tmp/asked-bad" fault-done-lost)" = fail ] || fail "a source left beside a running destination passes"
mkasked "$tmp/asked-left"
printf 'fault-cut-state\n' >> "$tmp/asked-left/plan.txt"
sed -i 's/"domains_after":2/"domains_after":3/' "$tmp/asked-left/fault-commit-lost.json"
echo '{"rc":-3,"src_domid":5,"dst_domid":0,"fault":"cut-state","fault_hits":1,"domains_before":2,"domains_after":3,"error":"x"}' \
  > "$tmp/asked-left/fault-cut-state.json"
echo 'source_state=-b----' > "$tmp/asked-left/fault-cut-state.after"
printf '=== fault-cut-state t=36 dom=5\n=== fault-cut-state done rc=1 t=37\n(d5) [   37.5] XG HB 81\n' \
  >> "$tmp/asked-left/dmesg.txt"
python3 "$here/xen-lab/summarize.py" "$tmp/asked-left" --verdict "t" >/dev/null && fail "domain left"
[ "$(status "$tmp/asked-left" fault-commit-lost)" = fail ] || fail "a leftover domain passes (commit-lost)"
[ "$(status "$tmp/asked-left" fault-cut-state)" = fail ] || fail "a leftover domain passes (cut-state)"
sed -i 's/"domains_after":3/"domains_after":2/' "$tmp/asked-left/fault-cut-state.json"
python3 "$here/xen-lab/summarize.py" "$tmp/asked-left" --verdict "t" >/dev/null || true
[ "$(status "$tmp/asked-left" fault-cut-state)" = pass ] || fail "a clean cut-state fails"
mkasked "$tmp/asked-dying"
sed -i 's/"domains_after":2/"domains_after":2,"dying_after":1/' "$tmp/asked-dying/fault-done-lost.json"
python3 "$here/xen-lab/summarize.py" "$tmp/asked-dying" --verdict "t" >/dev/null && fail "dying"
[ "$(status "$tmp/asked-dying" fault-done-lost)" = fail ] || fail "a domain that stays dying passes"
mkasked "$tmp/asked-unres"
sed -i 's/"resolved":1/"resolved":0/' "$tmp/asked-unres/fault-done-lost.json"
python3 "$here/xen-lab/summarize.py" "$tmp/asked-unres" --verdict "t" >/dev/null && fail "unresolved"
[ "$(status "$tmp/asked-unres" fault-done-lost)" = fail ] || fail "an unresolved done-lost passes"

# xmig's tools killed -9: the survivor fails cleanly, the cleanup puts right
# what the dead one left, the host ends with as many domains, the source runs
mkkill() { # DIR
  mkrun "$1"
  printf 'kill-recv-live\nkill-send-stopped\nkill-recv-done\n' >> "$1/plan.txt"
  echo '{"kill":"recv-live","fired":"killed xmig-recv (pid 9) in round 0 after 4194400 bytes (rchar), source in state -b----","sender_rc":1,"receiver_rc":137,"domains_before":2,"domains_killed":3,"domains_after":2,"cleanup_rc":0,"resume_rc":null,"cleanup":"xmig-recv: d7 (xg--incoming): a destination the dead pid 9 created and never started: destroyed (if its source is still stopped, it was never started here: resume it there)|xmig-recv: 1 leftover: 1 destroyed, 0 resumed, 0 stopped sources left alone|","src_domid":5}' \
    > "$1/kill-recv-live.json"
  echo 'source_state=-b----' > "$1/kill-recv-live.after"
  echo '{"kill":"send-ready","fired":"killed xmig-send (pid 11) with READY held back, source in state --p---","sender_rc":137,"receiver_rc":1,"domains_before":2,"domains_killed":2,"domains_after":2,"cleanup_rc":0,"resume_rc":0,"cleanup":"xmig-recv: d5 (xg): a source the dead pid 11 left stopped for stop-and-copy: left alone. Whether ...|source after cleanup: --p---|xmig-send: d5 (xg): a source the dead pid 11 left stopped: resumed|","src_domid":5}' \
    > "$1/kill-send-stopped.json"
  echo 'source_state=-b----' > "$1/kill-send-stopped.after"
  echo '{"kill":"recv-done","fired":"killed xmig-recv (pid 9) with DONE held back, source in state --p---","sender_rc":4,"receiver_rc":137,"domains_before":2,"domains_killed":3,"domains_after":2,"dying_after":0,"cleanup_rc":0,"resume_rc":null,"dst_domid":8,"dst_state":"-b----","src_destroy_rc":0,"cleanup":"xmig-recv: d5 (xg): a source the dead pid 11 left stopped for stop-and-copy: left alone. Whether ...|source after cleanup: --p---|destroyed the stopped source d5: rc 0|","src_domid":5}' \
    > "$1/kill-recv-done.json"
  echo 'source_state=' > "$1/kill-recv-done.after"
  printf '=== kill-recv-live t=40 dom=5\n=== kill-recv-live done rc=1 t=41\n(d5) [   41.5] XG HB 90\n=== kill-send-stopped t=42 dom=5\n=== kill-send-stopped done rc=137 t=43\n(d5) [   43.5] XG HB 91\n=== kill-recv-done t=44 dom=5\n=== kill-recv-done done rc=4 t=45\n(d8) [   45.5] XG HB 92\n' \
    >> "$1/dmesg.txt"
}
mkkill "$tmp/kill"
python3 "$here/xen-lab/summarize.py" "$tmp/kill" --verdict "t" > "$tmp/kill.out" ||
  fail "good kill scenarios fail: $(cat "$tmp/kill.out")"
for s in kill-recv-live kill-send-stopped kill-recv-done; do
  [ "$(status "$tmp/kill" $s)" = pass ] || fail "clean $s"
done
mkkill "$tmp/kill-left"     # the cleanup left the dead receiver's domain
sed -i 's/"domains_after":2/"domains_after":3/; s/never started: destroyed/never started: kept/' \
  "$tmp/kill-left/kill-recv-live.json"
sed -i 's/left stopped: resumed/left stopped: kept/' "$tmp/kill-left/kill-send-stopped.json"
python3 "$here/xen-lab/summarize.py" "$tmp/kill-left" --verdict "t" >/dev/null && fail "kill leftovers pass"
[ "$(status "$tmp/kill-left" kill-recv-live)" = fail ] || fail "a dead receiver's domain left passes"
[ "$(status "$tmp/kill-left" kill-send-stopped)" = fail ] || fail "a stopped source not resumed passes"
mkkill "$tmp/kill-dying"    # the killed receiver's domain never went
sed -i 's/"domains_after":2/"domains_after":2,"dying_after":1/' "$tmp/kill-dying/kill-recv-live.json"
python3 "$here/xen-lab/summarize.py" "$tmp/kill-dying" --verdict "t" >/dev/null && fail "kill dying passes"
[ "$(status "$tmp/kill-dying" kill-recv-live)" = fail ] || fail "a domain that stays dying passes (kill)"
mkkill "$tmp/kill-nofire"   # nobody killed, or not with -9
sed -i 's/"fired":"[^"]*"/"fired":""/' "$tmp/kill-nofire/kill-recv-live.json"
sed -i 's/"sender_rc":137/"sender_rc":1/' "$tmp/kill-nofire/kill-send-stopped.json"
python3 "$here/xen-lab/summarize.py" "$tmp/kill-nofire" --verdict "t" >/dev/null && fail "kill not fired passes"
[ "$(status "$tmp/kill-nofire" kill-recv-live)" = fail ] || fail "a kill that never fired passes"
[ "$(status "$tmp/kill-nofire" kill-send-stopped)" = fail ] || fail "a sender not killed passes"

# killed after the commit (kill-recv-done, in mkkill): the guest runs on the
# destination, the stopped source is left alone by the cleanup, then
# destroyed by hand
done_bad() { # CASE FILE SED WHAT: kill-recv-done spoilt by SED in FILE must fail
  mkkill "$tmp/done-$1"
  sed -i "$3" "$tmp/done-$1/$2"
  python3 "$here/xen-lab/summarize.py" "$tmp/done-$1" --verdict "t" >/dev/null && fail "done-$1 passes"
  [ "$(status "$tmp/done-$1" kill-recv-done)" = fail ] || fail "$4 passes"
}
# the cleanup resumed the source: two copies ran
done_bad resumed kill-recv-done.json 's/left stopped for stop-and-copy: left alone. Whether .../left stopped: resumed/; s/source after cleanup: --p---/source after cleanup: -b----/' \
  "a source resumed after the commit"
done_bad paused kill-recv-done.json 's/"dst_state":"-b----"/"dst_state":"--p---"/' \
  "a destination left paused"
# the destination is listed but its guest is dead
done_bad silent dmesg.txt 's/(d8) \[   45.5\] XG HB 92/(d5) [   45.5] XG HB 92/' \
  "a destination without heartbeats"

# a balloon scenario in which the guest did not grow tested nothing
mkrun "$tmp/balloon"
echo linux-balloon >> "$tmp/balloon/plan.txt"
echo '{"rc":0,"src_domid":5,"dst_domid":6,"verified":1}' > "$tmp/balloon/linux-balloon.json"
echo '--verify --name lx' > "$tmp/balloon/linux-balloon.args"
echo '(d6) [   40.0] XG HB 90' >> "$tmp/balloon/dmesg.txt"
echo 'before=192 after=256 target=256 low=192' > "$tmp/balloon/linux-balloon.mem"
python3 "$here/xen-lab/summarize.py" "$tmp/balloon" --verdict "t" >/dev/null ||
  fail "a good balloon run fails"
echo 'before=192 after=193 target=256 low=192' > "$tmp/balloon/linux-balloon.mem"
python3 "$here/xen-lab/summarize.py" "$tmp/balloon" --verdict "t" >/dev/null && fail "no growth"
[ "$(status "$tmp/balloon" linux-balloon)" = fail ] || fail "a balloon that did not grow passes"

# a failed migration whose source printed nothing afterwards
mkrun "$tmp/silent"
sed -i '/=== fail done/,$ { /(d2)/d }' "$tmp/silent/dmesg.txt"
python3 "$here/xen-lab/summarize.py" "$tmp/silent" --verdict "t" >/dev/null && fail "silent source"
[ "$(status "$tmp/silent" fail)" = fail ] || fail "a silent source passes"
# a run cut short while a step was running
mkrun "$tmp/cut"
python3 "$here/xen-lab/summarize.py" "$tmp/cut" --verdict "t" --cut-short "step rep2 overran" \
  >/dev/null && fail "a cut-short run passes"
# xmig-recv --paused on Xen (paused_scn): the new domain paused after the
# commit, the source gone, no heartbeat before `xl unpause`, heartbeats after
mkpaused() { # DIR
  mkrun "$1"
  echo paused >> "$1/plan.txt"
  echo '{"paused":true,"sender_rc":0,"receiver_rc":0,"src_domid":5,"dst_domid":9,"dst_state":"--p---","src_left":false,"unpause_rc":0,"said":"xmig-recv: d9 is committed here and left paused","wall_s":20}' \
    > "$1/paused.json"
  printf '=== paused t=50 dom=5\n(d5) [   50.1] XG HB 95\n=== paused unpause t=55\n(d9) [   55.5] XG HB 96\n=== paused done rc=0 t=59\n' \
    >> "$1/dmesg.txt"
}
mkpaused "$tmp/paused"
python3 "$here/xen-lab/summarize.py" "$tmp/paused" --verdict "t" > "$tmp/paused.out" ||
  fail "a good paused run fails: $(cat "$tmp/paused.out")"
[ "$(status "$tmp/paused" paused)" = pass ] || fail "clean paused"
paused_bad() { # CASE FILE SED WHAT
  mkpaused "$tmp/paused-$1"
  sed -i "$3" "$tmp/paused-$1/$2"
  python3 "$here/xen-lab/summarize.py" "$tmp/paused-$1" --verdict "t" >/dev/null && fail "paused-$1 passes"
  [ "$(status "$tmp/paused-$1" paused)" = fail ] || fail "$4 passes"
}
paused_bad running paused.json 's/"dst_state":"--p---"/"dst_state":"-b----"/' "a destination not paused"
paused_bad early dmesg.txt 's/(d5) \[   50.1\] XG HB 95/(d9) [   50.1] XG HB 95/' \
  "a destination beating before xl unpause"
paused_bad dead dmesg.txt 's/(d9) \[   55.5\] XG HB 96/(d5) [   55.5] XG HB 96/' \
  "a destination silent after xl unpause"
paused_bad twice paused.json 's/"src_left":false/"src_left":true/' "a source left after the commit"

# the two-host seed scenario (twohost.py): a migration passes when the guest
# runs on the other host only, answers, keeps its stream and a clean disk,
# and DRBD's primary is where it runs; a failed stock one is skipped
mktwo() { # DIR
  local d=$1
  mkdir -p "$d"
  printf 'boot\nxmig-ab1\nxmig-ba1\nstock-ab1\n' > "$d/plan.txt"
  echo '{"rc":0}' > "$d/boot.json"
  echo '{"rc":0,"garp":{"count":1,"arp_count":2,"first_ms":2087.5,"first_arp_ms":2087.5},"from":"a","to":"b","helper":"xmig","wall_ms":30000,"on_xen01":"","on_xen02":"3","ping_after":3,"tcp_alive":true,"guest_gap_ms":900,"disk_errors":0,"disk":"LX DISK writes=9 checked=8 errors=0","drbd_xen01":"Secondary/Primary","drbd_xen02":"Primary/Secondary"}' > "$d/xmig-ab1.json"
  echo '{"rc":0,"garp":{"count":1,"arp_count":2,"first_ms":2087.5,"first_arp_ms":2087.5},"from":"b","to":"a","helper":"xmig","wall_ms":30000,"on_xen01":"4","on_xen02":"","ping_after":3,"tcp_alive":true,"guest_gap_ms":800,"disk_errors":0,"disk":"LX DISK writes=19 checked=18 errors=0","drbd_xen01":"Primary/Secondary","drbd_xen02":"Secondary/Primary"}' > "$d/xmig-ba1.json"
  echo '{"rc":1,"from":"a","to":"b","helper":"stock","wall_ms":3000,"on_xen01":"4","on_xen02":"","ping_after":3,"tcp_alive":true,"guest_gap_ms":0,"disk_errors":0,"disk":"","drbd_xen01":"Primary/Secondary","drbd_xen02":"Secondary/Primary"}' > "$d/stock-ab1.json"
  printf '[1.0] 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64\n[1.5] 64 bytes from 10.0.0.2: icmp_seq=2 ttl=64\n2 packets transmitted, 2 received\n' > "$d/xmig-ab1.ping"
}
two() { python3 "$here/xen-lab/twohost.py" "$1" --verdict t > "$1.out"; }
mktwo "$tmp/two"
two "$tmp/two" || fail "a good two-host run fails: $(cat "$tmp/two.out")"
[ "$(status "$tmp/two" xmig-ab1)" = pass ] && [ "$(status "$tmp/two" stock-ab1)" = skip ] ||
  fail "two-host statuses: $(cat "$tmp/two.out")"
grep -q '| xmig-ab1 | drbd | xmig | 30.0 | 900 | 0/2 | 500.0 | alive | clean |' "$tmp/two/table.md" ||
  fail "two-host table: $(cat "$tmp/two/table.md")"
# made_bad MAKER PREFIX SCENARIO CASE SED WHAT: a run made by MAKER in
# $tmp/PREFIX-CASE, SCENARIO's JSON edited by SED, must fail on SCENARIO
made_bad() {
  local d="$tmp/$2-$4"
  $1 "$d"
  sed -i "$5" "$d/$3.json"
  two "$d" && fail "$2-$4 passes"
  [ "$(status "$d" "$3")" = fail ] || fail "$6 passes"
}
two_bad() { made_bad mktwo two xmig-ab1 "$@"; } # CASE SED WHAT
two_bad both 's/"on_xen01":""/"on_xen01":"1"/' "a guest on both hosts"
two_bad tcp 's/"tcp_alive":true/"tcp_alive":false/' "a dead TCP stream"
two_bad disk 's/"disk_errors":0/"disk_errors":2/' "disk errors"
two_bad drbd 's/"drbd_xen02":"Primary\/Secondary"/"drbd_xen02":"Secondary\/Secondary"/' \
  "DRBD not primary where the guest runs"
# on the AoE disk, DRBD's roles do not count (the resource is idle), the
# disk checker still does
mktwo "$tmp/two-aoe"
sed -i 's/"rc":0,/"rc":0,"disk_kind":"aoe",/; s/"drbd_xen02":"Primary\/Secondary"/"drbd_xen02":"Secondary\/Primary"/' \
  "$tmp/two-aoe/xmig-ab1.json"
two "$tmp/two-aoe" || fail "a good AoE migration fails: $(cat "$tmp/two-aoe.out")"
grep -q '| xmig-ab1 | aoe | xmig |' "$tmp/two-aoe/table.md" || fail "AoE table: $(cat "$tmp/two-aoe/table.md")"
grep -q 'xmig on aoe (1 ok)' "$tmp/two-aoe/table.md" || fail "AoE medians: $(cat "$tmp/two-aoe/table.md")"
sed -i 's/"disk_errors":0/"disk_errors":1/' "$tmp/two-aoe/xmig-ab1.json"
two "$tmp/two-aoe" && fail "an AoE migration with disk errors passes"
# boot-DISK steps count as boots
mktwo "$tmp/two-boots"; mv "$tmp/two-boots/boot.json" "$tmp/two-boots/boot-drbd.json"
sed -i 's/^boot$/boot-drbd/' "$tmp/two-boots/plan.txt"
two "$tmp/two-boots" && [ "$(status "$tmp/two-boots" boot-drbd)" = pass ] ||
  fail "boot-drbd: $(cat "$tmp/two-boots.out")"
echo '{"rc":1,"error":"the guest never answered ping"}' > "$tmp/two-boots/boot-drbd.json"
two "$tmp/two-boots" && fail "a guest that never booted passes"
# a migration the driver could not start (the guest stayed behind after a
# failed one) is skipped, and the failure before it still fails the run
mktwo "$tmp/two-notrun"
sed -i 's/"rc":0/"rc":1/' "$tmp/two-notrun/xmig-ab1.json"
echo '{"rc":null,"from":"b","to":"a","helper":"xmig","not_run":"the guest is not on xen02 (an earlier migration failed)"}' > "$tmp/two-notrun/xmig-ba1.json"
two "$tmp/two-notrun" && fail "a two-host run with a failed migration passes"
[ "$(status "$tmp/two-notrun" xmig-ab1)" = fail ] && [ "$(status "$tmp/two-notrun" xmig-ba1)" = skip ] ||
  fail "two-host not run: $(cat "$tmp/two-notrun.out")"
! grep -q '| xmig-ba1 |' "$tmp/two-notrun/table.md" || fail "a migration not run is in the table"
mktwo "$tmp/two-missing"; rm "$tmp/two-missing/xmig-ba1.json"
two "$tmp/two-missing" && fail "a two-host run with a migration missing passes"
# DRBD disconnected or split-brained after a migration: a failure
two_bad standalone 's/"rc":0,/"rc":0,"drbd_cstate":"StandAlone\/Connected",/' \
  "DRBD standing alone after it"
two_bad splitbrain 's/"rc":0,/"rc":0,"split_brains":"1\/0",/' "a split brain"
# the guest's gratuitous ARP after the go: judged, not only reported
two_bad nogarp 's/"count":1,/"count":0,/' "a migration with no gratuitous ARP seen"
two_bad garpunknown 's/"garp":{[^}]*},//' "a migration whose ARPs nobody recorded"
# a fault passes when it fired, xl failed, and the guest runs on at xen01
# alone, devices sound, nothing left behind, DRBD connected (xen01 primary)
mkfault() { # DIR
  mktwo "$1"
  echo drbd-fault-cut-live >> "$1/plan.txt"
  echo '{"rc":1,"disk_kind":"drbd","from":"a","to":"b","helper":"xmig","wall_ms":45000,"on_xen01":"1","on_xen02":"","ping_after":3,"tcp_alive":true,"guest_gap_ms":300,"disk_errors":0,"disk":"LX DISK writes=29 checked=28 errors=0","drbd_xen01":"Primary/Secondary","drbd_xen02":"Secondary/Primary","drbd_cstate":"Connected/Connected","split_brains":"0/0","left_xen01":0,"left_xen02":0,"fault_kind":"cut-live","fault":"the migration connection silenced after the sending helper wrote 4194304 bytes (the source -b----), torn down 40 s later "}' \
    > "$1/drbd-fault-cut-live.json"
}
mkfault "$tmp/fault"
two "$tmp/fault" && [ "$(status "$tmp/fault" drbd-fault-cut-live)" = pass ] ||
  fail "a good fault fails: $(cat "$tmp/fault.out")"
grep -q '| cut-live | drbd | xmig | the migration connection silenced .* | 1 | 45.0 | xen01 |.*| Connected/Connected, Primary/Secondary, split brains 0/0 |' \
  "$tmp/fault/table.md" || fail "fault table: $(cat "$tmp/fault/table.md")"
! grep -q '| drbd-fault-cut-live | drbd | xmig |' "$tmp/fault/table.md" ||
  fail "a fault among the migrations: $(cat "$tmp/fault/table.md")"
fault_bad() { made_bad mkfault fault drbd-fault-cut-live "$@"; } # CASE SED WHAT
fault_bad notfired 's/"fault":"[^"]*"/"fault":"NOT FIRED: no sending helper"/' "a fault that did not fire"
fault_bad silent 's/"fault":"[^"]*"/"fault":""/' "a fault that said nothing"
fault_bad moved 's/"rc":1/"rc":0/' "a migration the fault did not stop"
fault_bad there 's/"on_xen01":"1","on_xen02":""/"on_xen01":"","on_xen02":"5"/' \
  "a guest that ran on at xen02"
fault_bad both 's/"on_xen02":""/"on_xen02":"5"/' "a guest on both hosts after a fault"
fault_bad left 's/"left_xen02":0/"left_xen02":1/' "a domain left on xen02"
fault_bad sb 's/"split_brains":"0\/0"/"split_brains":"0\/1"/' "a split brain after a fault"
fault_bad sa 's/"drbd_cstate":"Connected\/Connected"/"drbd_cstate":"StandAlone\/WFConnection"/' \
  "DRBD disconnected after a fault"
fault_bad role 's/"drbd_xen02":"Secondary\/Primary"/"drbd_xen02":"Primary\/Primary"/' \
  "two DRBD primaries after a fault"
fault_bad tcp 's/"tcp_alive":true/"tcp_alive":false/' "a dead stream after a fault"

# link-ready (xen02's link down after the stream): xl may go through once
# the link is back; then the guest must be on xen02 alone, DRBD's primary
# there, its gratuitous ARP seen; or fail, the guest on xen01 as any fault
mkready() { # DIR
  mkfault "$1"
  sed 's/"fault_kind":"cut-live"/"fault_kind":"link-ready"/; s/"rc":1/"rc":0,"garp":{"count":1,"arp_count":1,"first_ms":900.0,"first_arp_ms":900.0}/; s/"on_xen01":"1","on_xen02":""/"on_xen01":"","on_xen02":"7"/; s/"drbd_xen01":"Primary\/Secondary","drbd_xen02":"Secondary\/Primary"/"drbd_xen01":"Secondary\/Primary","drbd_xen02":"Primary\/Secondary"/' \
    "$1/drbd-fault-cut-live.json" > "$1/drbd-fault-link-ready.json"
  rm "$1/drbd-fault-cut-live.json"; sed -i 's/drbd-fault-cut-live/drbd-fault-link-ready/' "$1/plan.txt"
}
mkready "$tmp/ready"
two "$tmp/ready" && [ "$(status "$tmp/ready" drbd-fault-link-ready)" = pass ] ||
  fail "link-ready through to xen02 fails: $(cat "$tmp/ready.out")"
ready_bad() { made_bad mkready ready drbd-fault-link-ready "$@"; } # CASE SED WHAT
ready_bad nogarp 's/"count":1,/"count":0,/' "link-ready through with no gratuitous ARP"
ready_bad src 's/"on_xen01":""/"on_xen01":"1"/' "link-ready through, the guest on both hosts"
ready_bad sb 's/"split_brains":"0\/0"/"split_brains":"1\/1"/' "link-ready through with a split brain"
ready_bad role 's/"drbd_xen02":"Primary\/Secondary"/"drbd_xen02":"Secondary\/Secondary"/' \
  "link-ready through, DRBD not primary on xen02"
# (what passes after link-ready only: a cut-live that went through fails)
mkready "$tmp/ready-other"
sed -i 's/"fault_kind":"link-ready"/"fault_kind":"cut-ready"/' "$tmp/ready-other/drbd-fault-link-ready.json"
two "$tmp/ready-other" && fail "a cut-ready xl went through passes"
# on Xen's own helper a fault is the comparison: its failure is skipped
# with why, its pass a pass
mkfault "$tmp/fault-stock"
sed -i 's/"helper":"xmig","wall_ms":45000/"helper":"stock","wall_ms":45000/; s/"left_xen02":0/"left_xen02":1/' \
  "$tmp/fault-stock/drbd-fault-cut-live.json"
two "$tmp/fault-stock" && [ "$(status "$tmp/fault-stock" drbd-fault-cut-live)" = skip ] ||
  fail "a stock helper's failed fault: $(cat "$tmp/fault-stock.out")"
grep -q 'SKIP  drbd-fault-cut-live -- the reference (Xen.s own helper) fails this fault too: other domains' \
  "$tmp/fault-stock.out" || fail "a stock fault's skip says why: $(cat "$tmp/fault-stock.out")"
grep -q '| cut-live | drbd | stock |' "$tmp/fault-stock/table.md" || fail "stock fault table"

# xmig's own tools between the hosts (tools_kind): both tools exit 0, the
# receiver's digest matched, the guest on the other host alone, beating
# there, its working-set checker clean
mktools() { # DIR
  mktwo "$1"
  printf 'boot-xt-pv\ntools-pv-ab1\n' >> "$1/plan.txt"
  echo '{"rc":0}' > "$1/boot-xt-pv.json"
  echo '{"rc":0,"recv_rc":0,"tools_kind":"pv","from":"a","to":"b","wall_ms":61000,"on_xen01":"","on_xen02":"3","console_of":"b","guest_gap_ms":42.5,"hb_after":4,"guest_errors":0,"left_xen01":0,"left_xen02":0}' \
    > "$1/tools-pv-ab1.json"
  echo '{"schema":1,"tool":"xmig-send","ok":true,"error":null,"bytes":140509184,"rounds":4,"downtime_ms":31.25,"verify_requested":true,"verified":true}' \
    > "$1/tools-pv-ab1.send-json"
  echo '{"schema":1,"tool":"xmig-recv","ok":true,"error":null,"bytes":140509184,"rounds":4,"downtime_ms":null,"verify_requested":true,"verified":true}' \
    > "$1/tools-pv-ab1.recv-json"
}
mktools "$tmp/tools"
two "$tmp/tools" && [ "$(status "$tmp/tools" tools-pv-ab1)" = pass ] ||
  fail "a good tools migration fails: $(cat "$tmp/tools.out")"
grep -q '| tools-pv-ab1 | pv | xen01 | 0/0 | 61.0 | 31.2 | 42.5 | 4 | 134.0 | match | 4 |' \
  "$tmp/tools/table.md" || fail "tools table: $(cat "$tmp/tools/table.md")"
grep -q 'pv xen01 -> xen02 (1 passed): median (min-max) wall 61.0 (61.0-61.0) s, engine downtime 31.2 (31.2-31.2) ms' \
  "$tmp/tools/table.md" || fail "tools medians: $(cat "$tmp/tools/table.md")"
tools_bad() { made_bad mktools tools tools-pv-ab1 "$@"; } # CASE SED WHAT
tools_bad send 's/"rc":0,"recv_rc"/"rc":1,"recv_rc"/' "a failed xmig-send"
tools_bad recv 's/"recv_rc":0/"recv_rc":1/' "a failed xmig-recv"
tools_bad both 's/"on_xen01":""/"on_xen01":"1"/' "a tools guest on both hosts"
tools_bad gone 's/"on_xen02":"3"/"on_xen02":""/' "a tools guest on neither host"
tools_bad left 's/"left_xen02":0/"left_xen02":1/' "a copy left behind by the tools"
tools_bad silent 's/"hb_after":4/"hb_after":0/' "a tools guest silent afterwards"
tools_bad errors 's/"guest_errors":0/"guest_errors":3/' "working-set errors after the tools"
for c in mismatch nojson; do
  mktools "$tmp/tools-$c"
  case $c in
    mismatch) sed -i 's/"verified":true/"verified":false/' "$tmp/tools-$c/tools-pv-ab1.recv-json";;
    nojson) rm "$tmp/tools-$c/tools-pv-ab1.recv-json";;
  esac
  two "$tmp/tools-$c" && fail "tools-$c passes"
  [ "$(status "$tmp/tools-$c" tools-pv-ab1)" = fail ] || fail "tools-$c: $(cat "$tmp/tools-$c.out")"
done

echo "xen-lab-verdict: all checks passed"

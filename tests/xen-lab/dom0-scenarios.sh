#!/bin/sh
# Runs inside the nested Xen host's dom0 (from the 9p share, /mnt/host).
# Scenarios of the xen backend on xmig's test guest (a PVH domain without PV
# drivers) and, if the share has one, a Linux PVH guest:
#   m1      one live migration to a domain xmig builds itself, --verify
#   fail    the destination refuses the state after the pause: the source
#           must run again (resume on failure)
#   fault-map-eio, fault-clean-short
#           Xen made (by the driver's --fault) to refuse a mapping of a RAM
#           frame / to give a short final CLEAN, after the pause: the
#           migration must fail and the source run again
#   suspend-noack
#           the test guest asked to suspend through xenstore, which it cannot
#           hear: the request is withdrawn after 1 s and the guest runs on
#   fault-map-enoent
#           a paged frame (ENOENT) after the pause: retried, then migrated
#           with memory verified
#   fault-destroy-src
#           the source's destroy fails once after the commit: XMIG_ESRCLEFT,
#           the guest runs on the destination, the second destroy removes it
#   fault-cut-setup, -round0, -round-end, -state, -ready
#           the connection is cut as the sender writes (after HEADER, inside
#           round 0, at its end, with the guest paused and its state going
#           out, COMMIT after READY): the source runs on, the destination's
#           domain is gone (the host has as many domains as before)
#   fault-commit-lost, fault-done-lost
#           the connection is cut after the sender wrote COMMIT, the COMMIT
#           lost with it / delivered and the DONE lost: the sender, left not
#           knowing, asks the receiver (an outcome query) and resumes the
#           source / destroys it; the guest runs on exactly one side
#   kill-recv-live, kill-recv-ready, kill-send-live, kill-send-stopped
#           xmig-send and xmig-recv as processes, one of them killed (-9)
#           in round 0 (once it moved 4 MiB, at 4 MiB/s) or with the guest
#           stopped and READY held back from the sender (lab-tools hold):
#           the survivor fails cleanly (a sender resumes its source; a
#           receiver destroys its copy), and what the dead one left - a
#           destination never started (receiver), a source in log-dirty
#           mode or stopped (sender) - is put right by `xmig-recv
#           --cleanup` (a stopped source only by `xmig-send --cleanup
#           --resume DOMID`, once no copy runs elsewhere): the host then has
#           as many domains as before and the source runs
#   kill-send-stopped-pv
#           (PV) as kill-send-stopped, the Linux PV guest suspended (shut
#           down for suspend, not paused) when its sender dies: the cleanup
#           resumes it, and its console heartbeats go on
#   kill-recv-accept, kill-send-accept
#           the same at setup: ACCEPT held back (the destination's domain
#           made, the source not yet in log-dirty mode), one tool killed;
#           the source runs, the host has as many domains as before
#   kill-recv-done, kill-send-done
#           the same after the commit: DONE held back (the guest already
#           started on the destination), one tool killed. The sender,
#           unable to learn the outcome (its receiver dead / itself dead),
#           leaves its copy stopped (exit 4); the cleanup must leave that
#           stopped source alone and say so; as its advice says, it is then
#           destroyed with `xl destroy`, and the guest runs on, only on the
#           destination
#   rep1-5  five migrations in a row of the same guest
#   adopt   restored into a domain the driver created and connects itself
#           (a toolstack's way: params.domid + before_unpause)
#   bench-GUEST-WORKLOAD-SYSTEM-rN
#           xmig (both policies) and the reference, `xl migrate`, alternated,
#           BENCH_REPS (default 1) times, on twin guests (below): the test
#           guest, then a Linux PVH guest (if the share has one) per workload
#           of LX_WORKLOADS
#   linux-W xmig migration of the Linux guest with memory verified
#   fault-suspend-late
#           (PVH) the Linux guest takes the suspend request in time but its
#           suspend is seen only after the first limit: the wait goes on and
#           the migration succeeds, memory verified
#   linux-dirty-heap
#           (after the first linux-W) the Linux guest migrates, --verify,
#           and during round 0 a scratch domain gives back frames full of a
#           pattern while it lives (Xen does not scrub those; 2 x
#           DIRTY_HEAP_MIB, 64, MiB cycled): the destination must clear the
#           new frames it does not write (without that, 448 pages of the
#           pattern on the destination)
#   linux-balloon-down
#           (PVH, after the first linux-W) told to balloon down to 3/4 once
#           round 0 has sent every frame, the guest gives back frames already
#           sent; the next round waits until a quarter is back. --verify: the
#           destination gave them back too (notes_dst "gave back N frames")
#   linux-balloon
#           (PVH, after linux-balloon-down) the guest is ballooned down to 3/4
#           of its memory, then told (memory/target) to balloon back up 2 s into
#           a verified migration: the new domain must have every frame and
#           the memory the guest added (linux-balloon.mem)
#   xlh-save, xlh-kill-send, xlh-kill-susp, xlh-kill-recv, xlh-corrupt,
#   xlh-migN, xlh-stockN (N = 1..XLH_REPS), xlh-refuse
#           stock xl on xmig's libxl helper (see the xl block below), with a
#           Linux guest of the tier's type (PVH, or PV with PV=1) that has a
#           disk (a loop device) and a vif on dom0's bridge: pinged every
#           10 ms, a TCP stream from dom0, a disk checker (lx-disk), its
#           gratuitous ARP watched; alternated with Xen's own helper, then
#           four faults that must leave the guest on the source
# With QUICK=1 (run --quick, every CI run): m1, fail, the fault-* four, rep1-2, the xlh-*
# scenarios (the four faults, one xlh-mig, no stock run), then one Linux guest migration
# (workload idle) with its memory verified; no adopt, no benchmark. With QUICK=1 and PV=1:
# xlh-save, xlh-kill-susp, xlh-mig1, xlh-refuse and the Linux PV guest's verified
# migration.
# With PV=1 (run's XMIG_XEN_PV, on the older hypervisor) the Linux guest is
# a PV guest and the test guest (PVH only) is skipped; after linux-W come
# fail (refused after the pause), pv-rep1..REPEAT and adopt, then the
# benchmark.
# A PV guest cannot reach port 0xe9: its heartbeats and self-measured gaps
# go to its console, and what each migration added there is kept in
# NAME.console (summarize.py reads the handover from it).
# Time limits follow this host's speed: calib.txt holds the seconds a fixed
# loop took here, and every step's budget is its base figure times
# max(1, calib / CALIB_REF). progress.txt gets "start NAME budget=S" and
# "end NAME rc=R secs=T" per step: the host's watchdog (run) reads it, and a
# run cut short says which step was running and what each earlier one took.
# plan.txt names the scenarios this run means to run: one that never ran is
# a failure, not a silence.
# Results: /mnt/host/results/*.json, guest output (xl dmesg) in dmesg.txt,
# one line per scenario in summary.txt.
H=/mnt/host
R=$H/results
mkdir -p $R /var/lib/xen/images
[ -f $H/env ] && . $H/env
REPEAT=${REPEAT:-5}
[ -n "$QUICK" ] && REPEAT=2 && BENCH_REPS=0 && LX_WORKLOADS=idle:0:0 && SKIP_ADOPT=1
[ -n "$PV" ] && SKIP_XG=1
GUEST_TIME=${GUEST_TIME:-0}
cp $H/xmig-test-guest /var/lib/xen/images/xg
cp $H/xen-lab-migrate /usr/local/bin/
# xmig's own tools and the lab's helpers (lab-tools hold, below)
cp $H/xmig-send $H/xmig-recv $H/lab-tools /usr/local/bin/
# the tools' own TCP transport runs on loopback, which nothing else brings up
ip link set lo up
now() { cut -d' ' -f1 /proc/uptime; }
say() { echo "$*" | tee -a $R/summary.txt; }

# This host's speed: a fixed loop, timed. CALIB_REF is what it took on the
# machine the base budgets were set on (measured in its dom0: 2.0 s).
CALIB_REF=${CALIB_REF:-2.0}
c0=$(now)
awk 'BEGIN { for (i = 0; i < 2000000; i++) s += i % 7; print s > "/dev/null" }'
CALIB=$(awk "BEGIN { print $(now) - $c0 }")
SCALE=$(awk "BEGIN { f = $CALIB / $CALIB_REF; print (f < 1 ? 1 : f) }")
echo "$CALIB $CALIB_REF $SCALE" > $R/calib.txt
budget() { awk "BEGIN { printf \"%d\", $1 * $SCALE + 0.5 }"; }
MIG_BUDGET=$(budget ${MIG_BASE:-300})
# step NAME BASE_SECONDS: a step starts, with its scaled budget
STEP=; STEP_T0=
step() { STEP=$1; STEP_T0=$(now); STEP_BUDGET=$(budget $2)
  echo "start $1 budget=$STEP_BUDGET t=$STEP_T0" >> $R/progress.txt; }
step_end() { [ -n "$STEP" ] || return 0
  echo "end $STEP rc=${1:-0} secs=$(awk "BEGIN { print $(now) - $STEP_T0 }")" >> $R/progress.txt
  STEP=; }
plan() { echo "$*" | tr ' ' '\n' >> $R/plan.txt; }

# xl dmesg is a ring: drain it into a file all along.
( while :; do xl dmesg -c >> $R/dmesg.txt 2>/dev/null; sleep 1; done ) &
DRAIN=$!

cat > /etc/xen/xg.cfg <<CFG
name = "xg"
type = "pvh"
kernel = "/var/lib/xen/images/xg"
cmdline = "ws=${WS:-8M} rate=${RATE:-4M/s} hb=${HB:-20} time=$GUEST_TIME"
memory = ${MEM:-64}
vcpus = 1
on_poweroff = "destroy"
on_crash = "preserve"
CFG
say "xmig xen lab: $(uname -r), $(xl info | grep -E '^xen_version' | tr -s ' ')"
say "host speed: a fixed loop took $CALIB s (reference $CALIB_REF s): budgets x $SCALE, $MIG_BUDGET s a migration"
if [ -z "$SKIP_XG" ]; then
  plan m1 fail suspend-noack fault-map-eio fault-clean-short fault-map-enoent fault-destroy-src
  plan fault-cut-setup fault-cut-round0 fault-cut-round-end fault-cut-state fault-cut-ready
  plan fault-commit-lost fault-done-lost
  plan kill-recv-accept kill-send-accept kill-recv-live kill-recv-ready kill-send-live \
    kill-send-stopped kill-recv-done kill-send-done
  plan paused
  i=1; while [ $i -le $REPEAT ]; do plan rep$i; i=$((i+1)); done
  [ -n "$SKIP_ADOPT" ] || plan adopt
  say "guest: $(grep cmdline /etc/xen/xg.cfg)"
  step create-xg 60
  xl create /etc/xen/xg.cfg > $R/create.txt 2>&1 || { say "FAIL xl create"; cat $R/create.txt; }
  sleep ${WARMUP:-4}
  dom=$(xl domid xg 2>/dev/null)
  step_end
  say "source domain: $dom"
fi

# PV: the console log bytes of guest NAME (and NAME--incoming) before a
# migration; after it, what was added goes to $R/MIGRATION.console.
C=/var/log/xen/console
conmark() { for f in $C/guest-$1.log $C/guest-$1--incoming.log; do
  if [ -f $f ]; then wc -c < $f; else echo 0; fi; done | tr '\n' ' '; }
# conkeep NAME GUEST MARKS ENDMARKS: after a settle time, what the guest's
# consoles got since MARKS (conmark before the scenario) in NAME.console,
# and since ENDMARKS (conmark at its end) in NAME.console-after: a source
# that lives on after a failure beats there (once a second)
concut() { # guest marks
  local g=$1; set -- $2
  tail -c +$(( $1 + 1 )) $C/guest-$g.log 2>/dev/null
  tail -c +$(( $2 + 1 )) $C/guest-$g--incoming.log 2>/dev/null
}
conkeep() {
  sleep ${PV_SETTLE:-4}
  concut $2 "$3" > $R/$1.console
  concut $2 "$4" > $R/$1.console-after
}

# lx_cfg FILE NAME TYPE KNOBS: the xl config of a Linux lab guest (the
# kernel and initramfs of the share, lx-init.sh's knobs) of type pvh or pv
lx_cfg() {
  cat > $1 <<CFG
name = "$2"
type = "$3"
kernel = "/var/lib/xen/images/vmlinuz"
ramdisk = "/var/lib/xen/images/guest.cpio"
extra = "console=hvc0 quiet $4 lxhb=${LX_HB:-20}${PV:+ lxout=console}"
memory = ${LX_MEM:-256}
vcpus = 1
on_crash = "preserve"
CFG
  # PVH under TCG: no NRIPS, so no rdtscp (lab notes)
  [ "$3" = pv ] || echo 'cpuid = "host,rdtscp=0"' >> $1
}

mig() { # name args...
  n=$1; shift
  g=; prev=; for a in "$@"; do [ "$prev" = --name ] && g=$a; prev=$a; done
  [ -n "$PV" ] && [ -n "$g" ] && marks=$(conmark $g)
  echo "=== $n t=$(now) dom=$dom" >> $R/dmesg.txt
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  echo "$*" > $R/$n.args
  step $n ${MIG_BASE:-300}
  t0=$(now)
  XLM_SETTLE_MS=$(( $(budget 20) * 1000 )) timeout $MIG_BUDGET xen-lab-migrate "$dom" "$@" > $R/$n.json 2> $R/$n.log
  rc=$?
  t1=$(now)
  step_end $rc
  [ -n "$PV" ] && [ -n "$g" ] && emarks=$(conmark $g)
  # what became of the source: a failed migration must leave it running
  xl list "$dom" 2>/dev/null | awk 'NR == 2 { print "source_state=" $5 }' > $R/$n.after
  MIG_T0=$t0; MIG_T1=$t1
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  echo "=== $n done rc=$rc t=$t1" >> $R/dmesg.txt
  say "$n rc=$rc wall=$(awk "BEGIN{print $t1 - $t0}") $(head -c 600 $R/$n.json)"
  xl list >> $R/$n.log 2>&1
  [ -n "$PV" ] && [ -n "$g" ] && conkeep $n $g "$marks" "$emarks"
}
newdom() { sed -n 's/.*"dst_domid":\([0-9]*\).*/\1/p' $R/$1.json; }

# xmig's tools as processes, one killed -9 (see kill-* above)
# ndoms: the host's live domains. A destroyed domain stays listed, dying
# ("-----d"), until the last mapping of its memory goes: wait for that, at
# most a scaled 20 s, then count the live ones; ndying: those still dying
ndying() { xl list 2>/dev/null | awk 'NR > 1 && substr($5, 6, 1) == "d"' | wc -l; }
ndoms() {
  local i=0 n=$(( $(budget 20) * 10 ))
  while [ $i -lt $n ] && [ "$(ndying)" -gt 0 ]; do sleep 0.1; i=$((i+1)); done
  xl list 2>/dev/null | awk 'NR > 1 && substr($5, 6, 1) != "d"' | wc -l
}
dstate() { xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }'; }
# alive PID: PID runs (a child that ended but was not waited for is a zombie)
alive() {
  local st
  st=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null) && [ -n "$st" ] && [ "${st%% *}" != Z ]
}
# io_wait PID FIELD BYTES [PEER]: until /proc/PID/io's FIELD reaches BYTES;
# prints it; fails if PID (or PEER, when given) ended first
io_wait() {
  local v
  while v=$(awk -v f=$2 '$1 == f":" { print $2 }' /proc/$1/io 2>/dev/null) && [ -n "$v" ]; do
    [ "$v" -ge $3 ] && { echo $v; return 0; }
    [ -z "$4" ] || alive $4 || return 1
    sleep 0.05
  done
  return 1
}
KILL_PORT=7110
# waitfor TEXT FILE: until FILE holds TEXT (at most 10 s)
waitfor() {
  local i=0
  while [ $i -lt 100 ] && ! grep -q "$1" $2 2>/dev/null; do sleep 0.1; i=$((i+1)); done
}
kill_scn() { # NAME WHO(recv|send) WHEN(accept|live|ready|done) [GUEST, default xg]
  local n=$1 who=$2 when=$3 kg=${4:-xg} port to hpid= victim mark fired= v i st src rrc crc
  local at=$when nd=null dst=null drc=null rsrc=null marks= emarks=
  KILL_PORT=$((KILL_PORT + 2)); port=$KILL_PORT; to=127.0.0.1:$port
  [ -n "$PV" ] && marks=$(conmark $kg)
  echo "=== $n t=$(now) dom=$dom" >> $R/dmesg.txt
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  step $n ${MIG_BASE:-300}
  t0=$(now)
  before=$(ndoms)
  xmig-recv --backend xen --name $kg --listen $to --linger 0 --timeout 120s \
    > $R/$n.recv 2>&1 &
  rpid=$!
  waitfor "listening on" $R/$n.recv
  # the connection through lab-tools hold: at accept, ready or done, ACCEPT,
  # READY or DONE (and what follows) held back, so the sender waits before
  # round 0, with its guest stopped, or stopped with the guest already
  # started on the destination; live, nothing held and the bytes passed
  # announced (a socket's traffic is not in /proc/PID/io)
  case $when in live) at=4194304 ;; *) at=$(echo $when | tr a-z A-Z) ;; esac
  lab-tools hold $((port + 1)) $port $at > $R/$n.hold 2>&1 &
  hpid=$!; to=127.0.0.1:$((port + 1))
  waitfor listening $R/$n.hold
  # (done: its receiver dead or unreachable, the sender asks for the outcome
  # until --resolve-timeout, then gives up, its copy stopped: exit 4)
  xmig-send --backend xen --domain $dom --to $to --timeout 120s \
    --resolve-timeout $(budget 5)s \
    $([ $when = live ] && echo --max-bandwidth 4M/s) > $R/$n.send 2>&1 &
  spid=$!
  victim=$rpid; [ $who = send ] && victim=$spid
  mark="held $at"; [ $when = live ] && mark="passed "
  i=0
  while [ $i -lt $((STEP_BUDGET * 10)) ] && ! grep -q "$mark" $R/$n.hold; do
    alive $spid && alive $rpid || break
    sleep 0.1; i=$((i+1))
  done
  if grep -q "$mark" $R/$n.hold && st=$(dstate $dom) && kill -9 $victim; then
    [ $when = live ] &&
      fired="killed xmig-$who (pid $victim) in round 0 after $(sed -n 's/^passed \([0-9]*\).*/\1/p' $R/$n.hold) bytes, source in state $st"
    [ $when = live ] ||
      fired="killed xmig-$who (pid $victim) with $at held back, source in state $st"
  fi
  [ -n "$fired" ] || { kill -9 $victim 2>/dev/null; fired=; }
  wait $spid; src=$?
  wait $rpid; rrc=$?
  [ -n "$hpid" ] && { kill $hpid 2>/dev/null; wait $hpid 2>/dev/null; }
  killed=$(ndoms)
  xl list > $R/$n.xl-killed 2>&1
  # done: the guest was started on the destination, a second xg
  [ $when = done ] && nd=$(xl list 2>/dev/null |
    awk -v d=$dom -v g=$kg 'NR > 1 && $1 == g && $2 != d { print $2; exit }') &&
    [ -n "$nd" ] && dst="\"$(dstate $nd)\"" || nd=null
  xmig-recv --cleanup > $R/$n.cleanup 2>&1; crc=$?
  if [ $when = done ]; then
    # the stopped source must be left alone: the cleanup cannot know that
    # the guest runs elsewhere. Its advice followed, as an operator would:
    # the destination runs the guest, so `xl destroy` the source
    echo "source after cleanup: $(dstate $dom)" >> $R/$n.cleanup
    if [ "$nd" != null ]; then
      xl destroy $dom >> $R/$n.cleanup 2>&1; drc=$?
      echo "destroyed the stopped source d$dom: rc $drc" >> $R/$n.cleanup
    fi
  elif [ $who = send ] && [ $when = ready ]; then
    # stopped: left alone by the cleanup; resumed once it is known that no
    # copy runs (here: the receiver destroyed its own, this host has no other)
    echo "source after cleanup: $(dstate $dom)" >> $R/$n.cleanup
    xmig-send --cleanup --resume $dom >> $R/$n.cleanup 2>&1; rsrc=$?
  fi
  after=$(ndoms); dying=$(ndying)
  t1=$(now)
  step_end $src
  [ -n "$PV" ] && emarks=$(conmark $kg)
  echo "source_state=$(dstate $dom)" > $R/$n.after
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  echo "=== $n done rc=$src t=$t1" >> $R/dmesg.txt
  printf '{"kill":"%s-%s","fired":"%s","sender_rc":%d,"receiver_rc":%d,"domains_before":%d,"domains_killed":%d,"domains_after":%d,"dying_after":%d,"cleanup_rc":%d,"resume_rc":%s,"dst_domid":%s,"dst_state":%s,"src_destroy_rc":%s,"cleanup":"%s","sender_error":"%s","src_domid":%s,"wall_s":%s}\n' \
    $who $when "$fired" $src $rrc $before $killed $after $dying $crc $rsrc $nd "$dst" $drc \
    "$(tr -d '"\\' < $R/$n.cleanup | tr '\n' '|' | cut -c1-900)" \
    "$(grep -m1 verdict $R/$n.send | tr -d '"\\' | cut -c1-300)" $dom \
    "$(awk "BEGIN{print $t1 - $t0}")" > $R/$n.json
  say "$n sender=$src receiver=$rrc domains $before/$killed/$after cleanup=$crc/$rsrc $fired"
  [ -n "$PV" ] && conkeep $n $kg "$marks" "$emarks"
  # a kill that did not fire may have let the guest move: go on with it
  v=$(xl domid $kg 2>/dev/null) && [ -n "$v" ] && dom=$v
}

# paused_scn NAME: xmig-recv --paused (xl migrate -p): the commit leaves the
# new domain paused, the source destroyed; it beats only once `xl unpause`
# started it. Markers in dmesg.txt bound the paused window for summarize.py.
paused_scn() {
  local n=$1 port to src rrc nd st urc t0 t1
  KILL_PORT=$((KILL_PORT + 2)); port=$KILL_PORT; to=127.0.0.1:$port
  echo "=== $n t=$(now) dom=$dom" >> $R/dmesg.txt
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  step $n ${MIG_BASE:-300}
  t0=$(now)
  xmig-recv --backend xen --name xg --listen $to --paused --linger 0 --timeout 120s \
    > $R/$n.recv 2>&1 &
  rpid=$!
  waitfor "listening on" $R/$n.recv
  xmig-send --backend xen --domain $dom --to $to --verify --timeout 120s > $R/$n.send 2>&1
  src=$?
  wait $rpid; rrc=$?
  nd=$(sed -n 's/.*: d\([0-9]*\) is committed here and left paused.*/\1/p' $R/$n.recv | head -1)
  st=$(dstate ${nd:-0})
  # the paused window: nothing of the new domain may beat in it
  sleep 3
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  echo "=== $n unpause t=$(now)" >> $R/dmesg.txt
  urc=99; [ -n "$nd" ] && { xl unpause $nd > $R/$n.unpause 2>&1; urc=$?; }
  sleep 4
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  t1=$(now)
  step_end $src
  echo "=== $n done rc=$src t=$t1" >> $R/dmesg.txt
  printf '{"paused":true,"sender_rc":%d,"receiver_rc":%d,"src_domid":%s,"dst_domid":%s,"dst_state":"%s","src_left":%s,"unpause_rc":%d,"said":"%s","wall_s":%s}\n' \
    $src $rrc $dom "${nd:-null}" "$st" "$(xl list $dom > /dev/null 2>&1 && echo true || echo false)" \
    $urc "$(grep -m1 'left paused' $R/$n.recv | tr -d '"\\' | cut -c1-300)" \
    "$(awk "BEGIN{print $t1 - $t0}")" > $R/$n.json
  say "$n sender=$src receiver=$rrc d$dom -> d${nd:-?} state $st, xl unpause rc $urc"
  [ -n "$nd" ] && dom=$nd
}

if [ -z "$SKIP_XG" ]; then
  mig m1 --verify --name xg
  nd=$(newdom m1); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
  sleep 2
  mig fail --fail-load
  sleep 2
  # the test guest has no PV drivers: asked through xenstore, it never takes
  # the request, which must be withdrawn with the guest left running
  mig suspend-noack --suspend xenstore --suspend-timeout 1000
  sleep 2
  for f in map-eio clean-short; do
    mig fault-$f --fault $f
    sleep 2
  done
  for f in map-enoent destroy-src; do
    mig fault-$f --fault $f --verify --name xg
    nd=$(newdom fault-$f); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
    sleep 2
  done
  # (should a cut not fire, the guest moved: follow it, and the verdict fails)
  for f in cut-setup cut-round0 cut-round-end cut-state cut-ready commit-lost; do
    mig fault-$f --fault $f
    nd=$(newdom fault-$f); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
    sleep 2
  done
  mig fault-done-lost --fault done-lost --verify --name xg
  nd=$(newdom fault-done-lost); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
  sleep 2
  kill_scn kill-recv-accept recv accept; sleep 2
  kill_scn kill-send-accept send accept; sleep 2
  kill_scn kill-recv-live recv live; sleep 2
  kill_scn kill-recv-ready recv ready; sleep 2
  kill_scn kill-send-live send live; sleep 2
  kill_scn kill-send-stopped send ready; sleep 2
  kill_scn kill-recv-done recv done; sleep 2
  kill_scn kill-send-done send done; sleep 2
  paused_scn paused; sleep 2
  i=1
  while [ $i -le $REPEAT ]; do
    mig rep$i --verify --name xg
    nd=$(newdom rep$i); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
    sleep 2
    i=$((i+1))
  done
  # restored into a domain "the toolstack" (the driver) created and connected
  if [ -z "$SKIP_ADOPT" ]; then
    mig adopt --adopt --name xg
    nd=$(newdom adopt); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
    sleep 2
  fi
  # the guest's own verdict: its final full check (needs time=N > 0)
  if [ "$GUEST_TIME" != 0 ]; then
    i=0
    while [ $i -lt ${WAIT_EXIT:-240} ] && ! grep -q "XG EXIT" $R/dmesg.txt; do
      sleep 2; i=$((i+2)); xl dmesg -c >> $R/dmesg.txt 2>/dev/null
    done
    say "guest end: $(grep -F 'XG CHECK' $R/dmesg.txt | tail -1) $(grep -F 'XG EXIT' $R/dmesg.txt | tail -1)"
  fi
  sleep 3
  xl list > $R/xl-list-end.txt 2>&1
  xl destroy "$dom" 2>/dev/null
fi

# ---- xl on xmig: libxl's save/restore helper replaced ----------------------
# A Linux PVH guest "xh" made by xl (libxl suspends a PVH guest through
# xenstore, which xmig's own test guest cannot hear), moved by stock xl
# with LIBXL_SAVE_HELPER set to xmig's helper (docs/xl-helper.md): xlh-save
# (xl save, then xl restore); then the faults of XLH_FAULTS, each of which
# must leave the guest running on the source, its devices intact, and no
# second copy:
#   xlh-kill-send  the sending helper killed (-9) once it wrote 4 MiB (live)
#   xlh-kill-susp  the sending helper stopped the moment libxl asks the
#                  guest to suspend, killed once Xen reports it suspended
#                  (xl must resume the source)
#   xlh-kill-recv  the receiving helper killed once it read 4 MiB
#   xlh-corrupt    one byte of the stream inverted at 4 MiB on the way
# then XLH_REPS rounds of xlh-migN (xl migrate to localhost on xmig's
# helper; xlh-mig1 is thus a migration right after the faults: log-dirty
# left on by a killed helper must not stop it), each followed, with
# XLH_STOCK=1, by xlh-stockN (the same xl on Xen's own helper, the
# reference); then xlh-refuse: Xen's own helper sends, xmig's receives and
# must refuse the libxenguest stream in one clear line, the source running
# on. Defaults: XLH_REPS=5, XLH_STOCK=1, all four faults; QUICK: one
# xlh-mig, no stock run, and with PV only xlh-kill-susp (the PV resume path;
# the others are the same code for PV and PVH).
# Each writes NAME.json (xl's rc, the
# domids, the bytes, the fault) for summarize.py; NAME.log is xl's own -vvv
# output, every line stamped with the wall clock (lab-tools stamp), from
# which summarize.py reads where the time went; NAME.arp the guest's ARP
# packets seen on xenbr0 (its gratuitous ARP after the resume); NAME.ping
# a ping every 10 ms.
XLH=/usr/local/libexec/xmig/xmig-xl-helper
XLT=/usr/local/bin/lab-tools
XH_MAC=00:16:3e:58:4d:01
if [ -n "$QUICK" ]; then
  XLH_REPS=${XLH_REPS:-1}; XLH_STOCK=${XLH_STOCK:-0}
  [ -n "$PV" ] && XLH_FAULTS=${XLH_FAULTS-kill-susp}
fi
XLH_REPS=${XLH_REPS:-5}; XLH_STOCK=${XLH_STOCK:-1}
XLH_FAULTS=${XLH_FAULTS-kill-send kill-susp kill-recv corrupt}
xlh_rec() { # name rc src dst
  local err
  err=$(grep -m1 -E "xmig-xl-helper.*(libxenguest's|failed|error)" $R/$1.log |
    sed 's/^\[[0-9.]*\] //' | tr -d '"\\' | cut -c1-300)
  # the devices' checks: the TCP stream still open, the disk checker clean
  tcp=false; kill -0 $TCP_PID 2>/dev/null && tcp=true
  derr=$(cat $C/guest-xh*.log 2>/dev/null | grep -c "LX DERR")
  # the newest console log is the running domain's (xh--incoming's, after a
  # migration: xenconsoled keeps the name it opened the log under)
  dlast=$(grep "LX DISK writes" "$(ls -t $C/guest-xh*.log 2>/dev/null | head -1)" 2>/dev/null |
    tail -1 | tr -d '"\\\r')
  # a second copy of the guest left behind (the destination's, after a failure)
  left=$(xl list 2>/dev/null | grep -c -- '--incoming')
  verified=false; grep -q "memory verified: the source's digest matches" $R/$1.log && verified=true
  [ "$1" = xlh-save ] && [ "${XLH_SAVE_VERIFY:-1}" = 1 ] && verified="$verified,\"verify_requested\":true"
  # frames a device wrote after the pause, left out of the digest
  excl=$(sed -n 's/.*; \([0-9][0-9]*\) frames a device may have written after the pause.*/\1/p' \
    $R/$1.log 2>/dev/null | tail -1)
  verified="$verified,\"verify_excluded_pages\":${excl:-0}"
  printf '{"rc":%d,"src_domid":%s,"dst_domid":%s,"bytes":%s,"wall_ms":%s,"tcp_alive":%s,"ping_after":%s,"disk_errors":%s,"disk":"%s","error":"%s","leftover_domains":%s,"fault":"%s","t0_wall":%s,"verified":%s}\n' \
    "$2" "${3:-0}" \
    "$([ "$2" = 0 ] && echo "${4:-0}" || echo 0)" "$(sed -n 's/^\([0-9][0-9]*\) bytes.*/\1/p' \
    $R/$1.dd 2>/dev/null | tail -1 | grep . || echo null)" \
    "$(awk "BEGIN{print ($XLH_T1 - $XLH_T0) * 1000}")" $tcp "${PING_AFTER:-0}" "${derr:-0}" \
    "$dlast" "$err" "$left" "$(cat $R/$1.fault 2>/dev/null | tr -d '"\\' | tr '\n' ' ')" \
    "${XLH_W0:-null}" $verified > $R/$1.json
  xl list "$3" 2>/dev/null | awk 'NR == 2 { print "source_state=" $5 }' > $R/$1.after
  say "$1 rc=$2 wall=$(awk "BEGIN{print $XLH_T1 - $XLH_T0}") d$3 -> d$4 $(cat $R/$1.json)"
}
# xlh_quiet NAME: no xl migration nor save helper of an earlier scenario
# still running (a receiving xl left waiting would hold xl's lock, and the
# next migration would wait for it with the guest untouched): waited for
# up to 30 s, then killed and said, in NAME.pre for the record
xlh_quiet() {
  local i=0 left
  rm -f $R/$1.pre
  while left=$(pgrep -a -f "xl .*migrate|xmig-xl-helper|libxl-save-helper") &&
        [ $i -lt 300 ]; do
    sleep 0.1; i=$((i+1))
  done
  [ -n "$left" ] || return 0
  echo "left running before $1: $(echo "$left" | cut -c1-120 | tr '\n' ';')" | tee $R/$1.pre >> $R/summary.txt
  pkill -9 -f "xl .*migrate|xmig-xl-helper|libxl-save-helper"
  sleep 1
}
xlh_begin() { # name
  # xlh_quiet $1: off, it stalled the lab before xlh-refuse (stop 31 CI)
  [ -n "$PV" ] && marks=$(conmark xh)
  # a ping every 10 ms across the migration, timestamped (-D)
  ping -n -D -i 0.01 -W 1 $XH_IP > $R/$1.ping 2>&1 &
  PING_PID=$!
  # the guest's ARP packets on the bridge: its gratuitous ARP after resume
  $XLT arpwatch xenbr0 $XH_MAC > $R/$1.arp 2>&1 &
  ARP_PID=$!
  echo "=== $1 t=$(now) dom=$(xl domid xh 2>/dev/null)" >> $R/dmesg.txt
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  step $1 ${MIG_BASE:-300}
  XLH_T0=$(now)
  XLH_W0=$(date +%s.%N)
}
xlh_end() { # name rc
  XLH_T1=$(now)
  step_end $2
  [ -n "$PV" ] && emarks=$(conmark xh)
  sleep 2; kill -INT $PING_PID 2>/dev/null; wait $PING_PID 2>/dev/null
  kill $ARP_PID 2>/dev/null; wait $ARP_PID 2>/dev/null
  # does the guest answer where it now runs (or, after a failure, still)?
  PING_AFTER=$(ping -n -c 3 -i 0.2 -W 1 $XH_IP 2>/dev/null | grep -c "bytes from")
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  echo "=== $1 done rc=$2 t=$XLH_T1" >> $R/dmesg.txt
  [ -n "$PV" ] && conkeep $1 xh "$marks" "$emarks"
}
# xlh_migrate NAME HELPER [RELAY]: xl -vvv migrate of xh to localhost on
# HELPER (both ends), RELAY (a command) in the receiving pipe if given; xl's
# output stamped into NAME.log; prints xl's exit status
xlh_migrate() {
  local rune="dd bs=1M 2>$R/$1.dd | ${3:+$3 | }LIBXL_SAVE_HELPER=$2 xl -vvv migrate-receive"
  echo "[$(date +%s.%N)] xlh start $1" > $R/$1.log
  { LIBXL_SAVE_HELPER=$2 timeout $MIG_BUDGET xl -vvv migrate -s "" xh "$rune" 2>&1
    echo "xlh rc=$?"; } | $XLT stamp >> $R/$1.log
  sed -n 's/^\[[0-9.]*\] xlh rc=//p' $R/$1.log | tail -1 | grep . || echo 99
}
# xlh_helper_pid MODE: the newest xmig-xl-helper --MODE-domain, waited for
xlh_helper_pid() {
  local i=0 p
  while [ $i -lt $((STEP_BUDGET * 10)) ]; do
    p=$(pgrep -n -f "xmig-xl-helper --$1-domain") && { echo $p; return 0; }
    sleep 0.1; i=$((i+1))
  done
  return 1
}
# xlh_fault NAME KIND: an xl migrate on xmig's helper with one fault (see
# above); NAME.fault says what was done and when, for summarize.py
xlh_fault() {
  local n=$1 kind=$2 pid v st i relay=
  xh_up
  src=$(xl domid xh 2>/dev/null)
  xlh_begin $n
  rm -f $R/$n.fault
  [ $kind = corrupt ] && relay="$XLT flip 4194304 2>$R/$n.flip"
  xlh_migrate $n $XLH "$relay" > $R/$n.rc &
  mpid=$!
  case $kind in
    kill-send|kill-recv)
      mode=save; io=wchar; [ $kind = kill-recv ] && mode=restore && io=rchar
      if pid=$(xlh_helper_pid $mode) && v=$(io_wait $pid $io 4194304); then
        kill -9 $pid
        echo "killed the $mode helper (pid $pid) after $v bytes ($io), source $(xl list $src 2>/dev/null | awk 'NR == 2 { print $5 }')" > $R/$n.fault
      else
        echo "NOT FIRED: no $mode helper, or it ended before 4 MiB" > $R/$n.fault
      fi;;
    kill-susp)
      # libxl writes "suspend" to the guest's control/shutdown when the helper
      # asks it to suspend: the watch's second event (the first is its own)
      if ! pid=$(xlh_helper_pid save); then
        echo "NOT FIRED: no save helper started in $STEP_BUDGET s (xl: $(pgrep -a -f 'xl .*migrate' |
          cut -c1-80 | tr '\n' ';'); $(cat $R/$n.pre 2>/dev/null))" > $R/$n.fault
      elif timeout $STEP_BUDGET xenstore-watch -n 2 /local/domain/$src/control/shutdown > /dev/null; then
        kill -STOP $pid
        i=0; st=
        while [ $i -lt $((STEP_BUDGET * 10)) ]; do
          st=$(xl list $src 2>/dev/null | awk 'NR == 2 { print $5 }')
          case "$st" in *s*) break;; esac
          sleep 0.1; i=$((i+1))
        done
        kill -9 $pid
        echo "stopped the save helper (pid $pid) at the suspend request, killed it with the source in state $st" > $R/$n.fault
      else
        echo "NOT FIRED: the save helper (pid $pid, $(alive $pid && echo running || echo gone)) made no suspend request in $STEP_BUDGET s; its last line: $(grep xmig-xl-helper $R/$n.log |
          tail -1 | cut -c1-160)" > $R/$n.fault
      fi;;
    corrupt) ;;
  esac
  wait $mpid
  rc=$(cat $R/$n.rc)
  [ $kind = corrupt ] && cat $R/$n.flip > $R/$n.fault 2>/dev/null
  xlh_end $n $rc
  xlh_rec $n $rc $src "$(xl domid xh 2>/dev/null)"
  sleep 2
}
if [ -z "$SKIP_XLH" ] && [ -f $H/vmlinuz-guest ]; then
  plan xlh-save
  for f in $XLH_FAULTS; do plan xlh-$f; done
  i=1; while [ $i -le $XLH_REPS ]; do
    plan xlh-mig$i; [ "$XLH_STOCK" = 1 ] && plan xlh-stock$i; i=$((i+1))
  done
  plan xlh-refuse
  mkdir -p /usr/local/libexec/xmig
  cp $H/xmig-xl-helper $XLH
  cp $H/xmig-dump $H/lab-tools /usr/local/bin/
  cp $H/vmlinuz-guest /var/lib/xen/images/vmlinuz
  cp $H/guest.cpio /var/lib/xen/images/guest.cpio
  XHTYPE=pvh; [ -n "$PV" ] && XHTYPE=pv
  # its devices: a vif on dom0's bridge xenbr0 (10.0.0.1) and a disk file
  XH_IP=10.0.0.2
  for m in bridge xen-netback xen-blkback loop; do modprobe $m 2>/dev/null || say "no module $m"; done
  # the hotplug scripts' lock compares /dev/stdin with its lock file: a
  # devtmpfs has no /dev/stdin, and without it they spin until libxl kills them
  [ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
  for i in 0:stdin 1:stdout 2:stderr; do
    [ -e /dev/${i#*:} ] || ln -s /proc/self/fd/${i%%:*} /dev/${i#*:}
  done
  ip link add xenbr0 type bridge 2>/dev/null; ip addr add 10.0.0.1/24 dev xenbr0 2>/dev/null
  ip link set xenbr0 up
  truncate -s 16M /var/lib/xen/images/xh-disk.img
  # a loop device as the disk (phy:): libxl 4.17 will not back a PV disk by a
  # plain file without QEMU (qdisk), which this dom0 has not
  XH_DISK=$(losetup -f --show /var/lib/xen/images/xh-disk.img)
  say "xh: disk $XH_DISK (16 MiB), vif on xenbr0, guest $XH_IP"
  lx_cfg /etc/xen/xh.cfg xh $XHTYPE "lxws=0 lxrate=0 lxnet=$XH_IP/24 lxdisk=/dev/xvda"
  cat >> /etc/xen/xh.cfg <<CFG
vif = [ 'bridge=xenbr0,mac=$XH_MAC' ]
disk = [ 'phy:$XH_DISK,xvda,w' ]
CFG
  # its heartbeats: Xen's console (PVH, port 0xe9) or its own (PV)
  xh_beats() { if [ -n "$PV" ]; then grep -q "LX HB" $C/guest-xh.log 2>/dev/null
    else grep -q "(d$1) .*LX HB" $R/dmesg.txt 2>/dev/null; fi; }
  # xh running, booted afresh if an earlier scenario lost it
  xh_up() {
    xl domid xh > /dev/null 2>&1 && return 0
    step boot-xh ${LINUX_BOOT_BASE:-120}
    xl create /etc/xen/xh.cfg >> $R/create-xh.txt 2>&1 || {
      say "FAIL xl create xh"
      # what the hotplug scripts said, for the record
      for f in /var/log/xen/*.log; do [ -f "$f" ] && cp "$f" "$R/dom0-$(basename "$f")"; done; }
    i=0; d=$(xl domid xh 2>/dev/null)
    while [ $i -lt $STEP_BUDGET ] && ! xh_beats $d; do
      sleep 1; i=$((i+1))
    done
    step_end
    if xh_beats $d; then say "xh: d$d heartbeats after $i s"
    else say "FAIL xh: no heartbeat after $i s"; fi
    i=0; while [ $i -lt 60 ] && ! ping -c1 -W1 $XH_IP > /dev/null 2>&1; do i=$((i+1)); done
    say "xh: answers ping after $i tries"
    # a TCP stream from dom0 into the guest's sink, for as long as xh lives
    kill $TCP_PID 2>/dev/null
    ( n=0; while :; do echo "seq $n $(now)"; n=$((n+1)); sleep 0.1; done ) |
      busybox nc $XH_IP 7000 > /dev/null 2>> $R/tcp.log &
    TCP_PID=$!
    sleep ${LINUX_SETTLE:-5}
  }
  xh_up
  export LIBXL_SAVE_HELPER=$XLH
  src=$(xl domid xh 2>/dev/null)
  xlh_begin xlh-save
  # the save file, between save and restore, read by xmig-dump (xl's
  # header, libxl's records, the xmig stream in between: all valid)
  # a digest in the file (XMIG_XL_VERIFY=1), checked by the restore, the
  # vif pinged all along: the frames netback fills after the pause are left
  # out and counted (docs/stream-format.md, DIGEST). XLH_SAVE_VERIFY=0: none
  { XMIG_XL_VERIFY=${XLH_SAVE_VERIFY:-1} timeout $MIG_BUDGET xl -v save xh /var/lib/xen/images/xh.save &&
    { /usr/local/bin/xmig-dump -s /var/lib/xen/images/xh.save > $R/xlh-save.dump 2>&1 ||
      { echo "xmig-xl-helper: error: xmig-dump failed on the save file:" \
          "$(tail -1 $R/xlh-save.dump)"; false; }; } &&
    timeout $MIG_BUDGET xl -v restore /var/lib/xen/images/xh.save; } > $R/xlh-save.log 2>&1
  rc=$?
  xlh_end xlh-save $rc
  ls -l /var/lib/xen/images/xh.save >> $R/xlh-save.log 2>&1
  rm -f /var/lib/xen/images/xh.save
  xlh_rec xlh-save $rc $src "$(xl domid xh 2>/dev/null)"
  sleep 2
  for f in $XLH_FAULTS; do
    xlh_fault xlh-$f $f
  done
  # alternated with the same xl on Xen's own helper (xlh-stockN: the
  # reference, side by side on the same guest and host)
  i=1; while [ $i -le $XLH_REPS ]; do
    for n in xlh-mig$i xlh-stock$i; do
      case $n in
        xlh-stock*) [ "$XLH_STOCK" = 1 ] || continue
                    hlp=/usr/lib/xen-4.17/bin/libxl-save-helper;;
        *) hlp=$XLH;;
      esac
      xh_up
      src=$(xl domid xh 2>/dev/null)
      xlh_begin $n
      rc=$(xlh_migrate $n $hlp)
      xlh_end $n $rc
      xlh_rec $n $rc $src "$(xl domid xh 2>/dev/null)"
      sleep 2
    done
    i=$((i+1))
  done
  unset LIBXL_SAVE_HELPER
  xh_up
  src=$(xl domid xh 2>/dev/null)
  xlh_begin xlh-refuse
  timeout $MIG_BUDGET xl -v migrate -s "" xh \
    "dd bs=1M 2>$R/xlh-refuse.dd | LIBXL_SAVE_HELPER=$XLH xl -v migrate-receive" \
    > $R/xlh-refuse.log 2>&1
  rc=$?
  xlh_end xlh-refuse $rc
  xlh_rec xlh-refuse $rc $src "$(xl domid xh 2>/dev/null)"
  sleep 3
  xl list > $R/xlh-list-end.txt 2>&1
  kill $TCP_PID 2>/dev/null
  xl destroy xh 2>/dev/null
  for f in $C/guest-xh*.log; do [ -f "$f" ] && cp "$f" "$R/xlh-$(basename "$f")"; done
fi

# ---- xmig vs xl migrate, alternated ----------------------------------------
# Twin guests, booted together from one config: GUEST is migrated by xmig
# (with each of its two policies), GUEST-xl by `xl migrate` (Xen's own live
# migration through libxenguest, to localhost; dd in the pipe counts the
# stream's bytes). Twins, because xl can only migrate a domain libxl made
# (it needs libxl's own records, which xmig's built-in toolstack does not
# write). Both run during every measurement, so each system migrates its
# guest on a host equally busy. The order rotates with the repetition.
# Per migration: $R/NAME.json (the driver's JSON for xmig, a small one for
# xl) and $R/NAME.meta (what ran, its wall time).
meta() { # name system guest workload rep t0 t1  (GMEM: the guest's size)
  printf '{"system":"%s","guest":"%s","mem":"%s","workload":"%s","rep":%s,"wall_ms":%s}\n' \
    "$2" "$3" "$GMEM" "$4" "$5" \
    "$(awk "BEGIN{print ($7 - $6) * 1000}")" > $R/$1.meta
}
xlmig() { # name domain guest workload rep
  local n=$1 d=$2 from to t0 t1 bytes i
  from=$(xl domid $d 2>/dev/null)
  echo "=== $n t=$(now) dom=$from" >> $R/dmesg.txt
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  [ -n "$PV" ] && marks=$(conmark $d)
  t0=$(now)
  step $n ${MIG_BASE:-300}
  timeout $(budget 600) xl migrate -s "" $d "dd bs=1M 2>$R/$n.dd | xl migrate-receive" > $R/$n.log 2>&1
  rc=$?
  t1=$(now)
  step_end $rc
  [ -n "$PV" ] && emarks=$(conmark $d)
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  to=$(xl domid $d 2>/dev/null)
  # dd prints its count when the stream closes, which may be just after xl returns
  i=0; bytes=
  while [ $i -lt 10 ] && [ -z "$bytes" ]; do
    bytes=$(sed -n 's/^\([0-9][0-9]*\) bytes.*/\1/p' $R/$n.dd 2>/dev/null | tail -1)
    [ -n "$bytes" ] || sleep 0.5
    i=$((i+1))
  done
  printf '{"rc":%d,"src_domid":%s,"dst_domid":%s,"bytes":%s}\n' $rc "${from:-0}" \
    "$([ $rc = 0 ] && echo "${to:-0}" || echo 0)" "${bytes:-null}" > $R/$n.json
  meta $n xl $3 $4 $5 $t0 $t1
  [ -n "$PV" ] && conkeep $n $d "$marks" "$emarks"
  say "$n rc=$rc wall=$(awk "BEGIN{print $t1 - $t0}") bytes=${bytes:-?} d$from -> d$to"
}
xmigmig() { # name domain guest workload rep policy
  dom=$(xl domid $2 2>/dev/null)
  mig $1 --name $2 --policy $6
  meta $1 "xmig-$6" $3 $4 $5 $MIG_T0 $MIG_T1
}
twins() { # config-file name: create NAME and NAME-xl from one config
  sed "s/^name = .*/name = \"$2\"/" $1 > /etc/xen/$2.cfg
  sed "s/^name = .*/name = \"$2-xl\"/" $1 > /etc/xen/$2-xl.cfg
  xl create /etc/xen/$2.cfg > $R/create-$2.txt 2>&1 || say "FAIL xl create $2"
  xl create /etc/xen/$2-xl.cfg > $R/create-$2-xl.txt 2>&1 || say "FAIL xl create $2-xl"
}
pairs() { # guest workload
  local g=$1 w=$2 withxl=1 r=1 s order
  while [ $r -le $BENCH_REPS ]; do
    case $((r % 3)) in
      1) order="xl downtime xen-classic";;
      2) order="downtime xen-classic xl";;
      0) order="xen-classic xl downtime";;
    esac
    for s in $order; do
      if [ $s = xl ]; then
        [ "$withxl" = 1 ] || continue
        xlmig bench-$g-$w-xl-r$r $g-xl $g $w $r
        if [ $rc != 0 ] && [ $r = 1 ]; then
          withxl=0; say "xl cannot migrate $g-xl: no more xl runs for this guest"
        fi
      else
        xmigmig bench-$g-$w-$s-r$r $g $g $w $r $s
      fi
      sleep ${BENCH_GAP:-3}
    done
    r=$((r+1))
  done
}

BENCH_REPS=${BENCH_REPS:-1}
if [ -z "$SKIP_XG" ] && [ "$BENCH_REPS" -gt 0 ]; then
  cp /etc/xen/xg.cfg /etc/xen/xg-base.cfg
  twins /etc/xen/xg-base.cfg xg
  sleep ${WARMUP:-4}
  GMEM=${MEM:-64}M
  pairs xg "ws${WS:-8M}"
  xl destroy xg 2>/dev/null; xl destroy xg-xl 2>/dev/null
fi

if [ -f $H/vmlinuz-guest ] && [ -z "$SKIP_LINUX" ]; then
  cp $H/vmlinuz-guest /var/lib/xen/images/vmlinuz
  cp $H/guest.cpio /var/lib/xen/images/guest.cpio
  # Linux workloads, name:ws_MiB:rate_MiB_per_s, comma-separated; each boots
  # fresh twins.
  for wl in $(echo "${LX_WORKLOADS:-idle:0:0,w16:16:8}" | tr ',' ' '); do
    w=${wl%%:*}; rest=${wl#*:}; ws=${rest%%:*}; rate=${rest#*:}
    # the twins: lx (PVH) or lxpv (PV), and LX-xl
    LXTYPE=pvh; LX=lx; [ -n "$PV" ] && LXTYPE=pv && LX=lxpv
    lx_cfg /etc/xen/lx-base.cfg $LX $LXTYPE "lxws=$ws lxrate=$rate"
    plan linux-$w
    [ -n "$PV" ] && [ -z "$pv_done" ] && [ -z "$QUICK" ] && {
      plan fail; i=1; while [ $i -le $REPEAT ]; do plan pv-rep$i; i=$((i+1)); done; plan adopt; }
    step boot-$LX-$w ${LINUX_BOOT_BASE:-120}
    if [ "$BENCH_REPS" -gt 0 ]; then twins /etc/xen/lx-base.cfg $LX
    else xl create /etc/xen/lx-base.cfg > $R/create-$LX.txt 2>&1 || say "FAIL xl create $LX"; fi
    if [ -n "$PV" ]; then
      # PV: until the twins print heartbeats on their consoles
      i=0
      while [ $i -lt $STEP_BUDGET ] && ! { grep -q "LX HB" $C/guest-$LX.log &&
          { [ "$BENCH_REPS" = 0 ] || grep -q "LX HB" $C/guest-$LX-xl.log; }; } 2>/dev/null; do
        sleep 1; i=$((i+1))
      done
      if grep -q "LX HB" $C/guest-$LX.log 2>/dev/null; then say "$LX: heartbeats on its console after $i s"
      else say "FAIL $LX: no heartbeat on its console after $i s"; fi
    else
      # PVH: until its heartbeats reach Xen's console (port 0xe9)
      i=0; d=$(xl domid $LX 2>/dev/null)
      while [ $i -lt $STEP_BUDGET ] && ! grep -q "(d$d) .*LX HB" $R/dmesg.txt 2>/dev/null; do
        sleep 1; i=$((i+1))
      done
      if grep -q "(d$d) .*LX HB" $R/dmesg.txt 2>/dev/null; then say "$LX: heartbeats after $i s"
      else say "FAIL $LX: no heartbeat after $i s"; fi
      sleep ${LINUX_SETTLE:-5}
    fi
    step_end
    say "linux guests ($w): $LX d$(xl domid $LX 2>/dev/null), $LX-xl d$(xl domid $LX-xl 2>/dev/null), $(grep extra /etc/xen/lx-base.cfg)"
    # the first xmig migration of each boot also verifies memory (digest)
    dom=$(xl domid $LX 2>/dev/null)
    GMEM=${LX_MEM:-256}M
    mig linux-$w --verify --name $LX
    sleep ${BENCH_GAP:-3}
    # frames a live domain gave back come out of Xen unscrubbed: the
    # destination must clear the new frames it does not write (--verify)
    if [ -z "$heap_done" ]; then
      heap_done=1
      plan linux-dirty-heap
      dom=$(xl domid $LX 2>/dev/null)
      mig linux-dirty-heap --verify --dirty-heap ${DIRTY_HEAP_MIB:-64} --name $LX
      sleep ${BENCH_GAP:-3}
    fi
    # PV: the sender killed with the guest suspended for stop-and-copy;
    # xmig-send --cleanup --resume must bring the suspended guest back
    if [ -n "$PV" ] && [ -z "$pvkill_done" ]; then
      pvkill_done=1
      plan kill-send-stopped-pv
      dom=$(xl domid $LX 2>/dev/null)
      kill_scn kill-send-stopped-pv send ready $LX
      sleep ${BENCH_GAP:-3}
    fi
    # PVH: the guest balloons up while it migrates; the new domain must have
    # every frame (--verify covers the set of frames) and the added memory
    if [ -z "$PV" ] && [ -z "$balloon_done" ] && [ -z "$SKIP_BALLOON" ]; then
      balloon_done=1
      plan linux-balloon-down
      plan linux-balloon
      full=${LX_MEM:-256}; lo=$((full * 3 / 4))
      # the guest gives back frames round 0 has sent (xen-lab-migrate writes
      # its memory/target after round 0 and holds round 1 until a quarter
      # is back): the destination must give them back too (--verify)
      dom=$(xl domid $LX 2>/dev/null)
      mig linux-balloon-down --verify --balloon-to $lo --name $LX
      sleep ${BENCH_GAP:-3}
      dom=$(xl domid $LX 2>/dev/null)
      # memory/target written directly, as xl mem-set does (which needs a
      # libxl config: this domain was built by xmig's toolstack); on until
      # the count is near the target and has stopped moving
      step balloon-down ${LINUX_BOOT_BASE:-120}
      xenstore-write /local/domain/$dom/memory/target $((lo * 1024))
      i=0; prev=-1; cur=$(xl list "$dom" 2>/dev/null | awk 'NR == 2 { print $3 }')
      while [ $i -lt $STEP_BUDGET ] && { [ "${cur:-0}" -gt $((lo + 4)) ] || [ "$cur" != "$prev" ]; }; do
        sleep 2; i=$((i+2)); prev=$cur
        cur=$(xl list "$dom" 2>/dev/null | awk 'NR == 2 { print $3 }')
      done
      before=$cur
      step_end
      say "linux-balloon: d$dom ballooned down to $before MiB in $i s; up to $full MiB ${BALLOON_DELAY:-2} s into the migration"
      ( sleep ${BALLOON_DELAY:-2}; xenstore-write /local/domain/$dom/memory/target $((full * 1024)) ) &
      mig linux-balloon --verify --name $LX
      wait $!
      nd=$(newdom linux-balloon)
      sleep ${BALLOON_SETTLE:-5}
      # no new domain (the migration failed): dst_domid is 0, which is dom0
      after=
      [ -n "$nd" ] && [ "$nd" != 0 ] && after=$(xl list "$nd" 2>/dev/null | awk 'NR == 2 { print $3 }')
      echo "before=$before after=${after:-0} target=$full low=$lo" > $R/linux-balloon.mem
      if [ -n "$after" ]; then say "linux-balloon: the new domain d$nd has $after MiB"
      else say "linux-balloon: no new domain"; fi
      sleep ${BENCH_GAP:-3}
      plan fault-suspend-late
      dom=$(xl domid $LX 2>/dev/null)
      mig fault-suspend-late --fault suspend-late --suspend-timeout 2000 --verify --name $LX
      sleep ${BENCH_GAP:-3}
    fi
    if [ -n "$PV" ] && [ -z "$pv_done" ] && [ -z "$QUICK" ]; then
      pv_done=1
      dom=$(xl domid $LX 2>/dev/null)
      mig fail --fail-load --name $LX
      sleep ${BENCH_GAP:-3}
      i=1
      while [ $i -le $REPEAT ]; do
        dom=$(xl domid $LX 2>/dev/null)
        mig pv-rep$i --name $LX
        sleep ${BENCH_GAP:-3}
        i=$((i+1))
      done
      dom=$(xl domid $LX 2>/dev/null)
      mig adopt --adopt --name $LX
      sleep ${BENCH_GAP:-3}
    fi
    [ "$BENCH_REPS" -gt 0 ] && pairs $LX $w
    xl list > $R/linux-list-$w.txt 2>&1
    for f in /var/log/xen/console/guest-$LX*.log; do
      [ -f "$f" ] && mv "$f" "$R/$(basename "$f" .log)-$w.log"
    done
    xl destroy $LX 2>/dev/null; xl destroy $LX-xl 2>/dev/null
    sleep 2
  done
fi
sleep 1
xl dmesg -c >> $R/dmesg.txt 2>/dev/null
kill $DRAIN 2>/dev/null
say "done t=$(now)"
echo "done" >> $R/progress.txt

#!/bin/sh
# SPDX-License-Identifier: MIT
# The seed scenario on two nested Xen hosts (tests/xen-lab/run --two-hosts):
# xen01 (ROLE=a, 10.0.0.11) and xen02 (ROLE=b, 10.0.0.12), whose dom0s'
# eth0 QEMU joins with a socket netdev; each bridges it (xenbr0), so the
# guest's vif is on the same LAN wherever the guest runs. The guest's disk
# is, in turn, the DRBD resource r0 (protocol C, two primaries allowed while
# a migration runs, Xen's block-drbd hotplug script from drbd-utils) on a
# loop device in each dom0, and an AoE volume, e0.0, that vblade exports on
# the LAN from a network namespace of xen01's (a storage box of its own on
# xenbr0: an AoE initiator does not see a target on its own interface)
# and both dom0s' aoe initiators attach. Stock `xl migrate` moves the guest
# xen01 -> xen02 -> xen01 ..., on xmig's save helper and on Xen's own,
# alternated; across each one, xen01's dom0 pings the guest every 10 ms and
# keeps a TCP stream to it, and the guest's disk checker writes and reads
# back its blocks. Before all that, xmig's own tools (xmig-send to
# xmig-recv) move a guest without devices, xt, between the hosts.
#
# xen01 drives: xen02 runs what xen01 sends to its port 7001 (a shell on the
# lab's own link between the two QEMUs, nothing else reaches it).
# Results (xen01's share): results/*.json, summary.txt, progress.txt (the
# watchdog's steps), the guest's consoles of both hosts.
H=/mnt/host
R=$H/results
mkdir -p $R /var/lib/xen/images
[ -f $H/env ] && . $H/env
now() { cut -d' ' -f1 /proc/uptime; }
say() { echo "$*" | tee -a $R/summary.txt; }
A_IP=10.0.0.11 B_IP=10.0.0.12 XH_IP=10.0.0.2 XH_MAC=00:16:3e:58:4d:02
XLH=/usr/local/libexec/xmig/xmig-xl-helper
STOCK=/usr/lib/xen-4.17/bin/libxl-save-helper
REPS=${TWO_REPS:-2}
DISKS=$(echo ${TWO_DISKS:-drbd aoe} | tr , ' ')
[ "$DISKS" = none ] && DISKS=
# (lists: spaces or commas; XMIG_LAB_ENV takes commas, "TWO_DISKS=drbd,aoe")
# the faults (below), run on each disk of FAULT_DISKS after its migrations
FAULTS=$(echo ${TWO_FAULTS-cut-live cut-susp cut-ready drop-ready link-live link-ready link-promoted kill-send kill-recv} | tr , ' ')
FAULT_DISKS=$(echo ${TWO_FAULT_DISKS-drbd} | tr , ' ')
# whose helper the faults run on: xmig's (judged), stock (Xen's own, for
# comparison: reported, its failures not the lab's)
FAULT_HELPERS=$(echo ${TWO_FAULT_HELPERS-xmig} | tr , ' ')
C=/var/log/xen/console
if [ "$ROLE" = b ]; then ME=xen02; MY_IP=$B_IP; PEER_IP=$A_IP
else ME=xen01; MY_IP=$A_IP; PEER_IP=$B_IP; fi

# The host's speed, as in dom0-scenarios.sh: budgets scale with it.
CALIB_REF=${CALIB_REF:-2.0}
t=$(now); i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done
CALIB=$(awk "BEGIN { print $(now) - $t }")
SCALE=$(awk "BEGIN { f = $CALIB / $CALIB_REF; print (f < 1 ? 1 : f) }")
budget() { awk "BEGIN { printf \"%d\", $1 * $SCALE + 0.5 }"; }
STEP=
step() { STEP=$1; STEP_BUDGET=$(budget $2)
  [ $ROLE = a ] && echo "start $1 budget=$STEP_BUDGET t=$(now)" >> $R/progress.txt; }
step_end() { [ -n "$STEP" ] && [ $ROLE = a ] &&
  echo "end $STEP rc=${1:-0} secs=0" >> $R/progress.txt; STEP=; }

# --- both hosts: tools, network, DRBD -----------------------------------
hostname $ME
ip link set lo up
mkdir -p /usr/local/libexec/xmig
cp $H/xmig-xl-helper $XLH
cp $H/xmig-dump $H/xmig-send $H/xmig-recv $H/lab-tools /usr/local/bin/
cp $H/vmlinuz-guest /var/lib/xen/images/vmlinuz
cp $H/guest.cpio /var/lib/xen/images/guest.cpio
for m in virtio_net bridge xen-netback xen-blkback loop drbd veth; do
  modprobe $m 2>/dev/null || say "$ME: no module $m"
done
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for i in 0:stdin 1:stdout 2:stderr; do
  [ -e /dev/${i#*:} ] || ln -s /proc/self/fd/${i%%:*} /dev/${i#*:}
done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip link add xenbr0 type bridge
ip link set eth0 master xenbr0
ip link set eth0 up
ip addr add $MY_IP/24 dev xenbr0
ip link set xenbr0 up
say "$ME: eth0 $(cat /sys/class/net/eth0/address 2>/dev/null) in xenbr0, $MY_IP"

truncate -s 64M /var/lib/xen/images/r0.img
LOOP=$(losetup -f --show /var/lib/xen/images/r0.img)
# (drbdmeta locks /var/lock/drbd-MAJOR-MINOR: the initramfs has no /var/lock)
mkdir -p /etc/drbd.d /var/lib/drbd /var/lock /run/lock /var/run/drbd
cat > /etc/drbd.conf <<EOF
include "/etc/drbd.d/*.res";
EOF
# (each host names its own loop device for both: drbdadm reads its own)
# Fencing (TWO_DRBD_FENCE, default 1): a host whose DRBD link is gone may
# not make its half primary, nor write as a primary, unless the peer has
# outdated its own half; the fence-peer handler asks the peer over the
# hosts' link (port 7003) to do so (exit 4) and otherwise refuses (exit 1):
# a primary's I/O then waits until the link is back (resource-and-stonith),
# with no new generation of the data, so the halves meet again in sync.
# Without it, a destination cut off after the stream promotes its half
# while the source still holds its own, or both primaries (the migration's
# two) lose each other: a split brain when they meet (link-ready,
# link-promoted)
if [ "${TWO_DRBD_FENCE:-1}" = 1 ]; then
  FENCE="disk { fencing resource-and-stonith; }
  handlers { fence-peer \"/usr/local/sbin/lab-fence-peer\"; }"
  cat > /usr/local/sbin/lab-fence-peer <<FP
#!/bin/sh
r=\$(timeout 5 socat -T 5 - TCP:$PEER_IP:7003 < /dev/null 2> /dev/null)
echo "lab-fence-peer: the peer $PEER_IP says '\$r'" 2> /dev/null > /dev/kmsg
[ "\$r" = outdated ] && exit 4
exit 1
FP
  chmod +x /usr/local/sbin/lab-fence-peer
  socat TCP-LISTEN:7003,reuseaddr,fork \
    SYSTEM:'drbdadm outdate r0 > /dev/null 2>&1 && echo outdated || echo refused' \
    < /dev/null > /dev/null 2>&1 &
else FENCE=; fi
cat > /etc/drbd.d/r0.res <<EOF
resource r0 {
  protocol C;
  net { allow-two-primaries; }
  $FENCE
  on xen01 { device /dev/drbd0; disk $LOOP; address $A_IP:7789; meta-disk internal; }
  on xen02 { device /dev/drbd0; disk $LOOP; address $B_IP:7789; meta-disk internal; }
}
EOF
yes yes | drbdadm create-md --force r0 > $R/drbd-$ME.txt 2>&1
drbdadm up r0 >> $R/drbd-$ME.txt 2>&1 || say "$ME: FAIL drbdadm up r0"

# AoE: xen01 runs the target, vblade, in a namespace of its own ("san",
# 10.0.0.0/24 has no address there: AoE is plain Ethernet) whose veth end
# is a port of xenbr0; the initiators of both dom0s (aoe.ko) look on xenbr0
if [ "$ROLE" = a ]; then
  truncate -s 64M /var/lib/xen/images/aoe.img
  ip netns add san && ip link add vsan type veth peer name san0 &&
    ip link set san0 netns san && ip link set vsan master xenbr0 && ip link set vsan up &&
    ip netns exec san ip link set san0 up && ip netns exec san ip link set lo up ||
    say "$ME: FAIL the AoE target's namespace"
  ip netns exec san vblade 0 0 san0 /var/lib/xen/images/aoe.img > $R/vblade.log 2>&1 &
fi
modprobe aoe aoe_iflist=xenbr0 2>/dev/null || say "$ME: no module aoe"

# lx_cfg FILE NAME TYPE MIB KNOBS [LINE...]: the xl config of a lab Linux
# guest (the share's kernel and initramfs, lx-init.sh's KNOBS, its
# heartbeats on the console) of type pv or pvh, with LINEs added
lx_cfg() {
  local f=$1 n=$2 t=$3 m=$4 k=$5
  shift 5
  printf '%s\n' "name = \"$n\"" "type = \"$t\"" \
    'kernel = "/var/lib/xen/images/vmlinuz"' 'ramdisk = "/var/lib/xen/images/guest.cpio"' \
    "extra = \"console=hvc0 quiet $k lxhb=${LX_HB:-20} lxout=console\"" \
    "memory = $m" 'vcpus = 1' 'on_crash = "preserve"' "$@" > $f
  # PVH under TCG: no NRIPS, so no rdtscp (the lab's notes)
  [ $t = pv ] || echo 'cpuid = "host,rdtscp=0"' >> $f
}
# the guest, the same on both hosts: one config per disk (xh-drbd.cfg,
# xh-aoe.cfg), the same name, NIC and address
for d in drbd aoe; do
  case $d in
    drbd) disk="'vdev=xvda,access=rw,script=block-drbd,target=r0'";;
    aoe) disk="'vdev=xvda,access=rw,target=/dev/etherd/e0.0'";;
  esac
  lx_cfg /etc/xen/xh-$d.cfg xh pvh ${LX_MEM:-256} "lxws=0 lxrate=0 lxnet=$XH_IP/24 lxdisk=/dev/xvda" \
    "vif = [ 'bridge=xenbr0,mac=$XH_MAC' ]" "disk = [ $disk ]"
done

if [ "$ROLE" = b ]; then
  # serve xen01's commands until it is done (each connection: a script on
  # stdin, its output back)
  # (a listener that ends is said, with what ran then, and started again;
  # -t: socat's own 0.5 s after xen01's end of the script would cut off the
  # output of any command slower than that, as xl is on a busy host)
  listen() { socat -t 3600 -d -d -lf $R/socat-b.log TCP-LISTEN:7001,reuseaddr,fork EXEC:/bin/sh,stderr \
    > /dev/null 2>&1 & LPID=$!; }
  listen
  echo "XMIG-LAB B READY"
  while [ ! -e /tmp/quit ]; do
    sleep 1
    kill -0 $LPID 2>/dev/null && continue
    wait $LPID; say "xen02: the command listener ended (rc $?) at t=$(now); started again"
    ps -ef > $R/ps-b-$(now).txt 2>&1
    listen
  done
  exit 0
fi

# --- xen01 drives ---------------------------------------------------------
: > $R/progress.txt
plan() { echo "$*" | tr ' ' '\n' >> $R/plan.txt; }
# on_b SCRIPT: run SCRIPT in xen02's dom0, its output here
# (a failed connection is noted in onb.log: xen02 gone quiet is a finding)
# (a script must not leave a process running in the background: now and
# then socat's EXEC then waits for it, and so does this end, with -t 3600;
# the first lab runs stalled there. It closes what else the EXEC child
# inherited.)
on_b() { printf 'exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-\n%s\n' "$1" |
  socat -t 3600 - TCP:$B_IP:7001 2>> $R/onb.log ||
  echo "[$(now)] on_b failed (rc $?): $(echo "$1" | head -1 | cut -c1-80)" >> $R/onb.log; }
say "two hosts: host speed factor $SCALE"
step link 60
i=0; while [ $i -lt $STEP_BUDGET ] && ! ping -c1 -W1 $B_IP > /dev/null 2>&1; do i=$((i+1)); done
i=0; while [ $i -lt $STEP_BUDGET ] && ! on_b 'echo up' 2>/dev/null | grep -q up; do sleep 1; i=$((i+1)); done
step_end
on_b 'echo ok' | grep -q ok || { say "FAIL xen02 does not answer on $B_IP:7001"; echo "done t=$(now)" >> $R/summary.txt; exit 1; }
say "xen01 <-> xen02: link up ($(ping -c3 -i0.2 -W1 $B_IP | tail -1))"

# DRBD connected, then both halves declared in sync (both are zeros): no
# initial resync
step drbd 120
i=0
while [ $i -lt $STEP_BUDGET ] && ! drbdadm cstate r0 2>/dev/null | grep -q Connected; do
  sleep 1; i=$((i+1)); done
drbdadm -- --clear-bitmap new-current-uuid r0 >> $R/drbd-xen01.txt 2>&1
i=0
while [ $i -lt 60 ] && [ "$(drbdadm dstate r0 2>/dev/null)" != UpToDate/UpToDate ]; do
  sleep 1; i=$((i+1)); done
step_end
say "drbd r0: $(drbdadm cstate r0 2>&1) $(drbdadm dstate r0 2>&1) $(drbdadm role r0 2>&1)"
cat /proc/drbd >> $R/drbd-xen01.txt 2>&1

# AoE: e0.0 seen by both dom0s (the target's answer to a discover)
step aoe 60
aoewait="i=0; while [ \$i -lt $STEP_BUDGET ] && [ ! -b /dev/etherd/e0.0 ]; do aoe-discover 2>/dev/null; sleep 1; i=\$((i+1)); done; [ -b /dev/etherd/e0.0 ] && echo seen"
aoe_a=$(sh -c "$aoewait"); aoe_b=$(on_b "$aoewait")
step_end
say "aoe e0.0: xen01 ${aoe_a:-NOT SEEN}, xen02 ${aoe_b:-NOT SEEN} ($(aoe-stat 2>&1 | tr -s ' ' | head -1))"

# boot DISK: the guest on xen01 with its disk on DISK; its heartbeats, its
# own gaps (LX GAP, on its wall clock, which both hosts take from the
# machine's) and its disk checker on its console, logged by xenconsoled on
# the host it runs on; a TCP stream from xen01's dom0 into it
boot() {
  step boot-$1 180
  xl create /etc/xen/xh-$1.cfg > $R/create-xh-$1.txt 2>&1 ||
    say "FAIL xl create xh ($1): $(tail -3 $R/create-xh-$1.txt)"
  i=0
  while [ $i -lt $STEP_BUDGET ] && ! ping -c1 -W1 $XH_IP > /dev/null 2>&1; do sleep 1; i=$((i+1)); done
  step_end
  if ping -c1 -W1 $XH_IP > /dev/null 2>&1; then
    say "xh: up on xen01 (d$(xl domid xh)) on $1, answers ping; drbd $(drbdadm role r0)"
    echo '{"rc":0}' > $R/boot-$1.json
  else
    say "FAIL xh on $1: no answer to ping"
    echo '{"rc":1,"error":"the guest never answered ping"}' > $R/boot-$1.json
  fi
  ( n=0; while :; do echo "seq $n $(now)"; n=$((n+1)); sleep 0.1; done ) |
    busybox nc $XH_IP 7000 > /dev/null 2>> $R/tcp-$1.log &
  TCP_PID=$!
  sleep ${LINUX_SETTLE:-5}
}

# consz HOST: bytes of the guest's console logs there (xenconsoled keeps a
# migrated-in domain's log under the name it arrived with, xh--incoming)
consz() { local c="cat $C/guest-xh.log $C/guest-xh--incoming.log 2>/dev/null | wc -c"
  if [ $1 = a ]; then sh -c "$c"; else on_b "$c"; fi; }
# congap HOST SKIP: the guest's console there after SKIP bytes: the largest
# LX GAP (ms), its disk checker's last line and its errors
concut() { local c="cat $C/guest-xh.log $C/guest-xh--incoming.log 2>/dev/null | tail -c +$(( $2 + 1 ))"
  if [ $1 = a ]; then sh -c "$c"; else on_b "$c"; fi; }

# HUNG: what a host runs while a migration hangs: the processes, and for
# xl, the helpers and socat where each one waits; the domains and DRBD
HUNG='ps -eo pid,ppid,stat,etimes,wchan:24,args; for p in $(pgrep -f "xl |xmig-xl-helper|libxl-save-helper|socat"); do echo "== $p $(tr "\\0" " " < /proc/$p/cmdline)"; cat /proc/$p/stack 2>/dev/null | head -8; ls -l /proc/$p/fd 2>/dev/null | tail -n +2; done; xl list; cat /proc/drbd; tail -20 /var/log/xen/xl-xh.log 2>/dev/null'

# The faults: xl migrate xen01 -> xen02 on xmig's helper, and one of
#   cut-live   the migration's connection silenced once the sending helper
#              wrote 4 MiB (the socat that carries it on xen01 stopped), for
#              HOLD s (longer than the receiver's 30 s record limit), then
#              torn down (that socat killed)
#   cut-susp   the same from the moment libxl asks the guest to suspend
#   cut-ready  the same once the receiving helper has ended: the stream is
#              through, xen02 is creating the devices, xl's "ready" and "go"
#              still to come
#   drop-ready the connection torn down at once (no silence) when the
#              receiving helper has ended: xl on xen02 then cannot send its
#              "ready" (or its report) and exits without destroying its
#              copy; the helper's guard must (docs/xl-helper.md, Failures)
#   link-live  xen02's link itself down (its eth0, DRBD's link too) for HOLD
#              s once the sending helper wrote 4 MiB
#   link-ready xen02's link down for HOLD s once the receiving helper has
#              ended: the stream is through, xen02 creates the devices
#              (block-drbd promotes the disk there, DRBD's peer out of
#              reach) and sends "ready" into a dead link; when the link is
#              back, xl on either end may go on or give up: the guest must
#              end on one host, the one DRBD's primary is on, no split brain
#   link-promoted  the same as link-ready, once xen02's DRBD half is primary
#              (both are: the migration's two primaries lose each other)
#   kill-send  the sending helper killed (-9) once it wrote 4 MiB
#   kill-recv  the receiving helper killed 5 s after it started, in the
#              first live round (which takes a minute on the lab's link; its
#              reads are recv(2) on a socket, which /proc/PID/io's rchar
#              does not count)
# Each but link-ready and link-promoted must fail, and leave the guest
# running on xen01 only, answering,
# its TCP stream and disk checker sound, no second domain on either host,
# DRBD connected with one primary (xen01), no split brain.
# (not scaled: it has to outlast the helper's own 30 s record limit,
# timeout_ms, which is the same on every machine)
HOLD=${TWO_CUT_HOLD:-40}
PIPE_RE='^socat -lp migpipe '
# (set per migration from its helper: hlp_patterns HELPER)
hlp_patterns() { HLP_SEND="^$1 --save-domain"; HLP_RECV="^$1 --restore-domain"; }
# (the patterns are anchored: the shells and xl that run these commands
# carry them in their own argv)
newest() { # REGEX: the newest process whose command line matches, waited for
  local i=0 p
  while [ $i -lt $((STEP_BUDGET * 10)) ]; do
    p=$(pgrep -n -f "$1") && { echo $p; return 0; }
    sleep 0.1; i=$((i+1))
  done
  return 1
}
io_wait() { # PID FIELD BYTES: until /proc/PID/io's FIELD reaches BYTES; prints it
  local v
  while v=$(awk -v f=$2 '$1 == f":" { print $2 }' /proc/$1/io 2>/dev/null) && [ -n "$v" ]; do
    [ "$v" -ge $3 ] && { echo $v; return 0; }
    sleep 0.05
  done
  return 1
}
state_of() { xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }'; }
# silence WHEN: the migration's connection (the socat $PIPE, found when the
# fault began: no search in the moment) silenced, HOLD s later torn down
silence() {
  kill -STOP $PIPE 2>/dev/null || { echo "NOT FIRED: the socat carrying the migration is gone ($1)"; return; }
  echo "the migration's connection silenced $1 (the source $(state_of $SRC_DOM)),"
  sleep $HOLD
  kill -9 $PIPE
  echo "torn down $HOLD s later"
}
# fault KIND: the fault's trigger and action, while xl migrate runs on
# xen01; what it did on stdout (NAME.fault)
fault() {
  local p v
  case $1 in cut-*|drop-*)
    PIPE=$(newest "$PIPE_RE") || { echo "NOT FIRED: no socat carrying the migration"; return; };;
  esac
  case $1 in
    cut-live|link-live|kill-send)
      if ! p=$(newest "$HLP_SEND") || ! v=$(io_wait $p wchar 4194304); then
        echo "NOT FIRED: no sending helper, or it ended before 4 MiB"; return
      fi
      case $1 in
        cut-live) silence "after the sending helper wrote $v bytes";;
        kill-send) kill -9 $p
          echo "killed the sending helper (pid $p) after it wrote $v bytes, the source $(state_of $SRC_DOM)";;
        link-live)
          # (in the background there, all its files closed; and on_b in the
          # background here: its answer may not get out before the link goes)
          echo "xen02's link down for $HOLD s from 1 s after the sending helper wrote $v bytes (the source $(state_of $SRC_DOM))"
          on_b "setsid sh -c 'sleep 1; ip link set eth0 down; sleep $HOLD; ip link set eth0 up' < /dev/null > /dev/null 2>&1 &" &
          sleep $((HOLD + 1));;
      esac;;
    cut-susp)
      # libxl writes "suspend" to the guest's control/shutdown when the
      # helper asks: the watch's second event (the first is its own)
      if newest "$HLP_SEND" > /dev/null &&
        timeout $STEP_BUDGET xenstore-watch -n 2 /local/domain/$SRC_DOM/control/shutdown > /dev/null; then
        silence "at the suspend request"
      else
        echo "NOT FIRED: no suspend request in $STEP_BUDGET s"
      fi;;
    cut-ready|drop-ready)
      v=$(on_b "i=0; while [ \$i -lt $((STEP_BUDGET * 10)) ] && ! pgrep -f '$HLP_RECV' > /dev/null; do sleep 0.1; i=\$((i+1)); done
        pgrep -f '$HLP_RECV' > /dev/null || { echo none; exit; }
        while [ \$i -lt $((STEP_BUDGET * 10)) ] && pgrep -f '$HLP_RECV' > /dev/null; do sleep 0.1; i=\$((i+1)); done
        pgrep -f '$HLP_RECV' > /dev/null && echo running || echo ended")
      if [ "$v" != ended ]; then echo "NOT FIRED: the receiving helper on xen02: ${v:-no answer}"
      elif [ $1 = cut-ready ]; then silence "once the receiving helper had ended"
      elif kill -9 $PIPE 2>/dev/null; then
        echo "the migration's connection torn down once the receiving helper had ended (the source $(state_of $SRC_DOM))"
      else echo "NOT FIRED: the socat carrying the migration is gone"; fi;;
    link-ready|link-promoted)
      # (all on xen02, no round trip between the trigger and the cut: it
      # notes what it did in /tmp/link-fault, read once the link is back)
      case $1 in
        link-ready) w="pgrep -f '$HLP_RECV' > /dev/null"; what="the receiving helper had ended";;
        link-promoted) w="! drbdadm role r0 2>/dev/null | grep -q '^Primary/Primary'"; what="the DRBD half on xen02 had been made primary (both primary)";;
      esac
      on_b "rm -f /tmp/link-fault; setsid sh -c \"i=0; while [ \\\$i -lt $((STEP_BUDGET * 10)) ] && ! pgrep -f '$HLP_RECV' > /dev/null; do sleep 0.1; i=\\\$((i+1)); done
        pgrep -f '$HLP_RECV' > /dev/null || { echo 'NOT FIRED: no receiving helper on xen02' > /tmp/link-fault; exit; }
        while [ \\\$i -lt $((STEP_BUDGET * 20)) ] && $w; do sleep 0.05; i=\\\$((i+1)); done
        $w && { echo 'NOT FIRED: not in time: $what' > /tmp/link-fault; exit; }
        ip link set eth0 down; echo \\\"xen02's link down for $HOLD s once $what (xen02's DRBD \\\$(drbdadm role r0))\\\" > /tmp/link-fault; cp /tmp/link-fault $R/link-fault.txt
        sleep $HOLD; ip link set eth0 up\" < /dev/null > /dev/null 2>&1 &"
      # (an on_b while the link is down connects once it is back)
      i=0; while [ $i -lt $STEP_BUDGET ]; do
        v=$(on_b 'cat /tmp/link-fault 2>/dev/null')
        [ -n "$v" ] && break
        sleep 2; i=$((i+2))
      done
      echo "${v:-NOT FIRED: no word from xen02}";;
    kill-recv)
      v=$(on_b "i=0; p=
        while [ \$i -lt $((STEP_BUDGET * 10)) ] && ! p=\$(pgrep -n -f '$HLP_RECV'); do sleep 0.1; i=\$((i+1)); done
        [ -n \"\$p\" ] || { echo 'NOT FIRED: no receiving helper'; exit; }
        sleep 5
        kill -9 \$p 2>/dev/null || { echo 'NOT FIRED: the receiving helper ended within 5 s'; exit; }
        echo \"killed the receiving helper (pid \$p) 5 s after it started, in the first live round\"")
      echo "${v:-NOT FIRED: no answer from xen02}, the source $(state_of $SRC_DOM)";;
    *) echo "NOT FIRED: unknown fault $1";;
  esac
}

# DRBD on both hosts connected again (after a cut link it reconnects and
# resyncs), within a budget: its connection states, "xen01/xen02"
drbd_settle() {
  local i=0 a b
  while :; do
    a=$(drbdadm cstate r0 2>&1); b=$(on_b 'drbdadm cstate r0 2>&1')
    { [ "$a" = Connected ] && [ "$b" = Connected ]; } || [ $i -ge $(budget 90) ] && break
    sleep 1; i=$((i+1))
  done
  echo "$a/$b"
}

# leftovers NAME GUEST: what is left of GUEST's besides GUEST itself
# (GUEST--incoming, GUEST--migratedaway: recorded in NAME.json, judged by
# twohost.py) goes from both hosts, so that the next migration finds them
# clean
leftovers() {
  local cl="for d in \$(xl list 2>/dev/null | awk 'NR > 1 && \$1 ~ /^$2-/ { print \$2 }'); do xl destroy \$d && echo \$d; done" c1 c2
  c1=$(sh -c "$cl" 2>&1 | tr '\n' ' '); c2=$(on_b "$cl" 2>&1 | tr '\n' ' ')
  [ -n "$c1$c2" ] && say "$1: the lab destroyed what was left: xen01 ${c1:-nothing}, xen02 ${c2:-nothing}"
}

# migrate NAME FROM HELPER [FAULT]: xl migrate of xh from FROM (a or b) to
# the other host, both ends on HELPER; xen01's ping every 10 ms across it,
# and the guest's ARP packets on xen01's bridge (its gratuitous ARP after
# the resume, wherever it resumed, reaches xen01's xenbr0); FAULT one of
# the faults above
migrate() {
  local n=$1 from=$2 hlp=$3 flt=$4 rc t0 t1 to tgt i lim marka markb on b
  to=$B_IP; tgt=b; [ $from = b ] && to=$A_IP && tgt=a
  # not there (an earlier migration failed and the guest stayed): not run
  if { [ $from = a ] && ! xl domid xh > /dev/null 2>&1; } ||
     { [ $from = b ] && ! on_b 'xl domid xh' 2>/dev/null | grep -q '^[0-9]'; }; then
    printf '{"rc":null,"disk_kind":"%s","from":"%s","to":"%s","helper":"%s","not_run":"the guest is not on xen0%s (an earlier migration failed)"}\n' \
      $DISK $from $tgt "$([ $hlp = $XLH ] && echo xmig || echo stock)" "$([ $from = a ] && echo 1 || echo 2)" > $R/$n.json
    say "$n not run: $(cat $R/$n.json)"
    return 0
  fi
  marka=$(consz a); markb=$(consz b)
  # xen02's clock against xen01's (ms), from one round trip, for the
  # breakdown that puts both ends' logs on one clock
  ca=$(date +%s.%N); cb=$(on_b 'date +%s.%N'); cc=$(date +%s.%N)
  skew=$(awk "BEGIN { if (\"$cb\" == \"\") print \"null\"; else printf \"%.1f\", ($cb - ($ca + $cc) / 2) * 1000 }")
  step $n 420
  ping -n -D -i 0.01 -W 1 $XH_IP > $R/$n.ping 2>&1 &
  PING_PID=$!
  lab-tools arpwatch xenbr0 $XH_MAC > $R/$n.arp 2>&1 &
  ARP_PID=$!
  SRC_DOM=$(xl domid xh 2>/dev/null)
  hlp_patterns $hlp
  # the receiving end: xl migrate-receive on the connection
  # (the logs go straight to each host's share, readable while it runs:
  # $R is the same path in both dom0s, each its own share)
  # (xl's stderr stamped with the wall clock, line by line, at both ends:
  # its stdout is the migration's channel)
  rcv="LIBXL_SAVE_HELPER=$hlp socat TCP-LISTEN:7000,reuseaddr SYSTEM:'{ xl -vvv migrate-receive 2>&1 1>&3 3>&- | lab-tools stamp > $R/$n.recv.log; } 3>&1'"
  # (on xen02, the command's connection lasts as long as the receiver: a
  # script there that left it running in the background would keep its
  # connection open anyway, now and then for good, in socat's EXEC)
  if [ $from = a ]; then on_b "$rcv" > /dev/null 2>&1 &
  else sh -c "$rcv" < /dev/null > /dev/null 2>&1 & fi
  RCV_PID=$!
  # its socket listening before xl starts (7000 is 1B58 in /proc/net/tcp;
  # on a busy host the receiver can take seconds to get there)
  lsn="i=0; while [ \$i -lt $(budget 30) ] && ! grep -q ':1B58 00000000:0000 0A' /proc/net/tcp; do sleep 0.5; i=\$((i+1)); done; grep -q ':1B58 00000000:0000 0A' /proc/net/tcp && echo listening"
  if [ $tgt = b ]; then lst=$(on_b "$lsn"); else lst=$(sh -c "$lsn"); fi
  [ "$lst" = listening ] || say "$n: the receiver on xen0${tgt#?} is not listening on port 7000 (going on: xl will say)"
  t0=$(now)
  # (a migration that hangs is stopped at the step's budget, after what
  # both hosts run then is written down: xl, the helpers, where they wait)
  ( sleep $STEP_BUDGET
    say "$n: xl migrate still running after $STEP_BUDGET s: killed; what both hosts ran then is in $n.hung-xen01.txt, $n.hung-xen02.txt"
    sh -c "$HUNG" > $R/$n.hung-xen01.txt 2>&1
    on_b "$HUNG" > $R/$n.hung-xen02.txt 2>&1
    # nothing of this migration left running on either host (the script
    # on stdin: a pkill -f must not match the shell that runs it)
    k="pkill -9 -f 'xl -vvv migrate'; pkill -9 -f xmig-xl-helper; pkill -9 -f libxl-save-helper; pkill -9 -f 'TCP-LISTEN:7000'"
    echo "$k" | sh; on_b "$k" ) > /dev/null 2>&1 &
  WD=$!
  run="{ LIBXL_SAVE_HELPER=$hlp xl -vvv migrate -s '' xh 'socat -lp migpipe - TCP:$to:7000' 2>&1; echo xlrc=\$?; } | lab-tools stamp > $R/$n.send.log; sed -n 's/^.[0-9.]*. xlrc=/rc=/p' $R/$n.send.log"
  FPID=
  [ -n "$flt" ] && { fault $flt > $R/$n.fault 2>&1 & FPID=$!; }
  if [ $from = a ]; then rc=$(sh -c "$run" | sed -n 's/^rc=//p')
  else rc=$(on_b "$run" | sed -n 's/^rc=//p'); fi
  t1=$(now)
  kill $WD 2>/dev/null; wait $WD 2>/dev/null
  # (a fault still waiting for its trigger when xl ended did not fire)
  # (a link fault's word comes from xen02 once the link is back: given time)
  if [ -n "$FPID" ]; then
    i=0; lim=1; case $flt in link-*) lim=$(budget 60);; esac
    while kill -0 $FPID 2>/dev/null && [ $i -lt $lim ]; do sleep 1; i=$((i+1)); done
    kill $FPID 2>/dev/null; wait $FPID 2>/dev/null
    # (and if its word never came through, it is asked for again here)
    case $flt in link-*) [ -s $R/$n.fault ] ||
      on_b 'cat /tmp/link-fault 2>/dev/null || echo "NOT FIRED: no word on xen02"' > $R/$n.fault 2>&1;; esac
  fi
  # a receiver that xl never reached (its socat still listening) ends here
  # (after a fault, the receiving xl is given time to fail and clean up on
  # its own: destroying its domain and running the hotplug scripts)
  # (every 5 s: is the receiving xl, or its helper, still at work there?
  # once neither is, only socat's listener is left: not waited for)
  i=0; lim=2; [ -n "$flt" ] && lim=$(budget 90)
  busy="pgrep -f '^xl -vvv migrate-receive' > /dev/null || pgrep -f '$HLP_RECV' > /dev/null && echo busy"
  while kill -0 $RCV_PID 2>/dev/null && [ $i -lt $lim ]; do
    if [ $((i % 5)) = 4 ]; then
      if [ $tgt = b ]; then b=$(on_b "$busy"); else b=$(sh -c "$busy"); fi
      [ "$b" = busy ] || { say "$n: the receiving xl and its helper have ended, after $i s: its listener goes"; break; }
    fi
    sleep 1; i=$((i+1))
  done
  if kill -0 $RCV_PID 2>/dev/null; then
    k="pkill -f 'TCP-LISTEN:7000'"
    if [ $from = a ]; then on_b "$k"; else echo "$k" | sh; fi
    say "$n: the receiver was still waiting $lim s after xl migrate ended: stopped"
  fi
  # (and if its command's connection still does not end, what xen02 runs
  # is written down and the connection closed here: never waited for)
  i=0; while kill -0 $RCV_PID 2>/dev/null && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done
  if kill -0 $RCV_PID 2>/dev/null; then
    if [ $from = a ]; then on_b "$HUNG" > $R/$n.recv-hung.txt 2>&1
    else sh -c "$HUNG" > $R/$n.recv-hung.txt 2>&1; fi
    pkill -P $RCV_PID; kill $RCV_PID 2>/dev/null
    say "$n: the receiving end's connection was still open after that: closed; what its host ran then is in $n.recv-hung.txt"
  fi
  wait $RCV_PID 2>/dev/null
  sleep ${SETTLE:-4}
  kill -INT $PING_PID 2>/dev/null; wait $PING_PID 2>/dev/null
  kill $ARP_PID 2>/dev/null; wait $ARP_PID 2>/dev/null
  # (the step ends once the JSON is written: the settling below, after a
  # fault, can take longer than the watchdog's limit between steps)
  # the logs of both ends, here
  if [ $from = a ]; then on_b "cat $R/$n.recv.log" > $R/$n.recv.log
  else on_b "cat $R/$n.send.log" > $R/$n.send.log; fi
  # the guest's console where it runs now (on the source after a fault)
  here=$(xl domid xh 2>/dev/null); there=$(on_b 'xl domid xh 2>/dev/null')
  on=$tgt
  if [ $tgt = b ]; then [ -z "$there" ] && [ -n "$here" ] && on=a
  else [ -z "$here" ] && [ -n "$there" ] && on=b; fi
  if [ $on = a ]; then concut a $marka; else concut b $markb; fi > $R/$n.console
  gap=$(awk '$1 == "LX" && $2 == "GAP" && $3 > m { m = $3 } END { print m + 0 }' $R/$n.console)
  derr=$(grep -c "LX DERR" $R/$n.console)
  disk=$(grep "LX DISK writes" $R/$n.console | tail -1 | tr -d '"\\\r')
  # does it still answer where it runs, stream and disk alike?
  after=$(ping -n -c 3 -i 0.2 -W 1 $XH_IP 2>/dev/null | grep -c "bytes from")
  tcp=false; kill -0 $TCP_PID 2>/dev/null && tcp=true
  # any other domain of the guest's (xh--incoming, xh--migratedaway) left
  # on either host; DRBD's connection (settled first after a fault) and
  # split brains the kernel reported
  lx="xl list 2>/dev/null | awk 'NR > 1 && \$1 ~ /^xh-/' | wc -l"
  sb="dmesg | grep -c 'Split-Brain detected'"
  # (after a fault, a copy xl left paused is the helper's guard's to
  # destroy, seconds after xl exits: given a budget to go)
  if [ -n "$flt" ]; then
    i=0; while [ $i -lt $(budget 60) ] && [ "$(on_b "$lx")" != 0 ]; do sleep 1; i=$((i+1)); done
  fi
  guard=$(on_b "tail -n +$GUARD_MARK /var/log/xen/xmig-xl-helper.log 2>/dev/null" | tr -d '"\\' | tr '\n' ' ')
  GUARD_MARK=$(( $(on_b 'cat /var/log/xen/xmig-xl-helper.log 2>/dev/null | wc -l') + 1 ))
  if [ -n "$flt" ] && [ $DISK = drbd ]; then cs=$(drbd_settle)
  else cs="$(drbdadm cstate r0 2>&1)/$(on_b 'drbdadm cstate r0 2>&1')"; fi
  printf '{"rc":%s,"clock_b_minus_a_ms":%s,"disk_kind":"%s","from":"%s","to":"%s","helper":"%s","wall_ms":%s,"on_xen01":"%s","on_xen02":"%s","ping_after":%s,"tcp_alive":%s,"guest_gap_ms":%s,"disk_errors":%s,"disk":"%s","drbd_xen01":"%s","drbd_xen02":"%s","drbd_cstate":"%s","split_brains":"%s/%s","left_xen01":%s,"left_xen02":%s,"fault_kind":"%s","fault":"%s","guard":"%s"}\n' \
    "${rc:-99}" "$skew" $DISK $from $tgt "$([ $hlp = $XLH ] && echo xmig || echo stock)" \
    "$(awk "BEGIN{print ($t1 - $t0) * 1000}")" "$here" "$there" "$after" $tcp "$gap" \
    "${derr:-0}" "$disk" "$(drbdadm role r0 2>&1)" "$(on_b 'drbdadm role r0 2>&1')" \
    "$cs" "$(sh -c "$sb")" "$(on_b "$sb")" "$(sh -c "$lx")" "$(on_b "$lx" | grep . || echo null)" \
    "$flt" "$(cat $R/$n.fault 2>/dev/null | tr -d '"\\' | tr '\n' ' ')" "$guard" > $R/$n.json
  say "$n rc=${rc:-99} $(cat $R/$n.json)"
  step_end ${rc:-99}
  leftovers $n xh
  return 0
}
GUARD_MARK=1

# --- xmig's own tools between the hosts -----------------------------------
# A guest without devices, xt (PV and PVH: TWO_TOOLS), moved by xmig-send on
# one host to xmig-recv on the other, its domain built there by xmig's own
# toolstack: the xen backend's cross-host path (a PV guest's page tables
# rewritten for the other host's frames), --verify's digest compared on the
# far end. The guest rewrites and checks a working set (TWO_TOOL_WS MiB at
# TWO_TOOL_RATE MiB/s) and beats on its console, logged on each host.
# A PV guest needs shadow paging for log-dirty, which Debian's current
# hypervisor lacks: PV with --pv only (both hosts on the older hypervisor)
TOOLS=$(echo ${TWO_TOOLS-${PV:+pv }pvh} | tr , ' ')
TOOL_REPS=${TWO_TOOL_REPS:-$REPS}
xt_cfg() { # KIND: /etc/xen/xt-KIND.cfg
  lx_cfg /etc/xen/xt-$1.cfg xt $1 ${TWO_TOOL_MEM:-128} "lxws=${TWO_TOOL_WS:-2} lxrate=${TWO_TOOL_RATE:-1}"
}
# at_host HOST SCRIPT: SCRIPT run on xen01 (a) or xen02 (b), its output here
at_host() { if [ $1 = a ]; then sh -c "$2"; else on_b "$2"; fi; }
# xtsz HOST: the sizes of the guest's two console logs there (xenconsoled
# logs a domain under the name it had when it came: xt, or xt--incoming
# for one xmig-recv built); xtcut HOST "SIZES": what each got since
xtsz() { at_host $1 "for f in $C/guest-xt.log $C/guest-xt--incoming.log; do if [ -f \$f ]; then wc -c < \$f; else echo 0; fi; done | tr '\n' ' '"; }
xtcut() { set -- $1 $2
  at_host $1 "tail -c +$(( $2 + 1 )) $C/guest-xt.log 2>/dev/null; tail -c +$(( $3 + 1 )) $C/guest-xt--incoming.log 2>/dev/null"; }
boot_xt() { # KIND
  local i=0 m
  step boot-xt-$1 180
  xt_cfg $1
  # (the console logs hold an earlier guest's beats: only what follows)
  m=$(xtsz a)
  xl create /etc/xen/xt-$1.cfg > $R/create-xt-$1.txt 2>&1 ||
    say "FAIL xl create xt ($1): $(tail -3 $R/create-xt-$1.txt)"
  while [ $i -lt $STEP_BUDGET ] && ! xtcut a "$m" | grep -q "LX HB"; do
    sleep 1; i=$((i+1)); done
  step_end
  if xtcut a "$m" | grep -q "LX HB"; then
    say "xt: up on xen01 (d$(xl domid xt), $1), heartbeats on its console after $i s"
    echo '{"rc":0}' > $R/boot-xt-$1.json
  else
    say "FAIL xt ($1): no heartbeat on its console after $i s"
    echo '{"rc":1,"error":"no heartbeat on the guest console"}' > $R/boot-xt-$1.json
  fi
  sleep ${LINUX_SETTLE:-5}
}
# tools_mig NAME FROM KIND: xmig-send on FROM (a or b) --verify to xmig-recv
# on the other host, over the hosts' link (port 7100). NAME.send, NAME.recv:
# the tools' words; NAME.send-json, NAME.recv-json: their JSON
# (docs/json.md; read by twohost.py); NAME.console: the guest's console on
# the host it runs on afterwards
tools_mig() {
  local n=$1 from=$2 k=$3 to tgt mark t0 t1 rc rrc i here there on hb gap err
  to=$B_IP; tgt=b; [ $from = b ] && to=$A_IP && tgt=a
  if ! at_host $from 'xl domid xt' 2>/dev/null | grep -q '^[0-9]'; then
    printf '{"rc":null,"tools_kind":"%s","from":"%s","to":"%s","not_run":"the guest is not on xen0%s (an earlier migration failed)"}\n' \
      $k $from $tgt "$([ $from = a ] && echo 1 || echo 2)" > $R/$n.json
    say "$n not run: $(cat $R/$n.json)"
    return 0
  fi
  mark=$(xtsz $tgt)
  step $n 420
  at_host $tgt "rm -f $R/$n.recv $R/$n.recv.rc $R/$n.recv-json"
  rcv="xmig-recv --backend xen --name xt --listen $to:7100 --linger 0 --timeout 120s --min-rate 64K/s --json $R/$n.recv-json > $R/$n.recv 2>&1; echo \$? > $R/$n.recv.rc"
  if [ $tgt = b ]; then on_b "$rcv" > /dev/null 2>&1 &
  else sh -c "$rcv" < /dev/null > /dev/null 2>&1 & fi
  RCV_PID=$!
  i=0
  while [ $i -lt $(budget 30) ] && [ "$(at_host $tgt "grep -q 'listening on' $R/$n.recv 2>/dev/null && echo yes")" != yes ]; do
    sleep 1; i=$((i+1)); done
  t0=$(now)
  rc=$(at_host $from "timeout -s INT $STEP_BUDGET xmig-send --backend xen --domain \$(xl domid xt) --to $to:7100 --verify --timeout 120s --json $R/$n.send-json > $R/$n.send 2>&1; echo \$?")
  t1=$(now)
  # the receiver ends on its own (--timeout; a failed sender's close)
  i=0; while kill -0 $RCV_PID 2>/dev/null && [ $i -lt $(budget 150) ]; do sleep 1; i=$((i+1)); done
  if kill -0 $RCV_PID 2>/dev/null; then
    at_host $tgt "pkill -INT -f '^xmig-recv --backend xen --name xt'"
    say "$n: xmig-recv still running $i s after xmig-send ended: interrupted"
    sleep 5; kill $RCV_PID 2>/dev/null
  fi
  wait $RCV_PID 2>/dev/null
  rrc=$(at_host $tgt "cat $R/$n.recv.rc 2>/dev/null")
  # the other host's files, here
  [ $tgt = b ] && for f in recv recv-json; do on_b "cat $R/$n.$f 2>/dev/null" > $R/$n.$f; done
  [ $from = b ] && for f in send send-json; do on_b "cat $R/$n.$f 2>/dev/null" > $R/$n.$f; done
  [ -s $R/$n.send-json ] || rm -f $R/$n.send-json
  [ -s $R/$n.recv-json ] || rm -f $R/$n.recv-json
  sleep ${SETTLE:-4}
  here=$(xl domid xt 2>/dev/null); there=$(on_b 'xl domid xt 2>/dev/null')
  on=$tgt
  if [ $tgt = b ]; then [ -z "$there" ] && [ -n "$here" ] && on=a
  else [ -z "$here" ] && [ -n "$there" ] && on=b; fi
  if [ $on = $tgt ]; then xtcut $tgt "$mark"; else xtcut $on "0 0" | tail -c 4000; fi > $R/$n.console
  hb=$(grep -c "LX HB .*errors=" $R/$n.console)
  gap=$(awk '$1 == "LX" && $2 == "GAP" && $3 > m { m = $3 } END { print m + 0 }' $R/$n.console)
  err=$(awk '$1 == "LX" && $2 == "ERR" { e++ } { if (match($0, /errors=[0-9]+/)) { v = substr($0, RSTART + 7, RLENGTH - 7) + 0; if (v > m) m = v } } END { print (e > m ? e : m) + 0 }' $R/$n.console)
  # other domains of the guest's (xt--incoming, a copy xmig left) on either host
  lx="xl list 2>/dev/null | awk 'NR > 1 && \$1 ~ /^xt-/' | wc -l"
  printf '{"rc":%s,"recv_rc":%s,"tools_kind":"%s","from":"%s","to":"%s","wall_ms":%s,"on_xen01":"%s","on_xen02":"%s","console_of":"%s","guest_gap_ms":%s,"hb_after":%s,"guest_errors":%s,"left_xen01":%s,"left_xen02":%s}\n' \
    "${rc:-99}" "${rrc:-null}" $k $from $tgt "$(awk "BEGIN{print ($t1 - $t0) * 1000}")" \
    "$here" "$there" $on "$gap" "${hb:-0}" "${err:-0}" "$(sh -c "$lx")" "$(on_b "$lx" | grep . || echo null)" > $R/$n.json
  say "$n rc=${rc:-99} $(cat $R/$n.json)"
  step_end ${rc:-99}
  leftovers $n xt
  return 0
}
for k in $TOOLS; do
  plan boot-xt-$k
  i=1
  while [ $i -le $TOOL_REPS ]; do plan tools-$k-ab$i tools-$k-ba$i; i=$((i+1)); done
done
for k in $TOOLS; do
  boot_xt $k
  i=1
  while [ $i -le $TOOL_REPS ]; do
    tools_mig tools-$k-ab$i a $k; sleep 3
    tools_mig tools-$k-ba$i b $k; sleep 3
    i=$((i+1))
  done
  xl destroy xt 2>/dev/null; on_b 'xl destroy xt 2>/dev/null'
  sleep 2
done

# DISK-fault-KIND on xmig's helper, DISK-fault-KIND-stock on Xen's
fault_name() { echo $1-fault-$2$([ $3 = stock ] && echo -stock); }
# after a fault the next starts from xen01 with DRBD connected: a split
# brain (recorded and judged already) is resolved for the host the guest
# does not run on, whose changes go (drbdadm's --discard-my-data), and a
# guest the fault let through to xen02 is migrated back on xmig's helper
# (neither judged)
guest_home() {
  local loser=b p
  [ "$DISK" = drbd ] && [ "$(drbdadm cstate r0 2>&1)/$(on_b 'drbdadm cstate r0 2>&1')" != Connected/Connected ] && {
    on_b 'xl domid xh' 2>/dev/null | grep -q '^[0-9]' && loser=a
    say "DRBD not connected after the fault: xen0${loser#?}'s changes discarded, connected again"
    fix="drbdadm disconnect r0; drbdadm secondary r0; drbdadm connect --discard-my-data r0"
    if [ $loser = a ]; then sh -c "$fix"; on_b 'drbdadm connect r0'
    else on_b "$fix"; drbdadm connect r0; fi > /dev/null 2>&1
    drbd_settle > /dev/null
  }
  on_b 'xl domid xh' 2>/dev/null | grep -q '^[0-9]' || return 0
  say "the guest is on xen02 after the fault: migrated back to xen01 first"
  LIBXL_SAVE_HELPER=$XLH socat TCP-LISTEN:7002,reuseaddr SYSTEM:'xl migrate-receive 2>/dev/null' < /dev/null > /dev/null 2>&1 &
  p=$!
  sleep 2
  on_b "LIBXL_SAVE_HELPER=$XLH timeout $(budget 420) xl migrate -s '' xh 'socat - TCP:$A_IP:7002'" > /dev/null 2>&1 ||
    say "FAIL migrating the guest back to xen01"
  kill $p 2>/dev/null; wait $p 2>/dev/null
}
faults_on() { case " $FAULT_DISKS " in *" $1 "*) return 0;; esac; return 1; }
for DISK in $DISKS; do
  plan boot-$DISK
  i=1
  while [ $i -le $REPS ]; do
    plan $DISK-xmig-ab$i $DISK-xmig-ba$i $DISK-stock-ab$i $DISK-stock-ba$i
    i=$((i+1))
  done
  if faults_on $DISK; then for f in $FAULTS; do for h in $FAULT_HELPERS; do
    plan $(fault_name $DISK $f $h); done; done; fi
done
for DISK in $DISKS; do
  boot $DISK
  i=1
  while [ $i -le $REPS ]; do
    migrate $DISK-xmig-ab$i a $XLH; sleep 3
    migrate $DISK-xmig-ba$i b $XLH; sleep 3
    migrate $DISK-stock-ab$i a $STOCK; sleep 3
    migrate $DISK-stock-ba$i b $STOCK; sleep 3
    i=$((i+1))
  done
  # the guest is back on xen01: the faults, each of which must leave it there
  if faults_on $DISK; then
    for f in $FAULTS; do for h in $FAULT_HELPERS; do
      migrate $(fault_name $DISK $f $h) a $([ $h = stock ] && echo $STOCK || echo $XLH) $f
      guest_home; sleep 3
    done; done
  fi
  # the next disk's guest starts afresh on xen01
  xl destroy xh 2>/dev/null; on_b 'xl destroy xh 2>/dev/null'
  kill $TCP_PID 2>/dev/null
  sleep 2
done

# the guest's own words (heartbeats, gaps, disk checks) from both hosts
xl dmesg > $R/dmesg-xen01.txt 2>&1
on_b 'xl dmesg' > $R/dmesg-xen02.txt 2>&1
cat $C/guest-xh*.log $C/guest-xt*.log > $R/console-xen01.txt 2>/dev/null
on_b "cat $C/guest-xh*.log $C/guest-xt*.log" > $R/console-xen02.txt 2>/dev/null
on_b 'touch /tmp/quit'
echo "done t=$(now)" >> $R/summary.txt
echo "done" >> $R/progress.txt

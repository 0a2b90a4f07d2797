#!/bin/sh
# Runs inside the nested Xen host's dom0 (from the 9p share, /mnt/host).
# Scenarios of the xen backend on xmig's test guest (a PVH domain without PV
# drivers) and, if the share has one, a Linux PVH guest:
#   m1      one live migration to a domain xmig builds itself, --verify
#   fail    the destination refuses the state after the pause: the source
#           must run again (resume on failure)
#   rep1-5  five migrations in a row of the same guest
#   xl      the reference: `xl migrate` of a Linux PVH guest (if present)
#   linux   xmig migration of the Linux PVH guest (if present)
# Results: /mnt/host/results/*.json, guest output (xl dmesg) in dmesg.txt,
# one line per scenario in summary.txt.
H=/mnt/host
R=$H/results
mkdir -p $R /var/lib/xen/images
[ -f $H/env ] && . $H/env
REPEAT=${REPEAT:-5}
GUEST_TIME=${GUEST_TIME:-0}
cp $H/xmig-test-guest /var/lib/xen/images/xg
cp $H/xen-lab-migrate /usr/local/bin/
now() { cut -d' ' -f1 /proc/uptime; }
say() { echo "$*" | tee -a $R/summary.txt; }

# xl dmesg is a ring: drain it into a file all along.
( while :; do xl dmesg -c >> $R/dmesg.txt 2>/dev/null; sleep 1; done ) &
DRAIN=$!

cat > /etc/xen/xg.cfg <<CFG
name = "xg"
type = "pvh"
kernel = "/var/lib/xen/images/xg"
cmdline = "ws=${WS:-8M} rate=${RATE:-4M/s} hb=${HB:-50} time=$GUEST_TIME"
memory = ${MEM:-64}
vcpus = 1
on_poweroff = "destroy"
on_crash = "preserve"
CFG
say "xmig xen lab: $(uname -r), $(xl info | grep -E '^xen_version' | tr -s ' ')"
say "guest: $(grep cmdline /etc/xen/xg.cfg)"
xl create /etc/xen/xg.cfg > $R/create.txt 2>&1 || { say "FAIL xl create"; cat $R/create.txt; }
sleep ${WARMUP:-4}
dom=$(xl domid xg 2>/dev/null)
say "source domain: $dom"

mig() { # name args...
  n=$1; shift
  echo "=== $n t=$(now) dom=$dom" >> $R/dmesg.txt
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  t0=$(now)
  timeout 300 xen-lab-migrate "$dom" "$@" > $R/$n.json 2> $R/$n.log
  rc=$?
  t1=$(now)
  xl dmesg -c >> $R/dmesg.txt 2>/dev/null
  echo "=== $n done rc=$rc t=$t1" >> $R/dmesg.txt
  say "$n rc=$rc wall=$(awk "BEGIN{print $t1 - $t0}") $(head -c 600 $R/$n.json)"
  xl list >> $R/$n.log 2>&1
}
newdom() { sed -n 's/.*"dst_domid":\([0-9]*\).*/\1/p' $R/$1.json; }

if [ -z "$SKIP_XG" ]; then
  mig m1 --verify --name xg
  nd=$(newdom m1); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
  sleep 2
  mig fail --fail-load
  sleep 2
  i=1
  while [ $i -le $REPEAT ]; do
    mig rep$i --verify --name xg
    nd=$(newdom rep$i); [ -n "$nd" ] && [ "$nd" != 0 ] && dom=$nd
    sleep 2
    i=$((i+1))
  done
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

if [ -f $H/vmlinuz-guest ] && [ -z "$SKIP_LINUX" ]; then
  cp $H/vmlinuz-guest /var/lib/xen/images/vmlinuz
  cp $H/guest.cpio /var/lib/xen/images/guest.cpio
  cat > /etc/xen/lx.cfg <<CFG
name = "lx"
type = "pvh"
kernel = "/var/lib/xen/images/vmlinuz"
ramdisk = "/var/lib/xen/images/guest.cpio"
extra = "console=hvc0 quiet hbmib=0 hbgap=20"
memory = 128
vcpus = 1
on_crash = "preserve"
cpuid = "host,rdtscp=0"
CFG
  xl create /etc/xen/lx.cfg > $R/lx-create.txt 2>&1
  sleep ${LINUX_WARMUP:-40}
  say "linux domain: $(xl domid lx 2>/dev/null)"
  # The reference first: xl's own live migration to localhost.
  t0=$(now)
  timeout 600 xl migrate -s "" lx "xl migrate-receive" > $R/xl-migrate.txt 2>&1
  rc=$?
  t1=$(now)
  say "xl-migrate rc=$rc wall=$(awk "BEGIN{print $t1 - $t0}")"
  sleep 5
  dom=$(xl domid lx 2>/dev/null)
  say "linux domain after xl migrate: $dom"
  mig linux --verify --name lx
  sleep 5
  dom=$(xl domid lx 2>/dev/null)
  mig linux2 --name lx
  sleep 5
  xl list > $R/linux-list.txt 2>&1
  cp /var/log/xen/console/guest-*.log $R/ 2>/dev/null
fi
sleep 1
xl dmesg -c >> $R/dmesg.txt 2>/dev/null
kill $DRAIN 2>/dev/null
say "done t=$(now)"

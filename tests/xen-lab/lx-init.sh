#!/bin/busybox sh
# /init of the Linux PVH test guest. Kernel command-line knobs (extra= in the
# xl config): lxws=MIB lxrate=MIB_PER_S (working set rewritten and checked by
# lx-heartbeat; 0 = idle), lxhb=MS (heartbeat period on Xen's port 0xe9),
# lxout=console (a PV guest: heartbeats and gaps on the console only).
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t devtmpfs dev /dev    # /dev/port: the heartbeat's way to port 0xe9
WS=0; RATE=0; HB=10; OUT=
for a in $(cat /proc/cmdline); do
  case "$a" in lxws=*) WS=${a#lxws=};; lxrate=*) RATE=${a#lxrate=};; lxhb=*) HB=${a#lxhb=};;
    lxout=console) OUT=--console;; esac
done
echo "LX UP $(cat /proc/uptime)"
exec /bin/lx-heartbeat --hb "$HB" --ws "$WS" --rate "$RATE" --gap 20 $OUT

#!/bin/busybox sh
# /init of the Linux PVH test guest. Kernel command-line knobs (extra= in the
# xl config): lxws=MIB lxrate=MIB_PER_S (working set rewritten and checked by
# lx-heartbeat; 0 = idle), lxhb=MS (heartbeat period on Xen's port 0xe9),
# lxout=console (a PV guest: heartbeats and gaps on the console only),
# lxnet=IP/PREFIX (a NIC), lxdisk=DEV (a disk, checked by lx-disk).
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t devtmpfs dev /dev    # /dev/port: the heartbeat's way to port 0xe9
WS=0; RATE=0; HB=10; OUT=; NET=; DISK=
for a in $(cat /proc/cmdline); do
  case "$a" in lxws=*) WS=${a#lxws=};; lxrate=*) RATE=${a#lxrate=};; lxhb=*) HB=${a#lxhb=};;
    lxout=console) OUT=--console;; lxnet=*) NET=${a#lxnet=};; lxdisk=*) DISK=${a#lxdisk=};;
  esac
done
echo "LX UP $(cat /proc/uptime)"
# lxnet=IP/PREFIX: the vif as eth0, and a TCP sink on port 7000 that dom0
# keeps a stream open to; lxdisk=DEV: the disk checker (lx-disk) on it
if [ -n "$NET" ]; then
  insmod /lib/modules/xen-netfront.ko
  i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  ip link set lo up; ip addr add "$NET" dev eth0; ip link set eth0 up
  echo "LX NET eth0 $NET $(cat /sys/class/net/eth0/address 2>/dev/null)"
  # (its stdin a pipe that never ends: on EOF nc would close the connection)
  sleep 2147483647 | nc -l -p 7000 > /dev/null &
fi
if [ -n "$DISK" ]; then
  insmod /lib/modules/xen-blkfront.ko
  i=0; while [ ! -b "$DISK" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  lx-disk --dev "$DISK" --mib 8 --rate 50 --lag 64 &
fi
exec /bin/lx-heartbeat --hb "$HB" --ws "$WS" --rate "$RATE" --gap 20 $OUT

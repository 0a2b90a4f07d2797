#!/bin/busybox sh
# /init of the Linux PVH test guest: a heartbeat on the console (hvc0), which
# xenconsoled logs in dom0 as /var/log/xen/console/guest-<name>.log.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys
echo "LX UP $(cat /proc/uptime)"
exec /bin/lx-heartbeat 20

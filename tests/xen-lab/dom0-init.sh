#!/bin/sh
# /init of the lab's dom0: kernel modules, xenfs, xenstored, xenconsoled;
# then /mnt/host/autorun.sh from the 9p share, then reboot (QEMU runs with
# -no-reboot, so it exits). A shell stays on hvc0 for debugging.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run /tmp; mount -t devpts devpts /dev/pts
# what udev would add (the hotplug scripts' locking needs /dev/stdin)
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs virtio_pci 9pnet_virtio 9p; do
  modprobe "$m" 2>/dev/null || echo "dom0: no module $m"
done
mount -t xenfs xenfs /proc/xen
mkdir -p /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /var/lib/xenstored
/usr/lib/xen-4.17/bin/xenstored --pid-file=/run/xenstored.pid
/usr/lib/xen-4.17/bin/xen-init-dom0
/usr/lib/xen-4.17/bin/xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
echo "XMIG-LAB DOM0 UP"
mkdir -p /mnt/host
if mount -t 9p -o trans=virtio,version=9p2000.L host /mnt/host && [ -x /mnt/host/autorun.sh ]; then
  ( /mnt/host/autorun.sh > /mnt/host/autorun.log 2>&1; echo "XMIG-LAB AUTORUN DONE"; sync
    umount /mnt/host; busybox reboot -f ) </dev/null >/dev/hvc0 2>&1 &
fi
while :; do setsid sh -c 'exec sh -i </dev/hvc0 >/dev/hvc0 2>&1'; done

#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the nested Xen host from Debian packages, into $XMIG_LAB (outside the
# repo; default /var/cache/xmig-xen-lab). Re-running reuses what is there.
#   xen.elf     Debian's xen-hypervisor-4.17-amd64, uncompressed (QEMU's
#               multiboot loader wants an ELF)
#   vmlinuz     Debian's kernel: dom0, and the Linux PVH test guest
#   dom0.cpio   a minbase bookworm with xen-utils-4.17 and dom0-init.sh as /init
#   guest.cpio  the Linux guest's initramfs: busybox + a heartbeat printer
# Needs root, apt access to a Debian mirror, debootstrap, cpio, busybox-static,
# qemu-system-x86, gcc (installed with apt-get if missing).
#   build-lab.sh --guest   only (re)build guest.cpio (run does it every time:
#                          the guest's programs live in this folder)
#   build-lab.sh --old-hv  only fetch the older hypervisor, xen-old.elf
#                          (version XEN_OLD_HV, default 4.17.5+72-g01140da4e8-1):
#                          Debian's current one has no shadow paging, so no
#                          log-dirty for PV guests; this one has
set -euo pipefail
LAB=${XMIG_LAB:-/var/cache/xmig-xen-lab}
HERE=$(cd "$(dirname "$0")" && pwd)
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$LAB" && cd "$LAB"
log() { echo "build-lab: $(date +%T) $*"; }
# What dom0.cpio holds; run rebuilds a lab whose dom0.version differs.
LAB_VERSION=4

guest_cpio() {
  log "Linux guest initramfs"
  rm -rf lguest && mkdir -p lguest/bin lguest/proc lguest/sys lguest/dev
  cp /bin/busybox lguest/bin/busybox
  gcc -O2 -Wall -static -o lguest/bin/lx-heartbeat "$HERE/lx-heartbeat.c"
  gcc -O2 -Wall -static -o lguest/bin/lx-disk "$HERE/lx-disk.c"
  # the PV front ends of a guest with a NIC and a disk (Debian builds them as modules)
  mkdir -p lguest/lib/modules
  for m in drivers/net/xen-netfront.ko drivers/block/xen-blkfront.ko; do
    f=$(ls pkgs/root/lib/modules/*/kernel/$m 2>/dev/null | head -1)
    if [ -n "$f" ]; then cp "$f" lguest/lib/modules/
    else log "no $m in the kernel package: the guest will have no such device"; fi
  done
  install -m 755 "$HERE/lx-init.sh" lguest/init
  (cd lguest && find . | cpio -o -H newc --quiet) > guest.cpio
}
if [ "${1:-}" = --guest ]; then
  guest_cpio
  exit 0
fi
if [ "${1:-}" = --old-hv ]; then
  v=${XEN_OLD_HV:-4.17.5+72-g01140da4e8-1}
  log "hypervisor $v (for PV guests)"
  # the .deb is kept: this version leaves the mirror at the next point release
  mkdir -p pkgs-old/deb
  olddeb() { ls pkgs-old/deb/xen-hypervisor-4.17-amd64_*"${v#*:}"_amd64.deb 2>/dev/null | head -1 || true; }
  if [ -z "$(olddeb)" ]; then
    (cd pkgs-old/deb && apt-get download "xen-hypervisor-4.17-amd64=$v") || {
      log "apt has no xen-hypervisor-4.17-amd64=$v; put its .deb (e.g. from snapshot.debian.org) in $LAB/pkgs-old/deb" >&2
      exit 1; }
  fi
  deb=$(olddeb)
  rm -rf pkgs-old/root && mkdir -p pkgs-old/root
  dpkg -x "$deb" pkgs-old/root
  zcat pkgs-old/root/boot/xen-4.17-amd64.gz > xen-old.elf
  ls -la xen-old.elf
  exit 0
fi

missing=()
for p in qemu-system-x86 debootstrap busybox-static cpio gcc libc6-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -e pkgs/.unpacked ]; then
  log "downloading the hypervisor and kernel packages"
  rm -rf pkgs && mkdir -p pkgs/deb pkgs/root
  kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  (cd pkgs/deb && apt-get download xen-hypervisor-4.17-amd64 "$kpkg")
  for d in pkgs/deb/*.deb; do dpkg -x "$d" pkgs/root; done
  touch pkgs/.unpacked
fi
kver=$(ls pkgs/root/lib/modules | head -1)
cp "pkgs/root/boot/vmlinuz-$kver" vmlinuz
zcat pkgs/root/boot/xen-4.17-amd64.gz > xen.elf

if [ ! -e rootfs/.ready ]; then
  log "debootstrap + xen-utils-4.17 (a minute or two)"
  rm -rf rootfs
  debootstrap --variant=minbase bookworm rootfs "$MIRROR"
  [ -e /etc/apt/sources.list.d/debian.sources ] && \
    cp /etc/apt/sources.list.d/debian.sources rootfs/etc/apt/sources.list.d/ && rm -f rootfs/etc/apt/sources.list
  mount --bind /proc rootfs/proc; mount --bind /dev rootfs/dev
  trap 'umount rootfs/proc rootfs/dev 2>/dev/null || true' EXIT
  chroot rootfs sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
     --no-install-recommends xen-utils-4.17 xen-utils-common kmod procps libxxhash0 gawk busybox \
     iproute2 iputils-ping'
  umount rootfs/proc rootfs/dev; trap - EXIT
  chroot rootfs apt-get clean
  touch rootfs/.ready
fi
# the dom0's package set changed (lab version 2: iproute2 and iputils-ping for
# the guests' NICs, the bridge and the ping across a migration)
if ! chroot rootfs sh -c 'command -v ip && command -v ping' >/dev/null 2>&1; then
  log "dom0: adding iproute2, iputils-ping"
  mount --bind /proc rootfs/proc; mount --bind /dev rootfs/dev
  trap 'umount rootfs/proc rootfs/dev 2>/dev/null || true' EXIT
  chroot rootfs sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
     --no-install-recommends iproute2 iputils-ping'
  umount rootfs/proc rootfs/dev; trap - EXIT
  chroot rootfs apt-get clean
fi

# lab version 3: the two-host seed scenario (run --two-hosts): DRBD's tools
# (and Xen's block-drbd hotplug script), socat for xl migrate between the
# hosts, AoE's target and initiator tools
if ! chroot rootfs sh -c 'command -v drbdadm && command -v socat && command -v vblade' >/dev/null 2>&1; then
  log "dom0: adding drbd-utils, socat, vblade, aoetools"
  mount --bind /proc rootfs/proc; mount --bind /dev rootfs/dev
  trap 'umount rootfs/proc rootfs/dev 2>/dev/null || true' EXIT
  chroot rootfs sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
     --no-install-recommends drbd-utils socat vblade aoetools'
  umount rootfs/proc rootfs/dev; trap - EXIT
  chroot rootfs apt-get clean
fi

# (lab version 4: veth, for the AoE target's own namespace on xen01)
log "dom0 modules and init"
mods=rootfs/lib/modules/$kver
src=pkgs/root/lib/modules/$kver
rm -rf "$mods"; mkdir -p "$mods/kernel"
for d in drivers/xen drivers/virtio drivers/block drivers/net/xen-netback drivers/net/virtio_net.ko \
         drivers/net/net_failover.ko drivers/net/veth.ko net lib crypto fs/9p fs/netfs fs/fscache; do
  if [ -e "$src/kernel/$d" ]; then mkdir -p "$mods/kernel/$(dirname "$d")"; cp -a "$src/kernel/$d" "$mods/kernel/$d"; fi
done
cp "$src"/modules.order "$src"/modules.builtin* "$mods/" 2>/dev/null || true
chroot rootfs depmod "$kver"
install -m 755 "$HERE/dom0-init.sh" rootfs/init
rm -rf rootfs/usr/share/doc/* rootfs/usr/share/man/* rootfs/usr/share/locale/* rootfs/var/lib/apt/lists/*
(cd rootfs && find . -xdev | cpio -o -H newc --quiet) > dom0.cpio
echo "$LAB_VERSION" > dom0.version

guest_cpio
ls -la xen.elf vmlinuz dom0.cpio guest.cpio
log "done"

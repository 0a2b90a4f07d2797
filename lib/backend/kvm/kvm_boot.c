/* SPDX-License-Identifier: MIT */
/*
 * Booting a guest ELF through its PVH entry point: reading the file, then
 * (kvm_format.c checks and loads it) the entry state of vCPU 0.
 *
 * The PVH boot ABI (Xen's docs/misc/pvh.pandoc, also used by QEMU -kernel):
 * the ELF note XEN_ELFNOTE_PHYS32_ENTRY (owner "Xen", type 18) gives a
 * 32-bit physical entry address; the vCPU starts there in 32-bit protected
 * mode with flat 4 GiB code and data segments, paging off, interrupts off,
 * and %ebx holding the physical address of struct hvm_start_info.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_internal.h"

#define XMIG__ELF_MAX_BYTES (256ull << 20)

static int read_file(const char *path, uint8_t **out, size_t *size)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xmig__fail_errno(XMIG_EINVAL, "kvm: guest '%s'", path);
	if (fstat(fd, &st) < 0) {
		err = xmig__fail_errno(XMIG_EINVAL, "kvm: guest '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf32_Ehdr) ||
	    (uint64_t)st.st_size > XMIG__ELF_MAX_BYTES) {
		err = xmig__fail(XMIG_EINVAL, "kvm: guest '%s': not a plausible ELF file", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		err = xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = xmig__fail_errno(XMIG_EINVAL, "kvm: reading guest '%s'", path);
			goto out;
		}
		got += (size_t)r;
	}
	*out = buf;
	*size = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* vCPU 0 at the PVH entry: flat 32-bit protected mode, paging off. */
static int set_entry_state(struct xmig__kvm *k, uint64_t entry)
{
	struct xmig__kvm_vcpu *v = &k->vcpus[0];
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	data.type = 0x3;
	data.selector = 0x18;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rflags = 0x2;
	regs.rbx = XMIG__KVM_START_INFO;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_SET_REGS");
	return 0;
}

int xmig__kvm_elf_read(const char *path, uint64_t mem_bytes, uint8_t **data, size_t *size)
{
	uint64_t entry = 0;
	int err;

	*data = NULL;
	if (!path)
		return xmig__fail(XMIG_EINVAL, "kvm: no guest ELF given");
	err = read_file(path, data, size);
	if (!err)
		err = xmig__kvm_elf_load(*data, *size, path, NULL, mem_bytes, &entry);
	if (err) {
		free(*data);
		*data = NULL;
	}
	return err;
}

int xmig__kvm_boot(struct xmig__kvm *k, const char *elf_path, const uint8_t *elf,
		   size_t elf_size, const char *cmdline)
{
	uint64_t entry = 0;
	int err;

	err = xmig__kvm_elf_load(elf, elf_size, elf_path, k->mem, k->mem_bytes, &entry);
	if (!err)
		err = xmig__kvm_boot_page(k->mem, k->mem_bytes, cmdline, k->host_tsc_khz);
	if (!err)
		err = set_entry_state(k, entry);
	return err;
}

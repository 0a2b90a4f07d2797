/* SPDX-License-Identifier: MIT */
/*
 * Booting a guest ELF through its PVH entry point.
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

#define XMIG__PVH_NOTE_OWNER "Xen"
#define XMIG__PVH_NOTE_PHYS32_ENTRY 18
#define XMIG__PVH_START_MAGIC 0x336ec578u
#define XMIG__E820_RAM 1
#define XMIG__E820_RESERVED 2
#define XMIG__ELF_MAX_BYTES (256ull << 20)

/* Xen's public/arch-x86/hvm/start_info.h, version 1 (same layout). */
struct xmig__hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct xmig__hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* A program header or section, whatever the ELF class. */
struct elf_seg {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

struct elf_image {
	const uint8_t *data;
	size_t size;
	int is64;
	const char *path;
};

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

static int elf_header(struct elf_image *img, uint64_t *phoff, unsigned *phnum,
		      unsigned *phentsize, uint64_t *shoff, unsigned *shnum, unsigned *shentsize)
{
	const uint8_t *id = img->data;

	if (memcmp(id, ELFMAG, SELFMAG) != 0 || id[EI_DATA] != ELFDATA2LSB)
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': not a little-endian ELF file",
				  img->path);
	if (id[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (img->size < sizeof(eh))
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': truncated", img->path);
		memcpy(&eh, img->data, sizeof(eh));
		if (eh.e_machine != EM_X86_64)
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': not an x86-64 ELF",
					  img->path);
		img->is64 = 1;
		*phoff = eh.e_phoff;
		*phnum = eh.e_phnum;
		*phentsize = eh.e_phentsize;
		*shoff = eh.e_shoff;
		*shnum = eh.e_shnum;
		*shentsize = eh.e_shentsize;
		if (*phentsize != sizeof(Elf64_Phdr) ||
		    (*shnum && *shentsize != sizeof(Elf64_Shdr)))
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': bad header sizes",
					  img->path);
	} else if (id[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		memcpy(&eh, img->data, sizeof(eh));
		if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': not an x86 ELF", img->path);
		img->is64 = 0;
		*phoff = eh.e_phoff;
		*phnum = eh.e_phnum;
		*phentsize = eh.e_phentsize;
		*shoff = eh.e_shoff;
		*shnum = eh.e_shnum;
		*shentsize = eh.e_shentsize;
		if (*phentsize != sizeof(Elf32_Phdr) ||
		    (*shnum && *shentsize != sizeof(Elf32_Shdr)))
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': bad header sizes",
					  img->path);
	} else {
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': unknown ELF class", img->path);
	}
	if ((*phnum && (*phoff > img->size || (uint64_t)*phnum * *phentsize > img->size - *phoff)) ||
	    (*shnum && (*shoff > img->size || (uint64_t)*shnum * *shentsize > img->size - *shoff)))
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': headers beyond the file",
				  img->path);
	return 0;
}

static void elf_phdr(const struct elf_image *img, uint64_t off, struct elf_seg *s)
{
	if (img->is64) {
		Elf64_Phdr ph;

		memcpy(&ph, img->data + off, sizeof(ph));
		*s = (struct elf_seg){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz,
				       ph.p_memsz };
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, img->data + off, sizeof(ph));
		*s = (struct elf_seg){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz,
				       ph.p_memsz };
	}
}

static void elf_shdr(const struct elf_image *img, uint64_t off, struct elf_seg *s)
{
	if (img->is64) {
		Elf64_Shdr sh;

		memcpy(&sh, img->data + off, sizeof(sh));
		*s = (struct elf_seg){ sh.sh_type, sh.sh_offset, sh.sh_addr, sh.sh_size,
				       sh.sh_size };
	} else {
		Elf32_Shdr sh;

		memcpy(&sh, img->data + off, sizeof(sh));
		*s = (struct elf_seg){ sh.sh_type, sh.sh_offset, sh.sh_addr, sh.sh_size,
				       sh.sh_size };
	}
}

/* Look for the PVH entry note in [off, off+len) of the file. */
static int find_pvh_note(const struct elf_image *img, uint64_t off, uint64_t len,
			 uint64_t *entry)
{
	if (off > img->size || len > img->size - off)
		return 0;
	while (len >= 12) {
		const uint8_t *n = img->data + off;
		uint32_t namesz = xmig__le32(n), descsz = xmig__le32(n + 4);
		uint32_t type = xmig__le32(n + 8);
		uint64_t name_al = XMIG__ALIGN_UP((uint64_t)namesz, 4);
		uint64_t desc_al = XMIG__ALIGN_UP((uint64_t)descsz, 4);

		if (12 + name_al + desc_al > len)
			return 0;
		if (type == XMIG__PVH_NOTE_PHYS32_ENTRY && namesz == sizeof(XMIG__PVH_NOTE_OWNER) &&
		    memcmp(n + 12, XMIG__PVH_NOTE_OWNER, namesz) == 0 &&
		    (descsz == 4 || descsz == 8)) {
			const uint8_t *d = n + 12 + name_al;

			*entry = descsz == 4 ? xmig__le32(d) : xmig__le64(d);
			return 1;
		}
		off += 12 + name_al + desc_al;
		len -= 12 + name_al + desc_al;
	}
	return 0;
}

/* Is [addr, addr+len) inside one RAM range of our memory map? */
static int in_ram(const struct xmig__kvm *k, uint64_t addr, uint64_t len)
{
	const uint64_t ranges[3][2] = {
		{ 0, XMIG__KVM_BOOT_PAGE },
		{ XMIG__KVM_BOOT_PAGE + XMIG__KVM_PAGE, XMIG__KVM_LOW_RAM_END },
		{ XMIG__KVM_HIGH_RAM, k->mem_bytes },
	};

	if (addr + len < addr)
		return 0;
	for (size_t i = 0; i < XMIG__ARRAY_SIZE(ranges); i++)
		if (addr >= ranges[i][0] && addr + len <= ranges[i][1])
			return 1;
	return 0;
}

static int load_elf(struct xmig__kvm *k, struct elf_image *img, uint64_t *entry)
{
	uint64_t phoff = 0, shoff = 0;
	unsigned phnum = 0, phentsize = 0, shnum = 0, shentsize = 0, loaded = 0;
	int found = 0, err;

	err = elf_header(img, &phoff, &phnum, &phentsize, &shoff, &shnum, &shentsize);
	if (err)
		return err;
	for (unsigned i = 0; i < phnum; i++) {
		struct elf_seg s;

		elf_phdr(img, phoff + (uint64_t)i * phentsize, &s);
		if (s.type == PT_NOTE && !found)
			found = find_pvh_note(img, s.offset, s.filesz, entry);
		if (s.type != PT_LOAD || s.memsz == 0)
			continue;
		if (s.filesz > s.memsz || s.offset > img->size || s.filesz > img->size - s.offset)
			return xmig__fail(XMIG_EINVAL,
					  "kvm: guest '%s': segment %u lies beyond the file",
					  img->path, i);
		if (!in_ram(k, s.paddr, s.memsz))
			return xmig__fail(XMIG_EINVAL,
					  "kvm: guest '%s': segment %u at 0x%llx (+0x%llx) is "
					  "not inside guest RAM of %llu MiB (boot page 0x7000 "
					  "and 0x9f000-0x100000 are not RAM)",
					  img->path, i, (unsigned long long)s.paddr,
					  (unsigned long long)s.memsz,
					  (unsigned long long)(k->mem_bytes >> 20));
		memcpy(k->mem + s.paddr, img->data + s.offset, s.filesz);
		memset(k->mem + s.paddr + s.filesz, 0, s.memsz - s.filesz);
		loaded++;
	}
	for (unsigned i = 0; i < shnum && !found; i++) {
		struct elf_seg s;

		elf_shdr(img, shoff + (uint64_t)i * shentsize, &s);
		if (s.type == SHT_NOTE)
			found = find_pvh_note(img, s.offset, s.filesz, entry);
	}
	if (!loaded)
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': no loadable segment", img->path);
	if (!found)
		return xmig__fail(XMIG_EINVAL,
				  "kvm: guest '%s': no PVH entry (ELF note \"Xen\" type 18, "
				  "XEN_ELFNOTE_PHYS32_ENTRY)",
				  img->path);
	if (*entry >= (1ull << 32) || !in_ram(k, *entry, 1))
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': PVH entry 0x%llx not in RAM",
				  img->path, (unsigned long long)*entry);
	return 0;
}

/* "tsc_khz=" present as a word of the command line? */
static int has_tsc_khz(const char *cmdline)
{
	const char *p = cmdline;

	while ((p = strstr(p, "tsc_khz=")) != NULL) {
		if (p == cmdline || p[-1] == ' ')
			return 1;
		p++;
	}
	return 0;
}

static int write_boot_page(struct xmig__kvm *k, const char *cmdline)
{
	struct xmig__hvm_start_info si;
	struct xmig__hvm_memmap_entry mm[4] = {
		{ 0, XMIG__KVM_BOOT_PAGE, XMIG__E820_RAM, 0 },
		{ XMIG__KVM_BOOT_PAGE, XMIG__KVM_PAGE, XMIG__E820_RESERVED, 0 },
		{ XMIG__KVM_BOOT_PAGE + XMIG__KVM_PAGE,
		  XMIG__KVM_LOW_RAM_END - XMIG__KVM_BOOT_PAGE - XMIG__KVM_PAGE, XMIG__E820_RAM, 0 },
		{ XMIG__KVM_HIGH_RAM, k->mem_bytes - XMIG__KVM_HIGH_RAM, XMIG__E820_RAM, 0 },
	};
	char *line = (char *)k->mem + XMIG__KVM_CMDLINE;
	int n;

	_Static_assert(sizeof(si) == 56, "hvm_start_info v1 is 56 bytes");
	_Static_assert(XMIG__KVM_START_INFO + sizeof(si) <= XMIG__KVM_MEMMAP, "boot page layout");
	_Static_assert(XMIG__KVM_MEMMAP + sizeof(mm) <= XMIG__KVM_CMDLINE, "boot page layout");

	if (!cmdline)
		cmdline = "";
	if (has_tsc_khz(cmdline) || !k->host_tsc_khz)
		n = snprintf(line, XMIG__KVM_CMDLINE_MAX, "%s", cmdline);
	else
		n = snprintf(line, XMIG__KVM_CMDLINE_MAX, "%s%stsc_khz=%u", cmdline,
			     *cmdline ? " " : "", k->host_tsc_khz);
	if (n < 0 || (size_t)n >= XMIG__KVM_CMDLINE_MAX)
		return xmig__fail(XMIG_EINVAL, "kvm: command line longer than %llu bytes",
				  (unsigned long long)XMIG__KVM_CMDLINE_MAX - 1);

	memset(&si, 0, sizeof(si));
	si.magic = XMIG__PVH_START_MAGIC;
	si.version = 1;
	si.cmdline_paddr = XMIG__KVM_CMDLINE;
	si.memmap_paddr = XMIG__KVM_MEMMAP;
	si.memmap_entries = XMIG__ARRAY_SIZE(mm);
	memcpy(k->mem + XMIG__KVM_START_INFO, &si, sizeof(si));
	memcpy(k->mem + XMIG__KVM_MEMMAP, mm, sizeof(mm));
	return 0;
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

int xmig__kvm_boot(struct xmig__kvm *k, const char *elf_path, const char *cmdline)
{
	struct elf_image img = { .path = elf_path };
	uint8_t *file = NULL;
	uint64_t entry = 0;
	int err;

	if (!elf_path)
		return xmig__fail(XMIG_EINVAL, "kvm: no guest ELF given");
	err = read_file(elf_path, &file, &img.size);
	if (err)
		return err;
	img.data = file;
	err = load_elf(k, &img, &entry);
	if (!err)
		err = write_boot_page(k, cmdline);
	if (!err)
		err = set_entry_state(k, entry);
	free(file);
	return err;
}

/* SPDX-License-Identifier: MIT */
/*
 * The kvm backend's checks and bookkeeping that need no /dev/kvm (see
 * kvm_format.h). The PVH boot ABI (Xen's docs/misc/pvh.pandoc, also used by
 * QEMU -kernel): the ELF note XEN_ELFNOTE_PHYS32_ENTRY (owner "Xen", type
 * 18) gives a 32-bit physical entry address; the vCPU starts there in 32-bit
 * protected mode, %ebx holding the physical address of hvm_start_info.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "kvm_format.h"

#define XMIG__PVH_NOTE_OWNER "Xen"
#define XMIG__PVH_NOTE_PHYS32_ENTRY 18
#define XMIG__PVH_START_MAGIC 0x336ec578u
#define XMIG__E820_RAM 1
#define XMIG__E820_RESERVED 2

/* ---- parameters ---- */

int xmig__kvm_params_check(const struct xmig_kvm_params *p, uint64_t *mem_bytes)
{
	if (!p)
		return xmig__fail(XMIG_EINVAL, "kvm: NULL argument");
	if (p->version != XMIG_KVM_PARAMS_VERSION)
		return xmig__fail(XMIG_EINVAL, "kvm: params version %u, expected %u", p->version,
				  XMIG_KVM_PARAMS_VERSION);
	if (!p->guest_elf)
		return xmig__fail(XMIG_EINVAL, "kvm: no guest ELF given");
	if (p->mem_bytes < XMIG_KVM_MIN_MEM || p->mem_bytes > XMIG_KVM_MAX_MEM)
		return xmig__fail(XMIG_EINVAL,
				  "kvm: guest memory %llu MiB: need %llu MiB to %llu MiB (no "
				  "memory hole below 4 GiB is modelled)",
				  (unsigned long long)(p->mem_bytes >> 20),
				  (unsigned long long)(XMIG_KVM_MIN_MEM >> 20),
				  (unsigned long long)(XMIG_KVM_MAX_MEM >> 20));
	if (p->nr_vcpus < 1 || p->nr_vcpus > XMIG_KVM_MAX_VCPUS)
		return xmig__fail(XMIG_EINVAL, "kvm: %u vCPUs: 1 to %u supported", p->nr_vcpus,
				  XMIG_KVM_MAX_VCPUS);
	*mem_bytes = XMIG__ALIGN_UP(p->mem_bytes, XMIG__KVM_PAGE);
	return 0;
}

int xmig__kvm_info_check(const struct xmig_guest_info *info)
{
	if (info->guest_kind != XMIG_GUEST_KVM_PVH)
		return xmig__fail(XMIG_EINVAL, "kvm: cannot create a guest of kind %u",
				  info->guest_kind);
	if (info->page_size != XMIG__KVM_PAGE)
		return xmig__fail(XMIG_EINVAL, "kvm: page size %u, expected 4096",
				  info->page_size);
	if (info->nr_pages < XMIG_KVM_MIN_MEM / XMIG__KVM_PAGE ||
	    info->nr_pages > XMIG_KVM_MAX_MEM / XMIG__KVM_PAGE)
		return xmig__fail(XMIG_EINVAL, "kvm: %llu pages: need %llu MiB to %llu MiB of memory",
				  (unsigned long long)info->nr_pages,
				  (unsigned long long)(XMIG_KVM_MIN_MEM >> 20),
				  (unsigned long long)(XMIG_KVM_MAX_MEM >> 20));
	if (info->nr_vcpus < 1 || info->nr_vcpus > XMIG_KVM_MAX_VCPUS)
		return xmig__fail(XMIG_EINVAL, "kvm: %u vCPUs: 1 to %u supported",
				  info->nr_vcpus, XMIG_KVM_MAX_VCPUS);
	return 0;
}

/* ---- the guest ELF ---- */

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
	uint64_t phoff, shoff;
	unsigned phnum, phentsize, shnum, shentsize;
};

static int elf_header(struct elf_image *img)
{
	const uint8_t *id = img->data;

	if (img->size < sizeof(Elf32_Ehdr) || memcmp(id, ELFMAG, SELFMAG) != 0 ||
	    id[EI_DATA] != ELFDATA2LSB)
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
		img->phoff = eh.e_phoff;
		img->phnum = eh.e_phnum;
		img->phentsize = eh.e_phentsize;
		img->shoff = eh.e_shoff;
		img->shnum = eh.e_shnum;
		img->shentsize = eh.e_shentsize;
		if (img->phentsize != sizeof(Elf64_Phdr) ||
		    (img->shnum && img->shentsize != sizeof(Elf64_Shdr)))
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': bad header sizes",
					  img->path);
	} else if (id[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		memcpy(&eh, img->data, sizeof(eh));
		if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': not an x86 ELF", img->path);
		img->is64 = 0;
		img->phoff = eh.e_phoff;
		img->phnum = eh.e_phnum;
		img->phentsize = eh.e_phentsize;
		img->shoff = eh.e_shoff;
		img->shnum = eh.e_shnum;
		img->shentsize = eh.e_shentsize;
		if (img->phentsize != sizeof(Elf32_Phdr) ||
		    (img->shnum && img->shentsize != sizeof(Elf32_Shdr)))
			return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': bad header sizes",
					  img->path);
	} else {
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': unknown ELF class", img->path);
	}
	if ((img->phnum && (img->phoff > img->size ||
			    (uint64_t)img->phnum * img->phentsize > img->size - img->phoff)) ||
	    (img->shnum && (img->shoff > img->size ||
			    (uint64_t)img->shnum * img->shentsize > img->size - img->shoff)))
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': headers beyond the file",
				  img->path);
	return 0;
}

static void elf_phdr(const struct elf_image *img, unsigned i, struct elf_seg *s)
{
	uint64_t off = img->phoff + (uint64_t)i * img->phentsize;

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

static void elf_shdr(const struct elf_image *img, unsigned i, struct elf_seg *s)
{
	uint64_t off = img->shoff + (uint64_t)i * img->shentsize;

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

/* Is [addr, addr+len) inside one RAM range of the memory map? */
static int in_ram(uint64_t mem_bytes, uint64_t addr, uint64_t len)
{
	const uint64_t ranges[3][2] = {
		{ 0, XMIG__KVM_BOOT_PAGE },
		{ XMIG__KVM_BOOT_PAGE + XMIG__KVM_PAGE, XMIG__KVM_LOW_RAM_END },
		{ XMIG__KVM_HIGH_RAM, mem_bytes },
	};

	if (addr + len < addr)
		return 0;
	for (size_t i = 0; i < XMIG__ARRAY_SIZE(ranges); i++)
		if (addr >= ranges[i][0] && addr + len <= ranges[i][1])
			return 1;
	return 0;
}

int xmig__kvm_elf_load(const uint8_t *data, size_t size, const char *path, uint8_t *mem,
		       uint64_t mem_bytes, uint64_t *entry)
{
	struct elf_image img = { .data = data, .size = size, .path = path };
	unsigned loaded = 0;
	int found = 0, err;

	err = elf_header(&img);
	if (err)
		return err;
	for (unsigned i = 0; i < img.phnum; i++) {
		struct elf_seg s;

		elf_phdr(&img, i, &s);
		if (s.type == PT_NOTE && !found)
			found = find_pvh_note(&img, s.offset, s.filesz, entry);
		if (s.type != PT_LOAD || s.memsz == 0)
			continue;
		if (s.filesz > s.memsz || s.offset > img.size || s.filesz > img.size - s.offset)
			return xmig__fail(XMIG_EINVAL,
					  "kvm: guest '%s': segment %u lies beyond the file", path,
					  i);
		if (!in_ram(mem_bytes, s.paddr, s.memsz))
			return xmig__fail(XMIG_EINVAL,
					  "kvm: guest '%s': segment %u at 0x%llx (+0x%llx) is "
					  "not inside guest RAM of %llu MiB (boot page 0x7000 "
					  "and 0x9f000-0x100000 are not RAM)",
					  path, i, (unsigned long long)s.paddr,
					  (unsigned long long)s.memsz,
					  (unsigned long long)(mem_bytes >> 20));
		if (mem) {
			memcpy(mem + s.paddr, img.data + s.offset, s.filesz);
			memset(mem + s.paddr + s.filesz, 0, s.memsz - s.filesz);
		}
		loaded++;
	}
	for (unsigned i = 0; i < img.shnum && !found; i++) {
		struct elf_seg s;

		elf_shdr(&img, i, &s);
		if (s.type == SHT_NOTE)
			found = find_pvh_note(&img, s.offset, s.filesz, entry);
	}
	if (!loaded)
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': no loadable segment", path);
	if (!found)
		return xmig__fail(XMIG_EINVAL,
				  "kvm: guest '%s': no PVH entry (ELF note \"Xen\" type 18, "
				  "XEN_ELFNOTE_PHYS32_ENTRY)",
				  path);
	if (*entry >= (1ull << 32) || !in_ram(mem_bytes, *entry, 1))
		return xmig__fail(XMIG_EINVAL, "kvm: guest '%s': PVH entry 0x%llx not in RAM",
				  path, (unsigned long long)*entry);
	return 0;
}

/* ---- the boot page ---- */

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

int xmig__kvm_boot_page(uint8_t *mem, uint64_t mem_bytes, const char *cmdline,
			uint32_t tsc_khz)
{
	struct xmig__hvm_start_info si;
	struct xmig__hvm_memmap_entry mm[4] = {
		{ 0, XMIG__KVM_BOOT_PAGE, XMIG__E820_RAM, 0 },
		{ XMIG__KVM_BOOT_PAGE, XMIG__KVM_PAGE, XMIG__E820_RESERVED, 0 },
		{ XMIG__KVM_BOOT_PAGE + XMIG__KVM_PAGE,
		  XMIG__KVM_LOW_RAM_END - XMIG__KVM_BOOT_PAGE - XMIG__KVM_PAGE, XMIG__E820_RAM, 0 },
		{ XMIG__KVM_HIGH_RAM, mem_bytes - XMIG__KVM_HIGH_RAM, XMIG__E820_RAM, 0 },
	};
	char *line = (char *)mem + XMIG__KVM_CMDLINE;
	int n;

	_Static_assert(sizeof(si) == 56, "hvm_start_info v1 is 56 bytes");
	_Static_assert(XMIG__KVM_START_INFO + sizeof(si) <= XMIG__KVM_MEMMAP, "boot page layout");
	_Static_assert(XMIG__KVM_MEMMAP + sizeof(mm) <= XMIG__KVM_CMDLINE, "boot page layout");

	if (mem_bytes < XMIG_KVM_MIN_MEM)
		return xmig__fail(XMIG_EINVAL, "kvm: boot page: %llu bytes of memory",
				  (unsigned long long)mem_bytes);
	if (!cmdline)
		cmdline = "";
	if (has_tsc_khz(cmdline) || !tsc_khz)
		n = snprintf(line, XMIG__KVM_CMDLINE_MAX, "%s", cmdline);
	else
		n = snprintf(line, XMIG__KVM_CMDLINE_MAX, "%s%stsc_khz=%u", cmdline,
			     *cmdline ? " " : "", tsc_khz);
	if (n < 0 || (size_t)n >= XMIG__KVM_CMDLINE_MAX)
		return xmig__fail(XMIG_EINVAL, "kvm: command line longer than %llu bytes",
				  (unsigned long long)XMIG__KVM_CMDLINE_MAX - 1);

	memset(&si, 0, sizeof(si));
	si.magic = XMIG__PVH_START_MAGIC;
	si.version = 1;
	si.cmdline_paddr = XMIG__KVM_CMDLINE;
	si.memmap_paddr = XMIG__KVM_MEMMAP;
	si.memmap_entries = XMIG__ARRAY_SIZE(mm);
	memcpy(mem + XMIG__KVM_START_INFO, &si, sizeof(si));
	memcpy(mem + XMIG__KVM_MEMMAP, mm, sizeof(mm));
	return 0;
}

/* ---- state blobs ---- */

const char *xmig__kvm_blob_name(uint32_t type)
{
	switch (type) {
	case XMIG_KVM_STATE_CPUID: return "CPUID";
	case XMIG_KVM_STATE_SREGS: return "SREGS";
	case XMIG_KVM_STATE_REGS: return "REGS";
	case XMIG_KVM_STATE_XSAVE: return "XSAVE";
	case XMIG_KVM_STATE_FPU: return "FPU";
	case XMIG_KVM_STATE_XCRS: return "XCRS";
	case XMIG_KVM_STATE_MSRS: return "MSRS";
	case XMIG_KVM_STATE_MP_STATE: return "MP_STATE";
	case XMIG_KVM_STATE_EVENTS: return "EVENTS";
	case XMIG_KVM_STATE_DEBUGREGS: return "DEBUGREGS";
	case XMIG_KVM_STATE_VMM: return "VMM";
	case XMIG_KVM_STATE_CONFIG: return "CONFIG";
	case XMIG_KVM_STATE_CLOCK: return "CLOCK";
	default: return "?";
	}
}

int xmig__kvm_blobs_init(struct xmig__kvm_blobs *s, uint32_t nr_vcpus)
{
	memset(s, 0, sizeof(*s));
	s->vcpu = calloc(nr_vcpus ? nr_vcpus : 1, sizeof(*s->vcpu));
	if (!s->vcpu)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	s->nr_vcpus = nr_vcpus;
	return 0;
}

void xmig__kvm_blobs_fini(struct xmig__kvm_blobs *s)
{
	for (uint32_t i = 0; s->vcpu && i < s->nr_vcpus; i++)
		for (int t = 0; t < XMIG__KVM_VCPU_BLOBS; t++)
			free(s->vcpu[i][t].data);
	free(s->vcpu);
	free(s->cfg.data);
	free(s->clock.data);
	memset(s, 0, sizeof(*s));
}

static struct xmig__kvm_blob *blob_slot(struct xmig__kvm_blobs *s, uint32_t vcpu, uint32_t type)
{
	if (vcpu == XMIG_STATE_PLATFORM) {
		if (type == XMIG_KVM_STATE_CONFIG)
			return &s->cfg;
		if (type == XMIG_KVM_STATE_CLOCK)
			return &s->clock;
		return NULL;
	}
	if (type < XMIG_KVM_STATE_CPUID || type > XMIG_KVM_STATE_VMM)
		return NULL;
	return &s->vcpu[vcpu][type];
}

/* Is `len` a valid payload size for `type`? */
static int blob_size_ok(const struct xmig__kvm_caps *c, uint32_t type, const uint8_t *p,
			size_t len)
{
	switch (type) {
	case XMIG_KVM_STATE_CPUID: {
		struct kvm_cpuid2 cp;

		if (len < sizeof(cp))
			return 0;
		memcpy(&cp, p, sizeof(cp));
		return cp.nent <= XMIG__KVM_MAX_CPUID &&
		       len == sizeof(cp) + cp.nent * sizeof(struct kvm_cpuid_entry2);
	}
	case XMIG_KVM_STATE_SREGS:
		return len == sizeof(struct kvm_sregs);
	case XMIG_KVM_STATE_REGS:
		return len == sizeof(struct kvm_regs);
	case XMIG_KVM_STATE_XSAVE:
		return c->xsave && len >= sizeof(struct kvm_xsave) && len <= (size_t)c->xsave_size;
	case XMIG_KVM_STATE_FPU:
		return len == sizeof(struct kvm_fpu);
	case XMIG_KVM_STATE_XCRS:
		return c->xcrs && len == sizeof(struct kvm_xcrs);
	case XMIG_KVM_STATE_MSRS: {
		struct kvm_msrs m;

		if (len < sizeof(m))
			return 0;
		memcpy(&m, p, sizeof(m));
		return m.nmsrs <= XMIG__KVM_MAX_MSRS &&
		       len == sizeof(m) + m.nmsrs * sizeof(struct kvm_msr_entry);
	}
	case XMIG_KVM_STATE_MP_STATE:
		return len == sizeof(struct kvm_mp_state);
	case XMIG_KVM_STATE_EVENTS:
		return c->vcpu_events && len == sizeof(struct kvm_vcpu_events);
	case XMIG_KVM_STATE_DEBUGREGS:
		return c->debugregs && len == sizeof(struct kvm_debugregs);
	case XMIG_KVM_STATE_VMM: {
		struct xmig_kvm_vmm_state m;

		if (len < sizeof(m))
			return 0;
		memcpy(&m, p, sizeof(m));
		return m.halted <= 1 && m.line_len < XMIG__KVM_LINE_MAX &&
		       len == sizeof(m) + m.line_len;
	}
	case XMIG_KVM_STATE_CONFIG:
		return len == sizeof(struct xmig_kvm_config_state);
	case XMIG_KVM_STATE_CLOCK:
		return len == sizeof(struct xmig_kvm_clock_state);
	default:
		return 0;
	}
}

int xmig__kvm_blobs_put(struct xmig__kvm_blobs *s, const struct xmig__kvm_caps *caps,
			uint32_t vcpu, uint32_t type, const void *data, size_t len)
{
	struct xmig_kvm_state_hdr h;
	struct xmig__kvm_blob *slot;
	const uint8_t *p = (const uint8_t *)data + sizeof(h);
	const char *name = xmig__kvm_blob_name(type);
	char scope[24];

	if (vcpu == XMIG_STATE_PLATFORM)
		snprintf(scope, sizeof(scope), "platform");
	else
		snprintf(scope, sizeof(scope), "vCPU %u", vcpu);
	if (vcpu != XMIG_STATE_PLATFORM && vcpu >= s->nr_vcpus)
		return xmig__fail(XMIG_EPROTO, "kvm: state blob type %u for vCPU %u: the guest "
					       "has %u vCPUs",
				  type, vcpu, s->nr_vcpus);
	slot = blob_slot(s, vcpu, type);
	if (!slot)
		return xmig__fail(XMIG_EPROTO, "kvm: %s: unknown state blob type %u", scope, type);
	if (!data || len < sizeof(h))
		return xmig__fail(XMIG_EPROTO, "kvm: %s: %s blob of %zu bytes has no header",
				  scope, name, len);
	memcpy(&h, data, sizeof(h));
	if (h.version != XMIG_KVM_STATE_VERSION)
		return xmig__fail(XMIG_EVERSION, "kvm: %s: %s blob version %u, expected %u", scope,
				  name, h.version, XMIG_KVM_STATE_VERSION);
	if (h.type != type || h.vcpu != vcpu || h.size != len - sizeof(h))
		return xmig__fail(XMIG_EPROTO,
				  "kvm: %s: %s blob header says type %u, vCPU %u, %u bytes; "
				  "got %zu bytes",
				  scope, name, h.type, h.vcpu, h.size, len - sizeof(h));
	if (!blob_size_ok(caps, type, p, h.size))
		return xmig__fail(XMIG_EPROTO, "kvm: %s: %s blob: bad size or content (%u bytes)",
				  scope, name, h.size);
	if (slot->data)
		return xmig__fail(XMIG_EPROTO, "kvm: %s: duplicate %s blob", scope, name);
	slot->data = malloc(h.size ? h.size : 1);
	if (!slot->data)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	memcpy(slot->data, p, h.size);
	slot->len = h.size;
	return 0;
}

int xmig__kvm_blobs_complete(const struct xmig__kvm_blobs *s, uint64_t mem_bytes)
{
	static const uint32_t mandatory[] = {
		XMIG_KVM_STATE_CPUID, XMIG_KVM_STATE_SREGS, XMIG_KVM_STATE_REGS,
		XMIG_KVM_STATE_MSRS, XMIG_KVM_STATE_VMM,
	};
	struct xmig_kvm_config_state cfg;

	if (!s->cfg.data || !s->clock.data)
		return xmig__fail(XMIG_EPROTO, "kvm: incomplete state: no %s blob received",
				  s->cfg.data ? "CLOCK" : "CONFIG");
	memcpy(&cfg, s->cfg.data, sizeof(cfg));
	if (cfg.mem_bytes != mem_bytes || cfg.nr_vcpus != s->nr_vcpus || cfg.flags)
		return xmig__fail(XMIG_EPROTO,
				  "kvm: the source VM (%llu bytes, %u vCPUs, flags 0x%x) differs "
				  "from this one (%llu bytes, %u vCPUs)",
				  (unsigned long long)cfg.mem_bytes, cfg.nr_vcpus, cfg.flags,
				  (unsigned long long)mem_bytes, s->nr_vcpus);
	for (uint32_t i = 0; i < s->nr_vcpus; i++) {
		for (size_t j = 0; j < XMIG__ARRAY_SIZE(mandatory); j++)
			if (!s->vcpu[i][mandatory[j]].data)
				return xmig__fail(XMIG_EPROTO,
						  "kvm: incomplete state: vCPU %u: no %s blob", i,
						  xmig__kvm_blob_name(mandatory[j]));
		if (!s->vcpu[i][XMIG_KVM_STATE_XSAVE].data && !s->vcpu[i][XMIG_KVM_STATE_FPU].data)
			return xmig__fail(XMIG_EPROTO,
					  "kvm: incomplete state: vCPU %u: no XSAVE or FPU blob", i);
	}
	return 0;
}

/* ---- dirty log ---- */

int xmig__kvm_dirty_merge(uint64_t *bitmap, const uint64_t *slot, uint64_t nr_pages)
{
	size_t words = xmig__kvm_bitmap_words(nr_pages);
	int any = 0;

	for (size_t i = 0; i < words; i++) {
		uint64_t w = slot[i];

		if (i == words - 1 && nr_pages % 64)
			w &= (1ull << (nr_pages % 64)) - 1;
		if (w) {
			bitmap[i] |= w;
			any = 1;
		}
	}
	return any;
}

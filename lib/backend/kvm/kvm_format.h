/* SPDX-License-Identifier: MIT */
/*
 * The part of the kvm backend that needs no /dev/kvm: parameter checks, the
 * guest ELF and its PVH boot page, state blob framing and the store that
 * keeps blobs until they are applied, and the dirty-log bookkeeping. All of
 * it works on plain memory and plain values, never on a file descriptor of
 * KVM, so tests/check_kvm_format.c runs on every machine, with or without
 * /dev/kvm (the xen backend's xen_format.h plays the same role).
 *
 * Errors are reported as everywhere in the library: a negative XMIG_E*
 * code, with the message set through xmig__fail.
 */
#ifndef XMIG_KVM_FORMAT_H
#define XMIG_KVM_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "xmig/backend/kvm.h"
#include "xmig/sys/backend.h"

#define XMIG__KVM_PAGE 4096ull
#define XMIG__KVM_LINE_MAX 1024
#define XMIG__KVM_MAX_MSRS 1024
#define XMIG__KVM_MAX_CPUID 256

/* Boot page (see kvm.h): start info, memory map, command line. */
#define XMIG__KVM_BOOT_PAGE 0x7000ull
#define XMIG__KVM_START_INFO (XMIG__KVM_BOOT_PAGE)
#define XMIG__KVM_MEMMAP (XMIG__KVM_BOOT_PAGE + 0x80)
#define XMIG__KVM_CMDLINE (XMIG__KVM_BOOT_PAGE + 0x100)
#define XMIG__KVM_CMDLINE_MAX (XMIG__KVM_PAGE - 0x100)
#define XMIG__KVM_LOW_RAM_END 0x9f000ull
#define XMIG__KVM_HIGH_RAM 0x100000ull

/* ---- parameters ---- */

/*
 * Check a source's parameters before anything is opened; `*mem_bytes` gets
 * the guest size rounded up to whole pages. The host's own vCPU limit is
 * checked later, when /dev/kvm is open.
 */
int xmig__kvm_params_check(const struct xmig_kvm_params *p, uint64_t *mem_bytes);

/* Check the shape a destination is asked to create (from the stream). */
int xmig__kvm_info_check(const struct xmig_guest_info *info);

/* ---- the guest ELF and its boot page ---- */

/*
 * Check a guest ELF image (`data`, `size` bytes, named `path` in messages)
 * for a guest of `mem_bytes`: x86 little-endian, headers inside the file,
 * every loadable segment inside guest RAM (kvm.h gives the layout), and a
 * PVH entry note whose address is in RAM. With `mem` (mem_bytes of guest
 * memory) the segments are then copied there. `*entry` gets the entry.
 */
int xmig__kvm_elf_load(const uint8_t *data, size_t size, const char *path, uint8_t *mem,
		       uint64_t mem_bytes, uint64_t *entry);

/*
 * Write the boot page into guest memory `mem`: hvm_start_info (version 1),
 * the memory map and the command line, with "tsc_khz=TSC_KHZ" appended
 * unless the command line has it already or tsc_khz is 0.
 */
int xmig__kvm_boot_page(uint8_t *mem, uint64_t mem_bytes, const char *cmdline,
			uint32_t tsc_khz);

/* ---- state blobs ---- */

/* What the destination's KVM can take; probed from /dev/kvm. */
struct xmig__kvm_caps {
	int xsave;
	int xsave_size; /* bytes of KVM_GET_XSAVE(2) */
	int xcrs;
	int debugregs;
	int vcpu_events;
};

/* A blob's name for messages ("REGS"); "?" if unknown. */
const char *xmig__kvm_blob_name(uint32_t type);

/* A state blob kept by a destination until it is applied. */
struct xmig__kvm_blob {
	void *data; /* payload only, header stripped */
	size_t len;
};

/* Blob slots per vCPU, indexed by type (1 .. XMIG_KVM_STATE_VMM). */
#define XMIG__KVM_VCPU_BLOBS (XMIG_KVM_STATE_VMM + 1)

/*
 * Every blob a destination received, checked and kept: per vCPU by type,
 * and the two platform blobs.
 */
struct xmig__kvm_blobs {
	uint32_t nr_vcpus;
	struct xmig__kvm_blob (*vcpu)[XMIG__KVM_VCPU_BLOBS];
	struct xmig__kvm_blob cfg, clock;
};

/* An empty store for `nr_vcpus`; 0 or XMIG_ENOMEM. */
int xmig__kvm_blobs_init(struct xmig__kvm_blobs *s, uint32_t nr_vcpus);

/* Free every blob and the store's table. Idempotent. */
void xmig__kvm_blobs_fini(struct xmig__kvm_blobs *s);

/*
 * Check one blob from the stream (header, version, size and the fields its
 * size depends on, against `caps`) and keep a copy. A duplicate, a vCPU the
 * guest lacks or a type unknown is XMIG_EPROTO; a version this library does
 * not read, XMIG_EVERSION.
 */
int xmig__kvm_blobs_put(struct xmig__kvm_blobs *s, const struct xmig__kvm_caps *caps,
			uint32_t vcpu, uint32_t type, const void *data, size_t len);

/*
 * Is the state complete for a guest of `mem_bytes`: both platform blobs,
 * a CONFIG matching this guest, and per vCPU every mandatory blob?
 * 0 or XMIG_EPROTO naming what is missing.
 */
int xmig__kvm_blobs_complete(const struct xmig__kvm_blobs *s, uint64_t mem_bytes);

/* ---- dirty log ---- */

/* Words of a bitmap of `nr_pages` bits (KVM copies whole longs). */
static inline size_t xmig__kvm_bitmap_words(uint64_t nr_pages)
{
	return (size_t)((nr_pages + 63) / 64);
}

/*
 * OR the slot bitmap KVM returned into the engine's `bitmap`, ignoring bits
 * at and beyond `nr_pages`. Returns 1 if any page was dirty.
 */
int xmig__kvm_dirty_merge(uint64_t *bitmap, const uint64_t *slot, uint64_t nr_pages);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The PVH boot information, laid out as in Xen's public header
 * xen/include/public/arch-x86/hvm/start_info.h. All fields little-endian;
 * addresses are guest-physical.
 */
#ifndef XG_PVH_H
#define XG_PVH_H

#include <stdint.h>

#define XG_PVH_MAGIC 0x336ec578u
#define XG_MEMMAP_RAM 1u

struct xg_hvm_start_info {
	uint32_t magic;
	uint32_t version;          /* 0: no memory map; >= 1: memmap_* valid */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;    /* NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;     /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct xg_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;             /* E820 numbering: 1 = RAM */
	uint32_t reserved;
};

_Static_assert(sizeof(struct xg_hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct xg_memmap_entry) == 24, "memmap entry layout");

#endif

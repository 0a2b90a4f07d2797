/* SPDX-License-Identifier: MIT */
/*
 * xg_main: read the PVH boot information, lay out memory, announce the
 * workload, run it, and exit with its verdict.
 */
#include "xg.h"
#include "pvh.h"

#define XG_CMDLINE_MAX 1024u
#define XG_MEMMAP_MAX 128u
#define XG_BOOT_INFO_LIMIT (4ull << 30)   /* what entry.S has mapped */

/*
 * The loader may have put the boot information in RAM that will become
 * working set, so it is copied into the image before anything is written.
 */
struct boot {
	char cmdline[XG_CMDLINE_MAX];
	struct xg_memmap_entry map[XG_MEMMAP_MAX];
	unsigned map_n;
};

struct guest {
	struct boot boot;
	struct xg_opts opts;
	struct xg_mem mem;
};

void xg_main(uint32_t start_info_paddr);

static bool below_limit(uint64_t paddr, uint64_t len)
{
	return paddr < XG_BOOT_INFO_LIMIT && len <= XG_BOOT_INFO_LIMIT - paddr;
}

static void read_boot_info(struct boot *b, uint32_t paddr)
{
	const struct xg_hvm_start_info *si = (const void *)(uintptr_t)paddr;
	const struct xg_memmap_entry *map;
	size_t i;

	if (paddr == 0 || si->magic != XG_PVH_MAGIC)
		xg_fail("no PVH start info (bad magic)");
	if (si->version < 1 || si->memmap_entries == 0)
		xg_fail("PVH start info has no memory map (version 0)");

	b->cmdline[0] = '\0';
	if (si->cmdline_paddr) {
		const char *s = (const char *)(uintptr_t)si->cmdline_paddr;

		if (!below_limit(si->cmdline_paddr, XG_CMDLINE_MAX))
			xg_fail("command line above 4 GiB");
		for (i = 0; i < XG_CMDLINE_MAX && s[i]; i++)
			b->cmdline[i] = s[i];
		if (i == XG_CMDLINE_MAX)
			xg_fail("command line longer than 1023 bytes");
		b->cmdline[i] = '\0';
	}

	b->map_n = si->memmap_entries < XG_MEMMAP_MAX ? si->memmap_entries : XG_MEMMAP_MAX;
	if (!below_limit(si->memmap_paddr, b->map_n * sizeof(*map)))
		xg_fail("memory map above 4 GiB");
	map = (const void *)(uintptr_t)si->memmap_paddr;
	memcpy(b->map, map, b->map_n * sizeof(*map));
}

static void announce(const struct guest *g, uint64_t tsc_khz)
{
	const struct xg_opts *o = &g->opts;

	xg_puts("XG BOOT v1 ram=");
	xg_putu(g->mem.ram_bytes);
	xg_puts(" ws=");
	xg_putu(g->mem.ws_pages << XG_PAGE_SHIFT);
	xg_puts(" pattern=");
	switch (o->pattern) {
	case XG_PATTERN_SEQ:
		xg_puts("seq");
		break;
	case XG_PATTERN_RANDOM:
		xg_puts("random");
		break;
	case XG_PATTERN_HOT: {
		uint64_t hot = o->hot < g->mem.ws_pages << XG_PAGE_SHIFT
		               ? o->hot & ~(uint64_t)(XG_PAGE_SIZE - 1)
		               : g->mem.ws_pages << XG_PAGE_SHIFT;

		xg_puts("hot:");
		xg_putu(hot);
		break;
	}
	}
	xg_puts(" rate=");
	if (o->idle)
		xg_puts("idle");
	else if (o->rate)
		xg_putu(o->rate);
	else
		xg_puts("max");
	xg_puts(" hb=");
	xg_putu(o->hb_ms);
	xg_puts(" tsc_khz=");
	xg_putu(tsc_khz);
	xg_putc('\n');
}

void xg_main(uint32_t start_info_paddr)
{
	/* xg_main never returns: its frame is the guest's state for good. */
	struct guest guest, *g = &guest;
	uint64_t tsc_khz;

	read_boot_info(&g->boot, start_info_paddr);
	xg_opts_default(&g->opts);
	if (xg_cmdline_parse(&g->opts, g->boot.cmdline))
		xg_exit(XG_EXIT_BADARG);
	if (xg_mem_layout(&g->mem, g->boot.map, g->boot.map_n, g->opts.ws))
		xg_exit(XG_EXIT_BADARG);
	tsc_khz = xg_tsc_khz(g->opts.tsc_khz);
	announce(g, tsc_khz);
	xg_exit(xg_workload_run(&g->opts, &g->mem, tsc_khz));
}

/* SPDX-License-Identifier: MIT */
/*
 * Memory layout. From the boot memory map the guest takes every RAM page
 * at or above 1 MiB that is not its own image. Right after the image (or, if
 * that is not RAM, at the start of the largest RAM range below 4 GiB) it
 * places, in order: page directories for RAM above 4 GiB (entry.S maps only
 * the first 4 GiB), then the generation table; the working set is the rest
 * of the RAM, in address order, possibly in several extents.
 *
 * RAM below 1 MiB is left alone: firmware and loaders keep their data there.
 */
#include "xg.h"
#include "pvh.h"

#define XG_LOW_LIMIT (1ull << 20)
#define XG_BOOT_MAPPED (4ull << 30)      /* what entry.S maps */
#define XG_MAP_LIMIT (512ull << 30)      /* one PDPT of 2 MiB pages */
#define XG_GIB (1ull << 30)

#define PTE_P 0x001ull
#define PTE_RW 0x002ull
#define PTE_PS 0x080ull

extern char __image_start[], __image_end[];
extern uint64_t xg_pdpt[512];

struct range {
	uint64_t start, end;   /* bytes, page-aligned, end exclusive */
};

struct ranges {
	struct range r[XG_MAX_EXTENTS];
	unsigned n;
};

static uint64_t pages_of(struct range r)
{
	return (r.end - r.start) >> XG_PAGE_SHIFT;
}

/* Further ranges than fit are dropped: that RAM just goes unused. */
static void ranges_add(struct ranges *rs, uint64_t start, uint64_t end)
{
	unsigned i;

	if (start >= end || rs->n == XG_MAX_EXTENTS)
		return;
	i = rs->n++;
	while (i > 0 && rs->r[i - 1].start > start) {
		rs->r[i] = rs->r[i - 1];
		i--;
	}
	rs->r[i].start = start;
	rs->r[i].end = end;
}

static void collect_free_ram(struct ranges *rs, uint64_t *ram_bytes,
                             const struct xg_memmap_entry *map, unsigned n)
{
	const uint64_t img_s = (uintptr_t)__image_start, img_e = (uintptr_t)__image_end;
	const uint64_t mask = XG_PAGE_SIZE - 1;

	*ram_bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t s, e;

		if (map[i].type != XG_MEMMAP_RAM || map[i].size == 0)
			continue;
		*ram_bytes += map[i].size;
		s = (map[i].addr + mask) & ~mask;
		e = map[i].addr + map[i].size < map[i].addr ? UINT64_MAX & ~mask
		                                             : (map[i].addr + map[i].size) & ~mask;
		if (s < XG_LOW_LIMIT)
			s = XG_LOW_LIMIT;
		if (e > XG_MAP_LIMIT)
			e = XG_MAP_LIMIT;
		if (s >= e)
			continue;
		if (s < img_e && img_s < e) {
			ranges_add(rs, s, img_s < s ? s : img_s);
			ranges_add(rs, img_e > e ? e : img_e, e);
		} else {
			ranges_add(rs, s, e);
		}
	}
}

/* Generation table pages for n working-set pages (8 bytes per page). */
static uint64_t table_pages(uint64_t n)
{
	return (n + XG_PAGE_SIZE / 8 - 1) / (XG_PAGE_SIZE / 8);
}

/* The largest n with n + table_pages(n) <= budget. */
static uint64_t fit_ws(uint64_t budget)
{
	uint64_t n = budget / 513 * 512;

	while (n + 1 + table_pages(n + 1) <= budget)
		n++;
	return n;
}

/*
 * Map [4 GiB, top) with 2 MiB pages, one directory page per GiB, taken from
 * `at` (below 4 GiB, so already mapped). New entries were not present
 * before, so no stale translation can exist; the CR3 reload is belt and
 * braces.
 */
static void map_above_4g(uint64_t at, uint64_t pd_pages)
{
	for (uint64_t g = 0; g < pd_pages; g++) {
		uint64_t *pd = (uint64_t *)(uintptr_t)(at + g * XG_PAGE_SIZE);
		uint64_t gib = XG_BOOT_MAPPED / XG_GIB + g;

		for (uint64_t j = 0; j < 512; j++)
			pd[j] = (gib * XG_GIB + (j << 21)) | PTE_P | PTE_RW | PTE_PS;
		xg_pdpt[gib] = (at + g * XG_PAGE_SIZE) | PTE_P | PTE_RW;
	}
	if (pd_pages) {
		uint64_t cr3;

		__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
		__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	}
}

int xg_mem_layout(struct xg_mem *m, const struct xg_memmap_entry *map, unsigned n,
                  uint64_t ws_bytes)
{
	const uint64_t img_e = (uintptr_t)__image_end;
	struct ranges rs = { .n = 0 };
	struct range *tables = NULL;
	uint64_t top = 0, total = 0, pd_pages = 0, req, ws, left;

	collect_free_ram(&rs, &m->ram_bytes, map, n);
	for (unsigned i = 0; i < rs.n; i++) {
		if (rs.r[i].end > top)
			top = rs.r[i].end;
		total += pages_of(rs.r[i]);
	}
	if (top > XG_BOOT_MAPPED)
		pd_pages = (top - XG_BOOT_MAPPED + XG_GIB - 1) / XG_GIB;
	/*
	 * The tables go right after the image if that is RAM, else into the
	 * largest range whose start (where the directories go) is mapped.
	 */
	for (unsigned i = 0; i < rs.n; i++) {
		struct range *c = &rs.r[i];

		if (c->start + pd_pages * XG_PAGE_SIZE >= XG_BOOT_MAPPED)
			continue;
		if (c->start == img_e) {
			tables = c;
			break;
		}
		if (!tables || pages_of(*c) > pages_of(*tables))
			tables = c;
	}
	if (!tables) {
		xg_puts("XG FAIL no RAM below 4 GiB for the guest's tables\n");
		return -1;
	}

	req = ws_bytes >> XG_PAGE_SHIFT;
	ws = req;
	if (pages_of(*tables) <= pd_pages + 1 || total <= pd_pages + 1) {
		xg_puts("XG FAIL no RAM for the working set\n");
		return -1;
	}
	if (ws > fit_ws(total - pd_pages))
		ws = fit_ws(total - pd_pages);
	/* The generation table must be contiguous, in the tables range. */
	if (table_pages(ws) > pages_of(*tables) - pd_pages)
		ws = (pages_of(*tables) - pd_pages) * (XG_PAGE_SIZE / 8);
	if (ws < req) {
		xg_puts("XG WARN ws clamped to ");
		xg_putu(ws << XG_PAGE_SHIFT);
		xg_puts(" (free RAM)\n");
	}

	map_above_4g(tables->start, pd_pages);
	tables->start += pd_pages * XG_PAGE_SIZE;
	m->gen = (uint64_t *)(uintptr_t)tables->start;
	tables->start += table_pages(ws) * XG_PAGE_SIZE;

	m->ws_pages = ws;
	m->n_ext = 0;
	left = ws;
	for (unsigned i = 0; i < rs.n && left; i++) {
		uint64_t take = pages_of(rs.r[i]);

		if (take == 0)
			continue;
		if (take > left)
			take = left;
		m->ext[m->n_ext].pfn = rs.r[i].start >> XG_PAGE_SHIFT;
		m->ext[m->n_ext].npages = take;
		m->n_ext++;
		left -= take;
	}
	return 0;
}

uint64_t xg_mem_pfn(const struct xg_mem *m, uint64_t index)
{
	const struct xg_extent *e = m->ext;

	while (index >= e->npages) {
		index -= e->npages;
		e++;
	}
	return e->pfn + index;
}

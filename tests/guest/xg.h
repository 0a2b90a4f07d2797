/* SPDX-License-Identifier: MIT */
/*
 * xmig test guest: declarations shared by its files.
 *
 * The guest is a freestanding x86-64 program booted through the PVH ABI
 * (entry.S). It owns the whole machine: one vCPU, interrupts off, identity-
 * mapped memory. Everything it says goes out on I/O port 0xe9 as short
 * "XG ..." lines; docs/test-guest.md is the contract.
 */
#ifndef XG_H
#define XG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XG_PAGE_SHIFT 12
#define XG_PAGE_SIZE 4096u
#define XG_PAGE_WORDS (XG_PAGE_SIZE / 8)

/* Exit codes, written to port 0xf4 and printed as "XG EXIT <code>". */
enum xg_exit_code {
	XG_EXIT_CLEAN = 0,
	XG_EXIT_CORRUPT = 1,
	XG_EXIT_BADARG = 2,
};

enum xg_pattern {
	XG_PATTERN_SEQ,
	XG_PATTERN_RANDOM,
	XG_PATTERN_HOT,
};

/* The workload, as the command line asked for it. */
struct xg_opts {
	uint64_t ws;          /* working set, bytes */
	uint64_t rate;        /* bytes/s of page writes; 0 = as fast as possible */
	enum xg_pattern pattern;
	uint64_t hot;         /* XG_PATTERN_HOT: size of the hot region, bytes */
	uint64_t hb_ms;       /* heartbeat period */
	uint64_t time_s;      /* run time after READY; 0 = for ever */
	uint64_t check;       /* pages verified per loop turn */
	uint64_t tsc_khz;     /* 0 = find it out */
	bool idle;
	bool final_check;
	bool corrupt;         /* test hook: damage one page after READY */
};

/* A run of physically contiguous working-set pages. */
struct xg_extent {
	uint64_t pfn;
	uint64_t npages;
};

#define XG_MAX_EXTENTS 64

/* Where the working set and its bookkeeping live. */
struct xg_mem {
	uint64_t ram_bytes;   /* all RAM the boot memory map reports */
	uint64_t ws_pages;
	unsigned n_ext;
	struct xg_extent ext[XG_MAX_EXTENTS];
	/*
	 * Expected generation of every working-set page, indexed like the
	 * working set. It sits outside the working set so the writer and the
	 * checker never compare a page against itself.
	 */
	uint64_t *gen;
};

/* Port I/O. The "memory" clobbers keep page accesses ordered around output. */
static inline void xg_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void xg_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t xg_inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint64_t xg_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

/* console.c: output on port 0xe9 */
void xg_puts(const char *s);
void xg_putu(uint64_t v);
void xg_putx(uint64_t v);
void xg_putc(char c);
__attribute__((noreturn)) void xg_exit(int code);
__attribute__((noreturn)) void xg_fail(const char *msg);

/* string.c */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t xg_strlen(const char *s);

/* cmdline.c: 0, or -1 after printing "XG FAIL ..." */
void xg_opts_default(struct xg_opts *o);
int xg_cmdline_parse(struct xg_opts *o, const char *cmdline);

/* tsc.c */
uint64_t xg_tsc_khz(uint64_t from_cmdline);

/* page.c: the page format */
enum xg_page_fault {
	XG_PAGE_OK = 0,
	XG_PAGE_BAD_PFN,
	XG_PAGE_BAD_GEN,
	XG_PAGE_BAD_SUM,
};
void xg_page_write(uint64_t pfn, uint64_t gen);
enum xg_page_fault xg_page_verify(uint64_t pfn, uint64_t gen, uint64_t *got_gen);
const char *xg_page_fault_name(enum xg_page_fault f);

/* mem.c: memory layout and page tables */
struct xg_memmap_entry;
int xg_mem_layout(struct xg_mem *m, const struct xg_memmap_entry *map, unsigned n,
                  uint64_t ws_bytes);
uint64_t xg_mem_pfn(const struct xg_mem *m, uint64_t index);

/* workload.c */
int xg_workload_run(const struct xg_opts *o, struct xg_mem *m, uint64_t tsc_khz);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Dirty bitmaps: bit i of 64-bit word i/64 is pfn i, the layout the backend
 * contract (dirty_fetch) uses. Bits at or beyond nr_pages are always clear.
 */
#ifndef XMIG_LIB_BITMAP_H
#define XMIG_LIB_BITMAP_H

#include <stddef.h>
#include <stdint.h>

static inline size_t xmig__bitmap_words(uint64_t nbits)
{
	return (size_t)((nbits + 63) / 64);
}

static inline int xmig__bitmap_test(const uint64_t *bm, uint64_t i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

static inline void xmig__bitmap_set(uint64_t *bm, uint64_t i)
{
	bm[i / 64] |= 1ull << (i % 64);
}

static inline void xmig__bitmap_clear(uint64_t *bm, uint64_t i)
{
	bm[i / 64] &= ~(1ull << (i % 64));
}

/* Set bits 0..nbits-1, clear the rest of the last word. */
void xmig__bitmap_fill(uint64_t *bm, uint64_t nbits);

/* Clear the bits at or beyond nbits (a backend may have set some). */
void xmig__bitmap_trim(uint64_t *bm, uint64_t nbits);

uint64_t xmig__bitmap_count(const uint64_t *bm, uint64_t nbits);

/*
 * Take up to `max` set bits, lowest first, starting at word *cursor: each is
 * cleared and stored in out[]. Returns how many were taken (0 at the end).
 * *cursor keeps the scan position between calls.
 */
unsigned int xmig__bitmap_take(uint64_t *bm, uint64_t nbits, size_t *cursor, uint64_t *out,
			       unsigned int max);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The page format. Words 0-2 are the header {pfn, generation, checksum};
 * words 3-511 come from a multiplicative congruential generator seeded by
 * (pfn, generation), and the checksum is a multiply-xor hash over them.
 *
 * Cost matters more than quality: under KVM's instruction emulator every
 * instruction is emulated, so the inner loops are one multiply, one store
 * (or load) and one xor-multiply per word, unrolled by four.
 */
#include "xg.h"

#define XG_BODY_FIRST 3u

#define XG_MCG_MUL 0xf1357aea2e62a9c5ull  /* = 5 mod 8: full period for odd seeds */
#define XG_SUM_MUL 0xff51afd7ed558ccdull
#define XG_SUM_INIT 0x6a09e667f3bcc908ull

static uint64_t *page_ptr(uint64_t pfn)
{
	return (uint64_t *)(uintptr_t)(pfn << XG_PAGE_SHIFT);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 29;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 32;
	return x;
}

static uint64_t seed_of(uint64_t pfn, uint64_t gen)
{
	return mix64(pfn * 0x9e3779b97f4a7c15ull ^ mix64(gen)) | 1;
}

/* Folded so that a page of zeroes never carries a matching checksum of 0. */
static uint64_t sum_final(uint64_t h)
{
	return mix64(h) | 1;
}

void xg_page_write(uint64_t pfn, uint64_t gen)
{
	uint64_t *p = page_ptr(pfn);
	uint64_t x = seed_of(pfn, gen);
	uint64_t h = XG_SUM_INIT;
	unsigned i;

	x *= XG_MCG_MUL;
	p[XG_BODY_FIRST] = x;
	h = (h ^ x) * XG_SUM_MUL;
	for (i = XG_BODY_FIRST + 1; i < XG_PAGE_WORDS; i += 4) {
		x *= XG_MCG_MUL;
		p[i] = x;
		h = (h ^ x) * XG_SUM_MUL;
		x *= XG_MCG_MUL;
		p[i + 1] = x;
		h = (h ^ x) * XG_SUM_MUL;
		x *= XG_MCG_MUL;
		p[i + 2] = x;
		h = (h ^ x) * XG_SUM_MUL;
		x *= XG_MCG_MUL;
		p[i + 3] = x;
		h = (h ^ x) * XG_SUM_MUL;
	}
	p[0] = pfn;
	p[1] = gen;
	p[2] = sum_final(h);
}

static uint64_t body_sum(const uint64_t *p)
{
	uint64_t h = XG_SUM_INIT;
	unsigned i;

	h = (h ^ p[XG_BODY_FIRST]) * XG_SUM_MUL;
	for (i = XG_BODY_FIRST + 1; i < XG_PAGE_WORDS; i += 4) {
		h = (h ^ p[i]) * XG_SUM_MUL;
		h = (h ^ p[i + 1]) * XG_SUM_MUL;
		h = (h ^ p[i + 2]) * XG_SUM_MUL;
		h = (h ^ p[i + 3]) * XG_SUM_MUL;
	}
	return sum_final(h);
}

_Static_assert((XG_PAGE_WORDS - XG_BODY_FIRST - 1) % 4 == 0, "unrolled loops cover the body");

enum xg_page_fault xg_page_verify(uint64_t pfn, uint64_t gen, uint64_t *got_gen)
{
	const uint64_t *p = page_ptr(pfn);

	*got_gen = p[1];
	if (p[0] != pfn)
		return XG_PAGE_BAD_PFN;
	if (p[1] != gen)
		return XG_PAGE_BAD_GEN;
	if (p[2] != body_sum(p))
		return XG_PAGE_BAD_SUM;
	return XG_PAGE_OK;
}

const char *xg_page_fault_name(enum xg_page_fault f)
{
	switch (f) {
	case XG_PAGE_BAD_PFN: return "pfn";
	case XG_PAGE_BAD_GEN: return "gen";
	case XG_PAGE_BAD_SUM: return "sum";
	case XG_PAGE_OK: break;
	}
	return "ok";
}

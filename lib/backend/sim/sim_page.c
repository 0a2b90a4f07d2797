/* SPDX-License-Identifier: MIT */
/*
 * Page content of the SIMULATED guest.
 *
 * A page is all zero, or a 32-byte header {u64 pfn, u64 generation,
 * u64 XXH3 of bytes 32..4095, u64 magic} followed by 4064 bytes drawn from
 * a PRNG seeded by (seed, pfn, generation). Little-endian throughout, so a
 * page means the same on every host. A page carries everything needed to
 * verify it, so a checker needs no history: a torn copy fails the checksum,
 * a page sent to the wrong frame fails the pfn.
 */
#include <xxhash.h>

#include "sim_priv.h"

/* The splitmix64 finaliser: a cheap bijection that spreads every bit. */
uint64_t xmig__sim_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* splitmix64: one add and a mix per 8 bytes, fast enough to fill pages. */
uint64_t xmig__sim_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return xmig__sim_mix64(*state);
}

/* Distinct salts so the zero-page choice and the page bodies are unrelated. */
#define SALT_ZERO 0x7a65726f7a65726full
#define SALT_BODY 0x626f6479626f6479ull

int xmig__sim_page_starts_zero(uint64_t seed, uint32_t zero_percent, uint64_t pfn)
{
	uint64_t h = xmig__sim_mix64(xmig__sim_mix64(seed ^ SALT_ZERO) ^ pfn);

	return h % 100 < zero_percent;
}

void xmig__sim_page_fill(void *page, uint64_t seed, uint64_t pfn, uint64_t gen)
{
	uint8_t *p = page;
	uint64_t st;
	size_t off;

	st = xmig__sim_mix64(xmig__sim_mix64(xmig__sim_mix64(seed ^ SALT_BODY) ^ pfn) ^ gen);
	for (off = SIM_HDR_SIZE; off < SIM_PAGE_SIZE; off += 8)
		xmig__put_le64(p + off, xmig__sim_rand(&st));
	xmig__put_le64(p + SIM_HDR_PFN, pfn);
	xmig__put_le64(p + SIM_HDR_GEN, gen);
	xmig__put_le64(p + SIM_HDR_SUM,
		       XXH3_64bits(p + SIM_HDR_SIZE, SIM_PAGE_SIZE - SIM_HDR_SIZE));
	xmig__put_le64(p + SIM_HDR_MAGIC, SIM_MAGIC);
}

uint64_t xmig__sim_page_generation(const void *page)
{
	const uint8_t *p = page;

	/* A zero page (no magic) is generation 0; so is a damaged one. */
	if (xmig__le64(p + SIM_HDR_MAGIC) != SIM_MAGIC)
		return 0;
	return xmig__le64(p + SIM_HDR_GEN);
}

const char *xmig__sim_page_verify(const void *page, uint64_t pfn)
{
	const uint8_t *p = page;

	if (xmig__le64(p + SIM_HDR_MAGIC) != SIM_MAGIC)
		return xmig__is_zero(p, SIM_PAGE_SIZE) ? NULL : "neither all zero nor a page header (bad magic)";
	if (xmig__le64(p + SIM_HDR_PFN) != pfn)
		return "header names another pfn (page misplaced)";
	if (xmig__le64(p + SIM_HDR_SUM) !=
	    XXH3_64bits(p + SIM_HDR_SIZE, SIM_PAGE_SIZE - SIM_HDR_SIZE))
		return "checksum mismatch (torn or corrupted page)";
	return NULL;
}

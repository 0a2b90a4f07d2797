/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "bitmap.h"

void xmig__bitmap_fill(uint64_t *bm, uint64_t nbits)
{
	size_t n = xmig__bitmap_words(nbits);

	memset(bm, 0xff, n * sizeof(*bm));
	xmig__bitmap_trim(bm, nbits);
}

void xmig__bitmap_trim(uint64_t *bm, uint64_t nbits)
{
	if (nbits % 64)
		bm[nbits / 64] &= (1ull << (nbits % 64)) - 1;
}

uint64_t xmig__bitmap_count(const uint64_t *bm, uint64_t nbits)
{
	size_t i, n = xmig__bitmap_words(nbits);
	uint64_t c = 0;

	for (i = 0; i < n; i++)
		c += (uint64_t)__builtin_popcountll(bm[i]);
	return c;
}

unsigned int xmig__bitmap_take(uint64_t *bm, uint64_t nbits, size_t *cursor, uint64_t *out,
			       unsigned int max)
{
	size_t w, n = xmig__bitmap_words(nbits);
	unsigned int got = 0;

	for (w = *cursor; w < n && got < max; w++) {
		uint64_t word = bm[w];

		while (word && got < max) {
			unsigned int b = (unsigned int)__builtin_ctzll(word);

			out[got++] = (uint64_t)w * 64 + b;
			word &= word - 1;
		}
		bm[w] = word;
		if (word)
			break; /* `max` reached inside this word: resume here */
	}
	*cursor = w;
	return got;
}

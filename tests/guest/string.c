/* SPDX-License-Identifier: MIT */
/*
 * The few libc routines the compiler may call on its own even in a
 * freestanding build (struct copies, large zero-initialisations).
 * Built with -fno-tree-loop-distribute-patterns where the compiler has it,
 * so these loops are not turned back into calls to themselves.
 */
#include "xg.h"

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x < *y ? -1 : 1;
	}
	return 0;
}

size_t xg_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

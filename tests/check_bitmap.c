/* SPDX-License-Identifier: MIT */
/* Dirty bitmaps: fill, trim, count, and batch-wise taking of set bits. */
#include <string.h>

#include "bitmap.h"
#include "testutil.h"

START_TEST(test_fill_and_trim)
{
	static const uint64_t sizes[] = { 1, 63, 64, 65, 127, 128, 1000, 12345 };
	uint64_t bm[200];
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t n = sizes[i], j;

		memset(bm, 0, sizeof(bm));
		xmig__bitmap_fill(bm, n);
		ck_assert_uint_eq(xmig__bitmap_count(bm, n), n);
		for (j = 0; j < n; j++)
			ck_assert(xmig__bitmap_test(bm, j));
		/* nothing beyond the last pfn, even in the same word */
		for (j = n; j < xmig__bitmap_words(n) * 64; j++)
			ck_assert(!xmig__bitmap_test(bm, j));
		bm[xmig__bitmap_words(n) - 1] = ~0ull;
		xmig__bitmap_trim(bm, n);
		ck_assert_uint_eq(xmig__bitmap_count(bm, n), n);
	}
}
END_TEST

START_TEST(test_take_in_batches)
{
	const uint64_t n = 10000;
	uint64_t bm[157] = { 0 }, out[7], seen = 0, last = 0;
	size_t cursor = 0;
	unsigned int got, k;
	uint64_t i;

	for (i = 0; i < n; i += 3)
		xmig__bitmap_set(bm, i);
	xmig__bitmap_set(bm, n - 2); /* 9998: not a multiple of 3 */
	while ((got = xmig__bitmap_take(bm, n, &cursor, out, 7)) > 0) {
		ck_assert_uint_le(got, 7);
		for (k = 0; k < got; k++) {
			ck_assert(out[k] % 3 == 0 || out[k] == n - 2);
			ck_assert(seen == 0 || out[k] > last); /* ascending, no repeats */
			last = out[k];
			seen++;
		}
	}
	ck_assert_uint_eq(seen, (n + 2) / 3 + 1);
	ck_assert_uint_eq(xmig__bitmap_count(bm, n), 0); /* all taken bits cleared */
}
END_TEST

START_TEST(test_take_resumes_mid_word)
{
	uint64_t bm[2] = { ~0ull, 0x5 }, out[64];
	size_t cursor = 0;

	ck_assert_uint_eq(xmig__bitmap_take(bm, 128, &cursor, out, 60), 60);
	ck_assert_uint_eq(out[59], 59);
	ck_assert_uint_eq(xmig__bitmap_take(bm, 128, &cursor, out, 60), 6);
	ck_assert_uint_eq(out[0], 60);
	ck_assert_uint_eq(out[3], 63);
	ck_assert_uint_eq(out[4], 64);
	ck_assert_uint_eq(out[5], 66);
	ck_assert_uint_eq(xmig__bitmap_take(bm, 128, &cursor, out, 60), 0);
}
END_TEST

static Suite *bitmap_suite(void)
{
	Suite *s = suite_create("bitmap");
	TCase *tc = tcase_create("bitmap");

	tcase_add_test(tc, test_fill_and_trim);
	tcase_add_test(tc, test_take_in_batches);
	tcase_add_test(tc, test_take_resumes_mid_word);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(bitmap_suite());
}

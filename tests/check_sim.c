/* SPDX-License-Identifier: MIT */
/*
 * The sim backend: a SIMULATED guest. These tests hold it to the backend
 * contract (xmig/sys/backend.h) the engine relies on: exact dirty tracking,
 * a pause that stops every write, state that carries over, a checker that
 * catches damage. Page format checks here are written from the public
 * description in xmig/backend/sim.h, not from the library's code.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "common.h"
#include "testutil.h"
#include "xmig/backend/sim.h"
#include "xmig/sys/backend.h"
#include "xmig/xmig.h"

#define PAGE 4096u

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static struct xmig_backend *sim_guest(uint64_t mem, uint32_t vcpus, const char *model,
				      uint64_t seed)
{
	struct xmig_sim_params p = XMIG_SIM_PARAMS_INIT;
	struct xmig_backend *b = NULL;
	int rc;

	p.mem_bytes = mem;
	p.nr_vcpus = vcpus;
	p.dirty = model;
	p.seed = seed;
	rc = xmig_sim_new(&b, &p);
	ck_assert_msg(rc == 0, "xmig_sim_new(%s): %s", model, xmig_error_last());
	return b;
}

static const uint8_t *memory(struct xmig_backend *b, uint64_t *nr_pages)
{
	const void *m = xmig_sim_memory(b, nr_pages);

	ck_assert_ptr_nonnull(m);
	return m;
}

static uint8_t *writable_page(struct xmig_backend *b, uint64_t pfn)
{
	void *ptr = NULL;

	ck_assert_int_eq(b->ops->map_pages(b, &pfn, 1, &ptr, XMIG_MAP_WRITE), 0);
	ck_assert_ptr_nonnull(ptr);
	return ptr;
}

static int test_bit(const uint64_t *bm, uint64_t pfn)
{
	return (bm[pfn / 64] >> (pfn % 64)) & 1;
}

static int page_is_zero(const uint8_t *p)
{
	for (unsigned int i = 0; i < PAGE; i++)
		if (p[i])
			return 0;
	return 1;
}

/* --- dirty models --- */

START_TEST(test_parse_valid)
{
	static const char *ok[] = {
		"none", "max", "uniform:100M/s", "uniform:max", "uniform:4096/s",
		"hot:64M:200M/s", "hot:4K:max", "hot:1G:1G/s", "seq:1G/s", "seq:max",
		"uniform:10MiB/s", "seq:512KB/s",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(xmig_sim_parse_dirty(ok[i]) == 0, "'%s' refused: %s", ok[i],
			      xmig_error_last());
}
END_TEST

START_TEST(test_parse_invalid)
{
	static const char *bad[] = {
		"", "foo", "None", "MAX", "none:", "max:1", "uniform", "uniform:",
		"uniform:100M", "uniform:100M/", "uniform:100M/sec", "uniform:/s",
		"uniform:0/s", "uniform:-1/s", "uniform:max/s", "uniform:100X/s",
		"uniform:100M/s ", " uniform:100M/s", "hot:64M", "hot:64M:", "hot::max",
		"hot:0:max", "hot:64M:0/s", "hot:max:max", "hot:64M:200M/s:1", "seq",
		"seq:", "seq:max:1", "seq:1G", "random:1M/s",
		"uniform:100000000000000000000000000000000000000000000000000000000000M/s",
	};

	ck_assert_int_eq(xmig_sim_parse_dirty(NULL), XMIG_EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(xmig_sim_parse_dirty(bad[i]) == XMIG_EINVAL, "'%s' accepted",
			      bad[i]);
		ck_assert_msg(xmig_error_last()[0] != '\0', "'%s': no message", bad[i]);
	}
}
END_TEST

/* One rate rule for every tool and the sim models: the unit decides the base. */
START_TEST(test_parse_rate_units)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "50M/s", 50ull << 20 },      { "50MiB/s", 50ull << 20 },
		{ "50MB/s", 50000000ull },     { "400Mbit/s", 50000000ull },
		{ "10Gbit/s", 1250000000ull }, { "1k/s", 1024 },
		{ "1kB/s", 1000 },             { "1KiB/s", 1024 },
		{ "4096/s", 4096 },            { "4096B/s", 4096 },
		{ "8bit/s", 1 },               { "2T/s", 2ull << 40 },
		{ "0/s", 0 },
	};
	static const char *bad[] = {
		"", "/s", "M/s", "50M", "50M/", "50Mb/s", "50Mbps", "50 M/s", "50M/s ", "50iB/s",
		"50MiB", "50Gbits/s", "4bit/s", "50P/s", "-1M/s", "99999999999999999999T/s",
		"20000000T/s",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		ck_assert_msg(xmig__parse_rate(ok[i].s, &v) == 0, "'%s' refused", ok[i].s);
		ck_assert_msg(v == ok[i].v, "'%s' = %llu, not %llu", ok[i].s,
			      (unsigned long long)v, (unsigned long long)ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(xmig__parse_rate(bad[i], &v) < 0, "'%s' accepted", bad[i]);
	ck_assert_int_lt(xmig__parse_rate(NULL, &v), 0);
	/* and through the models: 50MB/s is less than 50M/s */
	ck_assert_int_eq(xmig_sim_parse_dirty("uniform:400Mbit/s"), 0);
	ck_assert_int_eq(xmig_sim_parse_dirty("uniform:50Mb/s"), XMIG_EINVAL);
}
END_TEST

START_TEST(test_new_rejects)
{
	struct xmig_sim_params p = XMIG_SIM_PARAMS_INIT;
	struct xmig_backend *b = (struct xmig_backend *)&p;

	p.mem_bytes = 4 << 20;
	p.dirty = "hot:5M:max"; /* larger than the guest */
	ck_assert_int_eq(xmig_sim_new(&b, &p), XMIG_EINVAL);
	ck_assert_ptr_null(b);
	ck_assert_ptr_nonnull(strstr(xmig_error_last(), "hot"));
	p.dirty = "hot:4M:max"; /* exactly the guest: fine */
	ck_assert_int_eq(xmig_sim_new(&b, &p), 0);
	b->ops->free(b);

	p.dirty = "bogus";
	ck_assert_int_eq(xmig_sim_new(&b, &p), XMIG_EINVAL);
	p.dirty = "none";
	p.zero_percent = 101;
	ck_assert_int_eq(xmig_sim_new(&b, &p), XMIG_EINVAL);
	p.zero_percent = 25;
	p.nr_vcpus = 257;
	ck_assert_int_eq(xmig_sim_new(&b, &p), XMIG_EINVAL);
	p.nr_vcpus = 1;
	p.mem_bytes = 0;
	ck_assert_int_eq(xmig_sim_new(&b, &p), XMIG_EINVAL);
	p.mem_bytes = PAGE;
	p.version = 99;
	ck_assert_int_eq(xmig_sim_new(&b, &p), XMIG_EINVAL);
	ck_assert_int_eq(xmig_sim_new(&b, NULL), XMIG_EINVAL);
}
END_TEST

/* --- content --- */

START_TEST(test_page_format)
{
	struct xmig_backend *b = sim_guest(256 * PAGE, 1, "none", 42);
	uint64_t n, zeros = 0;
	const uint8_t *m = memory(b, &n);

	ck_assert_uint_eq(n, 256);
	for (uint64_t pfn = 0; pfn < n; pfn++) {
		const uint8_t *p = m + pfn * PAGE;

		if (page_is_zero(p)) {
			zeros++;
			continue;
		}
		ck_assert_uint_eq(le64(p), pfn);
		ck_assert_uint_eq(le64(p + 8), 0); /* generation 0 */
		ck_assert_uint_eq(le64(p + 16), XXH3_64bits(p + 32, PAGE - 32));
		ck_assert_int_eq(memcmp(p + 24, "XMIGSIM1", 8), 0);
	}
	/* 25 % by default: 64 expected of 256. */
	ck_assert_msg(zeros > 30 && zeros < 100, "%llu zero pages", (unsigned long long)zeros);
	b->ops->free(b);
}
END_TEST

START_TEST(test_determinism)
{
	struct xmig_backend *a = sim_guest(1024 * PAGE, 2, "none", 7);
	struct xmig_backend *b = sim_guest(1024 * PAGE, 1, "none", 7);
	struct xmig_backend *c = sim_guest(1024 * PAGE, 2, "none", 8);
	struct xmig_sim_params p = XMIG_SIM_PARAMS_INIT;
	struct xmig_backend *z;
	uint64_t n;

	ck_assert_int_eq(memcmp(memory(a, &n), memory(b, NULL), 1024 * PAGE), 0);
	ck_assert_int_ne(memcmp(memory(a, &n), memory(c, NULL), 1024 * PAGE), 0);
	ck_assert_int_eq(xmig_sim_check(a, NULL), 0);
	ck_assert_int_eq(xmig_sim_check(c, NULL), 0);
	a->ops->free(a);
	b->ops->free(b);
	c->ops->free(c);

	p.mem_bytes = 64 * PAGE;
	p.zero_percent = 0;
	ck_assert_int_eq(xmig_sim_new(&z, &p), 0);
	for (uint64_t pfn = 0; pfn < 64; pfn++)
		ck_assert(!page_is_zero(memory(z, NULL) + pfn * PAGE));
	z->ops->free(z);
	p.zero_percent = 100;
	ck_assert_int_eq(xmig_sim_new(&z, &p), 0);
	for (uint64_t pfn = 0; pfn < 64; pfn++)
		ck_assert(page_is_zero(memory(z, NULL) + pfn * PAGE));
	z->ops->free(z);
}
END_TEST

START_TEST(test_odd_sizes)
{
	static const struct {
		uint64_t bytes, pages;
	} sizes[] = {{1, 1}, {PAGE, 1}, {PAGE + 1, 2}, {12345ull * PAGE, 12345},
		     {12345ull * PAGE + 1, 12346}};
	struct xmig_guest_info info;
	struct xmig_backend *b;
	uint64_t n, w;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		b = sim_guest(sizes[i].bytes, 3, "none", 5);
		ck_assert_int_eq(b->ops->describe(b, &info), 0);
		ck_assert_uint_eq(info.nr_pages, sizes[i].pages);
		ck_assert_uint_eq(info.page_size, PAGE);
		ck_assert_uint_eq(info.nr_vcpus, 3);
		ck_assert_uint_eq(info.guest_kind, XMIG_GUEST_SIM);
		ck_assert_str_eq(info.backend, "sim");
		memory(b, &n);
		ck_assert_uint_eq(n, sizes[i].pages);
		ck_assert_int_eq(xmig_sim_check(b, NULL), 0);
		b->ops->free(b);
	}

	/* One page, more vCPUs than pages: only vCPU 0 has work. */
	b = sim_guest(1, 4, "max", 5);
	sleep_ms(30);
	ck_assert_int_eq(b->ops->pause(b), 0);
	w = xmig_sim_writes(b);
	ck_assert_uint_gt(w, 0);
	ck_assert_uint_eq(le64(memory(b, NULL) + 8), w); /* its generation */
	ck_assert_int_eq(xmig_sim_check(b, NULL), 0);
	b->ops->free(b);

	/* An odd size under every model. */
	static const char *models[] = {"uniform:max", "hot:7K:max", "seq:max"};
	for (size_t i = 0; i < 3; i++) {
		b = sim_guest(12345ull * PAGE, 3, models[i], 9);
		sleep_ms(30);
		ck_assert_uint_gt(xmig_sim_writes(b), 0);
		ck_assert_int_eq(xmig_sim_check(b, NULL), 0);
		b->ops->free(b);
	}
}
END_TEST

/* --- dirty tracking --- */

struct snap {
	uint8_t *mem;
	uint64_t *bm;
	uint64_t n;
};

/* Pause, snapshot, resume: the reference point of a dirty-tracking run. */
static void snap_take(struct xmig_backend *b, struct snap *s)
{
	const uint8_t *m;

	ck_assert_int_eq(b->ops->pause(b), 0);
	m = memory(b, &s->n);
	s->mem = malloc(s->n * PAGE);
	s->bm = calloc((s->n + 63) / 64, 8);
	ck_assert(s->mem && s->bm);
	/* Drop what was logged before the snapshot. */
	ck_assert_int_eq(b->ops->dirty_fetch(b, s->bm, 0), 0);
	memset(s->bm, 0, (s->n + 63) / 64 * 8);
	memcpy(s->mem, m, s->n * PAGE);
	ck_assert_int_eq(b->ops->resume(b), 0);
}

/* Every page that changed has its bit; with `exact`, no other page has. */
static uint64_t snap_compare(struct xmig_backend *b, struct snap *s, int exact)
{
	const uint8_t *m = memory(b, NULL);
	uint64_t changed = 0;

	for (uint64_t pfn = 0; pfn < s->n; pfn++) {
		int differs = memcmp(m + pfn * PAGE, s->mem + pfn * PAGE, PAGE) != 0;

		changed += differs;
		if (differs)
			ck_assert_msg(test_bit(s->bm, pfn), "pfn %llu changed, bit clear",
				      (unsigned long long)pfn);
		else if (exact)
			ck_assert_msg(!test_bit(s->bm, pfn), "pfn %llu unchanged, bit set",
				      (unsigned long long)pfn);
	}
	for (uint64_t pfn = s->n; pfn < (s->n + 63) / 64 * 64; pfn++)
		ck_assert_msg(!test_bit(s->bm, pfn), "bit %llu beyond the guest",
			      (unsigned long long)pfn);
	return changed;
}

static void snap_free(struct snap *s)
{
	free(s->mem);
	free(s->bm);
}

START_TEST(test_dirty_exact)
{
	/* ~10000 pages/s over 4099 pages: after 200 ms, some changed, most not. */
	struct xmig_backend *b = sim_guest(4099 * PAGE, 2, "uniform:40M/s", 3);
	struct snap s;
	uint64_t changed;

	ck_assert_int_eq(b->ops->log_dirty_start(b), 0);
	snap_take(b, &s);
	sleep_ms(200);
	ck_assert_int_eq(b->ops->pause(b), 0);
	ck_assert_int_eq(b->ops->dirty_fetch(b, s.bm, 1), 0);
	changed = snap_compare(b, &s, 1);
	ck_assert_msg(changed > 100 && changed < 4000, "%llu pages changed",
		      (unsigned long long)changed);
	ck_assert_int_eq(xmig_sim_check(b, NULL), 0);
	ck_assert_int_eq(b->ops->log_dirty_stop(b), 0);
	ck_assert_int_eq(b->ops->log_dirty_stop(b), 0);
	snap_free(&s);
	b->ops->free(b);
}
END_TEST

START_TEST(test_dirty_concurrent_fetch)
{
	/* Fetches race the vCPUs: the union still covers every change. */
	struct xmig_backend *b = sim_guest(2048 * PAGE, 2, "max", 4);
	uint64_t t0 = 0;
	struct snap s;
	int rounds = 0;

	ck_assert_int_eq(b->ops->log_dirty_start(b), 0);
	snap_take(b, &s);
	for (t0 = xmig_sim_writes(b); rounds < 200; rounds++) {
		ck_assert_int_eq(b->ops->dirty_fetch(b, s.bm, 0), 0);
		sleep_ms(1);
	}
	ck_assert_int_eq(b->ops->pause(b), 0);
	ck_assert_int_eq(b->ops->dirty_fetch(b, s.bm, 1), 0);
	ck_assert_uint_gt(xmig_sim_writes(b), t0);
	snap_compare(b, &s, 1);
	snap_free(&s);
	b->ops->free(b);
}
END_TEST

START_TEST(test_dirty_hot_and_seq)
{
	struct xmig_backend *b = sim_guest(1024 * PAGE, 2, "hot:100K:max", 4);
	const uint8_t *m;
	struct snap s;

	/* hot: only the first 25 pages change. */
	ck_assert_int_eq(b->ops->log_dirty_start(b), 0);
	snap_take(b, &s);
	sleep_ms(50);
	ck_assert_int_eq(b->ops->pause(b), 0);
	ck_assert_int_eq(b->ops->dirty_fetch(b, s.bm, 1), 0);
	ck_assert_uint_gt(snap_compare(b, &s, 1), 0);
	for (uint64_t w = 0; w < 1024 / 64; w++)
		ck_assert_uint_eq(s.bm[w] & (w ? ~0ull : ~((1ull << 25) - 1)), 0);
	snap_free(&s);
	b->ops->free(b);

	/* seq: the sweep reaches every page. */
	b = sim_guest(300 * PAGE, 2, "seq:max", 4);
	sleep_ms(50);
	ck_assert_int_eq(b->ops->pause(b), 0);
	m = memory(b, NULL);
	for (uint64_t pfn = 0; pfn < 300; pfn++)
		ck_assert_msg(le64(m + pfn * PAGE + 8) > 0, "pfn %llu never written",
			      (unsigned long long)pfn);
	b->ops->free(b);
}
END_TEST

START_TEST(test_dirty_log_off)
{
	struct xmig_backend *b = sim_guest(64 * PAGE, 1, "max", 4);
	uint64_t bm[1] = {0};

	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 0), XMIG_EINVAL);
	ck_assert_int_eq(b->ops->log_dirty_start(b), 0);
	sleep_ms(10);
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 0), 0);
	ck_assert_uint_ne(bm[0], 0);
	ck_assert_int_eq(b->ops->log_dirty_stop(b), 0);
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 0), XMIG_EINVAL);
	b->ops->free(b);
}
END_TEST

START_TEST(test_rate)
{
	/* 40 MB/s = 9766 pages/s: ~2400 in 250 ms (wide margin: shared CPU). */
	struct xmig_backend *b = sim_guest(1024 * PAGE, 2, "uniform:40M/s", 4);
	uint64_t w;

	sleep_ms(250);
	w = xmig_sim_writes(b);
	ck_assert_msg(w > 800 && w < 4000, "%llu writes in 250 ms", (unsigned long long)w);
	b->ops->free(b);
}
END_TEST

/* --- pause --- */

START_TEST(test_pause_stops_writes)
{
	struct xmig_sim_params p = XMIG_SIM_PARAMS_INIT;
	struct xmig_backend *b;
	uint64_t w, n;
	uint8_t *copy;

	p.mem_bytes = 1024 * PAGE;
	p.nr_vcpus = 2;
	p.dirty = "max";
	p.keep_pause_image = 1;
	ck_assert_int_eq(xmig_sim_new(&b, &p), 0);
	ck_assert_ptr_null(xmig_sim_pause_image(b));
	sleep_ms(20);
	ck_assert_int_eq(b->ops->pause(b), 0);
	ck_assert_int_eq(b->ops->pause(b), 0); /* already paused: no-op */
	w = xmig_sim_writes(b);
	ck_assert_uint_gt(w, 0);
	copy = malloc(1024 * PAGE);
	memory(b, &n);
	ck_assert_uint_eq(n, 1024);
	memcpy(copy, memory(b, NULL), n * PAGE);
	ck_assert_ptr_nonnull(xmig_sim_pause_image(b));
	ck_assert_int_eq(memcmp(xmig_sim_pause_image(b), copy, n * PAGE), 0);
	sleep_ms(100);
	ck_assert_uint_eq(xmig_sim_writes(b), w);
	ck_assert_int_eq(memcmp(memory(b, NULL), copy, n * PAGE), 0);
	/* A check while paused must not resume the guest. */
	ck_assert_int_eq(xmig_sim_check(b, NULL), 0);
	sleep_ms(20);
	ck_assert_uint_eq(xmig_sim_writes(b), w);

	ck_assert_int_eq(b->ops->resume(b), 0);
	ck_assert_int_eq(b->ops->resume(b), 0); /* not paused: no-op */
	sleep_ms(20);
	ck_assert_uint_gt(xmig_sim_writes(b), w);
	free(copy);
	b->ops->free(b);
}
END_TEST

START_TEST(test_pause_slow_model)
{
	/* 1 page/s per vCPU: the vCPUs spend their time waiting for rate
	 * tokens, and must still park at once. */
	struct xmig_backend *b = sim_guest(64 * PAGE, 2, "uniform:8K/s", 4);
	struct timespec t0, t1;
	uint64_t w;
	long ms;

	sleep_ms(10);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(b->ops->pause(b), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms < 100, "pause took %ld ms", ms);
	w = xmig_sim_writes(b);
	ck_assert_uint_le(w, 4);
	sleep_ms(300);
	ck_assert_uint_eq(xmig_sim_writes(b), w);
	ck_assert_int_eq(b->ops->resume(b), 0);
	b->ops->free(b);
}
END_TEST

/* --- the guest's own check --- */

START_TEST(test_check_corrupt_byte)
{
	struct xmig_backend *b = sim_guest(128 * PAGE, 1, "none", 11);
	const uint8_t *m = memory(b, NULL);
	uint64_t bad = 0, nz = 0, z = 0;
	uint8_t *p;

	while (page_is_zero(m + nz * PAGE))
		nz++;
	while (!page_is_zero(m + z * PAGE))
		z++;

	p = writable_page(b, nz);
	p[1000] ^= 0x40;
	ck_assert_int_eq(xmig_sim_check(b, &bad), XMIG_EGUEST);
	ck_assert_uint_eq(bad, nz);
	ck_assert_ptr_nonnull(strstr(xmig_error_last(), "checksum"));
	p[1000] ^= 0x40;
	ck_assert_int_eq(xmig_sim_check(b, &bad), 0);

	/* A zero page with one stray byte is neither zero nor a page. */
	p = writable_page(b, z);
	p[4095] = 1;
	ck_assert_int_eq(xmig_sim_check(b, &bad), XMIG_EGUEST);
	ck_assert_uint_eq(bad, z);
	p[4095] = 0;

	/* Damage in the header itself. */
	p = writable_page(b, nz);
	p[8] ^= 1; /* generation: checksum no longer matches the body */
	ck_assert_int_eq(xmig_sim_check(b, &bad), XMIG_EGUEST);
	p[8] ^= 1;
	ck_assert_int_eq(xmig_sim_check(b, NULL), 0);
	b->ops->free(b);
}
END_TEST

START_TEST(test_check_misplaced)
{
	struct xmig_backend *b = sim_guest(128 * PAGE, 1, "none", 12);
	const uint8_t *m = memory(b, NULL);
	uint64_t bad = 0, src = 0, dst;

	while (page_is_zero(m + src * PAGE))
		src++;
	dst = 100;
	/* A perfectly valid page, at the wrong frame. */
	memcpy(writable_page(b, dst), m + src * PAGE, PAGE);
	ck_assert_int_eq(xmig_sim_check(b, &bad), XMIG_EGUEST);
	ck_assert_uint_eq(bad, dst);
	ck_assert_ptr_nonnull(strstr(xmig_error_last(), "0x64"));
	ck_assert_ptr_nonnull(strstr(xmig_error_last(), "misplaced"));

	/* A destination that knows no seed checks the headers alone. */
	{
		struct xmig_guest_info info;
		struct xmig_backend *d;

		ck_assert_int_eq(b->ops->describe(b, &info), 0);
		ck_assert_int_eq(xmig_sim_new_dest(&d), 0);
		ck_assert_int_eq(d->ops->create(d, &info), 0);
		for (uint64_t pfn = 0; pfn < info.nr_pages; pfn++)
			memcpy(writable_page(d, pfn), m + pfn * PAGE, PAGE);
		bad = 0;
		ck_assert_int_eq(xmig_sim_check(d, &bad), XMIG_EGUEST);
		ck_assert_uint_eq(bad, dst);
		memset(writable_page(d, dst), 0, PAGE);
		ck_assert_int_eq(xmig_sim_check(d, NULL), 0);
		d->ops->free(d);
	}
	b->ops->free(b);
}
END_TEST

START_TEST(test_check_running)
{
	struct xmig_backend *b = sim_guest(2048 * PAGE, 2, "max", 13);
	uint64_t w;

	for (int i = 0; i < 5; i++) {
		w = xmig_sim_writes(b);
		ck_assert_int_eq(xmig_sim_check(b, NULL), 0);
		sleep_ms(10);
		ck_assert_uint_gt(xmig_sim_writes(b), w); /* resumed after the check */
	}
	b->ops->free(b);
}
END_TEST

/* --- state and the destination --- */

struct blob {
	uint32_t vcpu, type;
	size_t len;
	uint8_t data[256];
};

struct blobs {
	int n;
	struct blob b[260];
};

static int capture(void *ctx, uint32_t vcpu, uint32_t type, const void *data, size_t len)
{
	struct blobs *bs = ctx;
	struct blob *b = &bs->b[bs->n++];

	ck_assert_uint_le(len, sizeof(b->data));
	b->vcpu = vcpu;
	b->type = type;
	b->len = len;
	memcpy(b->data, data, len);
	return 0;
}

static int refuse(void *ctx, uint32_t vcpu, uint32_t type, const void *data, size_t len)
{
	return 42;
}

/* Copy the source's memory into the destination through map_pages. */
static void copy_memory(struct xmig_backend *src, struct xmig_backend *dst)
{
	static uint64_t pfns[1024];
	static void *ptrs[1024];
	uint64_t n, done;
	const uint8_t *m = memory(src, &n);
	unsigned int k;

	for (done = 0; done < n; done += k) {
		k = n - done < 1024 ? (unsigned int)(n - done) : 1024;
		for (unsigned int i = 0; i < k; i++)
			pfns[i] = done + i;
		ck_assert_int_eq(dst->ops->map_pages(dst, pfns, k, ptrs, XMIG_MAP_WRITE), 0);
		for (unsigned int i = 0; i < k; i++)
			memcpy(ptrs[i], m + pfns[i] * PAGE, PAGE);
		dst->ops->unmap_pages(dst, ptrs, k);
	}
}

/* A paused source and a created destination of the same shape. */
static void pair(struct xmig_backend **src, struct xmig_backend **dst, struct blobs *bs,
		 const char *model, uint32_t vcpus)
{
	struct xmig_guest_info info;

	*src = sim_guest(3000 * PAGE, vcpus, model, 21);
	sleep_ms(20);
	ck_assert_int_eq((*src)->ops->pause(*src), 0);
	ck_assert_int_eq((*src)->ops->describe(*src, &info), 0);
	ck_assert_int_eq(xmig_sim_new_dest(dst), 0);
	ck_assert_int_eq((*dst)->ops->create(*dst, &info), 0);
	bs->n = 0;
	ck_assert_int_eq((*src)->ops->save_state(*src, capture, bs), 0);
	ck_assert_int_eq(bs->n, (int)vcpus + 1);
}

START_TEST(test_migrate)
{
	struct xmig_backend *src, *dst;
	struct xmig_guest_info info;
	struct blobs *bs = calloc(1, sizeof(*bs));
	uint64_t w_src, w, bad = 0;

	pair(&src, &dst, bs, "hot:5M:max", 3);
	w_src = xmig_sim_writes(src);
	ck_assert_uint_gt(w_src, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(bs->b[i].vcpu, (uint32_t)i);
		ck_assert_uint_eq(bs->b[i].type, XMIG_SIM_STATE_VCPU);
		ck_assert_uint_eq(bs->b[i].len, XMIG_SIM_STATE_VCPU_SIZE);
	}
	ck_assert_uint_eq(bs->b[3].vcpu, XMIG_STATE_PLATFORM);
	ck_assert_uint_eq(bs->b[3].type, XMIG_SIM_STATE_PLATFORM);
	ck_assert_uint_eq(bs->b[3].len, XMIG_SIM_STATE_PLATFORM_SIZE);
	ck_assert_str_eq((const char *)bs->b[3].data + 32, "hot:5M:max");

	copy_memory(src, dst);
	/* Platform blob first this time: load_state takes any order. */
	for (int i = bs->n - 1; i >= 0; i--) {
		ck_assert_msg(dst->ops->load_state(dst, bs->b[i].vcpu, bs->b[i].type,
						   bs->b[i].data, bs->b[i].len) == 0,
			      "blob %d: %s", i, xmig_error_last());
		if (i == bs->n - 1) {
			/* the restore is not complete without every vCPU */
			ck_assert_int_eq(dst->ops->restore_complete(dst), XMIG_EPROTO);
			ck_assert_str_eq(xmig_error_last(),
					 "sim: restore incomplete: no state for vCPU 0 of 3");
		}
	}
	ck_assert_msg(dst->ops->restore_complete(dst) == 0, "%s", xmig_error_last());
	src->ops->destroy(src);
	src->ops->destroy(src); /* idempotent */
	ck_assert_ptr_null(xmig_sim_memory(src, NULL));

	ck_assert_uint_eq(xmig_sim_writes(dst), w_src); /* counts carried over */
	ck_assert_int_eq(dst->ops->unpause(dst), 0);
	sleep_ms(50);
	w = xmig_sim_writes(dst);
	ck_assert_uint_gt(w, w_src);
	ck_assert_int_eq(xmig_sim_check(dst, &bad), 0);
	ck_assert_int_eq(dst->ops->describe(dst, &info), 0);
	ck_assert_uint_eq(info.nr_vcpus, 3);

	/* Ping-pong: the destination now serves as a source. */
	ck_assert_int_eq(dst->ops->log_dirty_start(dst), 0);
	ck_assert_int_eq(dst->ops->pause(dst), 0);
	bs->n = 0;
	ck_assert_int_eq(dst->ops->save_state(dst, capture, bs), 0);
	ck_assert_int_eq(bs->n, 4);
	ck_assert_int_eq(dst->ops->save_state(dst, refuse, NULL), 42);
	ck_assert_int_eq(dst->ops->resume(dst), 0);
	ck_assert_int_eq(dst->ops->save_state(dst, capture, bs), XMIG_EINVAL);

	/* The source handle can be a destination now. */
	ck_assert_int_eq(src->ops->create(src, &info), 0);
	ck_assert_int_eq(xmig_sim_check(src, NULL), 0); /* all zero */
	src->ops->free(src);
	dst->ops->free(dst);
	free(bs);
}
END_TEST

static void load_all(struct xmig_backend *dst, const struct blobs *bs)
{
	for (int i = 0; i < bs->n; i++)
		ck_assert_msg(dst->ops->load_state(dst, bs->b[i].vcpu, bs->b[i].type,
						   bs->b[i].data, bs->b[i].len) == 0,
			      "blob %d: %s", i, xmig_error_last());
}

/* seq with one vCPU: after W writes from pfn 0, page p was written
 * (W - p - 1) / N + 1 times if W > p. */
static void assert_sweep(struct xmig_backend *b)
{
	uint64_t n, w = xmig_sim_writes(b);
	const uint8_t *m = memory(b, &n);

	for (uint64_t p = 0; p < n; p++)
		ck_assert_msg(le64(m + p * PAGE + 8) == (w > p ? (w - p - 1) / n + 1 : 0),
			      "pfn %llu: generation %llu after %llu writes", (unsigned long long)p,
			      (unsigned long long)le64(m + p * PAGE + 8), (unsigned long long)w);
}

START_TEST(test_migrate_seq_continues)
{
	/* The sweep cursor travels: the destination carries on where the
	 * source stopped, under the same model and seed. */
	struct xmig_backend *src, *dst;
	struct blobs *bs = calloc(1, sizeof(*bs));

	pair(&src, &dst, bs, "seq:max", 1);
	assert_sweep(src);
	copy_memory(src, dst);
	load_all(dst, bs);
	ck_assert_int_eq(dst->ops->unpause(dst), 0);
	ck_assert_int_eq(dst->ops->unpause(dst), 0); /* already running */
	sleep_ms(30);
	ck_assert_int_eq(dst->ops->pause(dst), 0);
	ck_assert_uint_gt(xmig_sim_writes(dst), xmig_sim_writes(src));
	assert_sweep(dst);
	ck_assert_int_eq(xmig_sim_check(dst, NULL), 0);
	/* A state blob after the start is refused. */
	ck_assert_int_eq(dst->ops->load_state(dst, 0, bs->b[0].type, bs->b[0].data,
					      bs->b[0].len),
			 XMIG_EINVAL);
	src->ops->free(src);
	dst->ops->free(dst);
	free(bs);
}
END_TEST

START_TEST(test_migrate_same_sequence)
{
	/* The PRNG travels: a destination and the resumed source pick the same
	 * pages in the same order, so the one that wrote fewer pages wrote a
	 * prefix of the other's sequence: its generations are no higher. */
	struct xmig_backend *src, *dst, *lo, *hi;
	struct blobs *bs = calloc(1, sizeof(*bs));
	const uint8_t *ml, *mh;
	uint64_t n, w0;

	pair(&src, &dst, bs, "uniform:max", 1);
	w0 = xmig_sim_writes(src);
	copy_memory(src, dst);
	load_all(dst, bs);
	ck_assert_int_eq(dst->ops->unpause(dst), 0);
	ck_assert_int_eq(src->ops->resume(src), 0);
	sleep_ms(30);
	ck_assert_int_eq(src->ops->pause(src), 0);
	ck_assert_int_eq(dst->ops->pause(dst), 0);
	lo = xmig_sim_writes(src) <= xmig_sim_writes(dst) ? src : dst;
	hi = lo == src ? dst : src;
	ck_assert_uint_gt(xmig_sim_writes(lo), w0 + 100);
	ml = memory(lo, &n);
	mh = memory(hi, NULL);
	for (uint64_t p = 0; p < n; p++)
		ck_assert_msg(le64(ml + p * PAGE + 8) <= le64(mh + p * PAGE + 8),
			      "pfn %llu: the two guests picked different pages",
			      (unsigned long long)p);
	ck_assert_int_eq(xmig_sim_check(dst, NULL), 0);
	src->ops->free(src);
	dst->ops->free(dst);
	free(bs);
}
END_TEST

START_TEST(test_state_malformed)
{
	struct xmig_backend *src, *dst;
	struct blobs *bs = calloc(1, sizeof(*bs));
	struct blob v, pl;

	pair(&src, &dst, bs, "uniform:max", 2);
	v = bs->b[0];
	pl = bs->b[2];
	ck_assert_uint_eq(pl.vcpu, XMIG_STATE_PLATFORM);

#define REJECT(vcpu, type, data, len)                                                    \
	do {                                                                             \
		int rc_ = dst->ops->load_state(dst, (vcpu), (type), (data), (len));      \
		ck_assert_msg(rc_ == XMIG_EPROTO || rc_ == XMIG_EINVAL, "accepted (%d)", \
			      rc_);                                                      \
		ck_assert(xmig_error_last()[0] != '\0');                                 \
	} while (0)

	/* Wrong sizes. */
	REJECT(0, v.type, v.data, v.len - 1);
	REJECT(0, v.type, v.data, v.len + 1);
	REJECT(0, v.type, v.data, 0);
	REJECT(XMIG_STATE_PLATFORM, pl.type, pl.data, pl.len - 8);
	REJECT(XMIG_STATE_PLATFORM, pl.type, pl.data, pl.len + 8);
	/* Wrong types. */
	REJECT(0, 2, v.data, v.len);
	REJECT(0, 0, v.data, v.len);
	REJECT(XMIG_STATE_PLATFORM, 7, pl.data, pl.len);
	/* vCPU out of range (the guest has 2). */
	REJECT(2, v.type, v.data, v.len);
	REJECT(1000, v.type, v.data, v.len);
	/* A blob that names another vCPU than its scope. */
	REJECT(1, v.type, v.data, v.len);
	/* Bad version. */
	{
		struct blob x = v;

		put_le32(x.data, 2);
		REJECT(0, x.type, x.data, x.len);
		x = pl;
		put_le32(x.data, 0);
		REJECT(XMIG_STATE_PLATFORM, x.type, x.data, x.len);
	}
	/* Sweep cursor beyond the vCPU's pages. */
	{
		struct blob x = v;

		memset(x.data + 16, 0xff, 8);
		REJECT(0, x.type, x.data, x.len);
	}
	/* Bad model strings. */
	{
		static const char *models[] = {"bogus", "uniform:", "hot:0:max",
					       "hot:1G:max" /* bigger than the guest */};
		struct blob x;

		for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
			x = pl;
			memset(x.data + 32, 0, 64);
			memcpy(x.data + 32, models[i], strlen(models[i]));
			REJECT(XMIG_STATE_PLATFORM, x.type, x.data, x.len);
		}
		x = pl;
		memset(x.data + 32, 'a', 64); /* not terminated */
		REJECT(XMIG_STATE_PLATFORM, x.type, x.data, x.len);
		x = pl;
		memcpy(x.data + 32 + 40, "junk", 4); /* garbage after the NUL */
		REJECT(XMIG_STATE_PLATFORM, x.type, x.data, x.len);
	}
	/* Shape that does not match the created guest. */
	{
		struct blob x = pl;

		put_le32(x.data + 4, 3); /* nr_vcpus */
		REJECT(XMIG_STATE_PLATFORM, x.type, x.data, x.len);
		x = pl;
		x.data[16] ^= 1; /* nr_pages */
		REJECT(XMIG_STATE_PLATFORM, x.type, x.data, x.len);
		x = pl;
		put_le32(x.data + 24, 101); /* zero_percent */
		REJECT(XMIG_STATE_PLATFORM, x.type, x.data, x.len);
	}

	/* After all that, the good blobs load, once. */
	ck_assert_int_eq(dst->ops->load_state(dst, 0, v.type, v.data, v.len), 0);
	REJECT(0, v.type, v.data, v.len);
	ck_assert_int_eq(dst->ops->load_state(dst, pl.vcpu, pl.type, pl.data, pl.len), 0);
	REJECT(pl.vcpu, pl.type, pl.data, pl.len);
#undef REJECT
	src->ops->free(src);
	dst->ops->free(dst);
	free(bs);
}
END_TEST

START_TEST(test_dest_lifecycle)
{
	struct xmig_guest_info info = {.nr_pages = 100, .page_size = PAGE, .nr_vcpus = 2,
				       .guest_kind = XMIG_GUEST_SIM, .backend = "sim"};
	struct xmig_guest_info bad, out;
	struct xmig_backend *d;
	uint64_t pfn = 0;
	void *ptr;

	ck_assert_int_eq(xmig_sim_new_dest(&d), 0);
	ck_assert_str_eq(d->ops->name, "sim");
	ck_assert_uint_eq(d->ops->version, XMIG_BACKEND_OPS_VERSION);
	ck_assert_int_eq(d->ops->describe(d, &out), XMIG_EINVAL);
	ck_assert_int_eq(d->ops->map_pages(d, &pfn, 1, &ptr, XMIG_MAP_WRITE), XMIG_EINVAL);
	ck_assert_int_eq(d->ops->unpause(d), XMIG_EINVAL);
	ck_assert_ptr_null(xmig_sim_memory(d, NULL));
	ck_assert_int_eq(xmig_sim_check(d, NULL), XMIG_EINVAL);

	bad = info;
	bad.page_size = 8192;
	ck_assert_int_eq(d->ops->create(d, &bad), XMIG_ENOTSUP);
	bad = info;
	bad.guest_kind = XMIG_GUEST_KVM_PVH;
	ck_assert_int_eq(d->ops->create(d, &bad), XMIG_ENOTSUP);
	bad = info;
	strcpy(bad.backend, "kvm");
	ck_assert_int_eq(d->ops->create(d, &bad), XMIG_ENOTSUP);
	bad = info;
	bad.nr_vcpus = 0;
	ck_assert_int_eq(d->ops->create(d, &bad), XMIG_EINVAL);
	bad.nr_vcpus = 257;
	ck_assert_int_eq(d->ops->create(d, &bad), XMIG_EINVAL);
	bad = info;
	bad.nr_pages = 0;
	ck_assert_int_eq(d->ops->create(d, &bad), XMIG_EINVAL);
	bad.nr_pages = UINT64_MAX;
	ck_assert_int_eq(d->ops->create(d, &bad), XMIG_EINVAL);

	ck_assert_int_eq(d->ops->create(d, &info), 0);
	ck_assert_int_eq(d->ops->create(d, &info), XMIG_EINVAL);
	ck_assert_int_eq(d->ops->describe(d, &out), 0);
	ck_assert_uint_eq(out.nr_pages, 100);
	ck_assert_uint_eq(out.nr_vcpus, 2);
	ck_assert_str_eq(out.backend, "sim");
	pfn = 100;
	ck_assert_int_eq(d->ops->map_pages(d, &pfn, 1, &ptr, XMIG_MAP_READ), XMIG_EINVAL);
	pfn = 99;
	ck_assert_int_eq(d->ops->map_pages(d, &pfn, 1, &ptr, XMIG_MAP_READ), 0);
	ck_assert(page_is_zero(ptr)); /* reads as zero until written */
	d->ops->unmap_pages(d, &ptr, 1);

	/* No state ever arrived: not a restore the engine would commit... */
	ck_assert_int_eq(d->ops->restore_complete(d), XMIG_EPROTO);
	ck_assert_str_eq(xmig_error_last(), "sim: restore incomplete: no platform state");
	/* ...but started anyway, the guest runs, idle, and stays valid. */
	ck_assert_int_eq(d->ops->unpause(d), 0);
	sleep_ms(20);
	ck_assert_uint_eq(xmig_sim_writes(d), 0);
	ck_assert_int_eq(xmig_sim_check(d, NULL), 0);

	d->ops->destroy(d);
	d->ops->destroy(d);
	ck_assert_int_eq(d->ops->describe(d, &out), XMIG_EINVAL);
	ck_assert_int_eq(d->ops->create(d, &info), 0);
	d->ops->free(d); /* with a guest still present */
}
END_TEST

START_TEST(test_not_a_sim)
{
	static const struct xmig_backend_ops other = {.name = "other"};
	struct xmig_backend fake = {.ops = &other};

	ck_assert_int_eq(xmig_sim_check(&fake, NULL), XMIG_EINVAL);
	ck_assert_ptr_null(xmig_sim_memory(&fake, NULL));
	ck_assert_ptr_null(xmig_sim_pause_image(&fake));
	ck_assert_uint_eq(xmig_sim_writes(&fake), 0);
	ck_assert_int_eq(xmig_sim_check(NULL, NULL), XMIG_EINVAL);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tc = tcase_create("model");
	tcase_add_test(tc, test_parse_valid);
	tcase_add_test(tc, test_parse_invalid);
	tcase_add_test(tc, test_parse_rate_units);
	tcase_add_test(tc, test_new_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("content");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_page_format);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_odd_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("dirty");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_dirty_exact);
	tcase_add_test(tc, test_dirty_concurrent_fetch);
	tcase_add_test(tc, test_dirty_hot_and_seq);
	tcase_add_test(tc, test_dirty_log_off);
	tcase_add_test(tc, test_rate);
	suite_add_tcase(s, tc);

	tc = tcase_create("pause");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_pause_stops_writes);
	tcase_add_test(tc, test_pause_slow_model);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_check_corrupt_byte);
	tcase_add_test(tc, test_check_misplaced);
	tcase_add_test(tc, test_check_running);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_migrate);
	tcase_add_test(tc, test_migrate_seq_continues);
	tcase_add_test(tc, test_migrate_same_sequence);
	tcase_add_test(tc, test_state_malformed);
	tcase_add_test(tc, test_dest_lifecycle);
	tcase_add_test(tc, test_not_a_sim);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(sim_suite());
}

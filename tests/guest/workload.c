/* SPDX-License-Identifier: MIT */
/*
 * The workload: initialise the working set, then loop until the run time is
 * up, each turn (1) emitting due heartbeat and statistics lines, (2) letting
 * the continuous checker verify up to `check` pages round-robin, (3) letting
 * the writer rewrite up to XG_WRITE_BATCH pages, paced by the rate budget.
 * Both cut their share short when a heartbeat falls due. Then the final
 * full check.
 *
 * There are no interrupts: all timing is TSC polling, so the loop body must
 * stay short compared with the heartbeat period.
 */
#include "xg.h"

#define XG_WRITE_BATCH 8u
#define XG_ERR_LINES_PER_STAT 4u   /* continuous checker: ERR lines per second */
#define XG_ERR_LINES_FINAL 16u     /* final check: ERR lines in all */

/* Bit 63 of a generation-table entry: already reported, do not count again. */
#define XG_GEN_REPORTED (1ull << 63)
#define XG_GEN_MASK (~XG_GEN_REPORTED)

struct run {
	const struct xg_opts *o;
	struct xg_mem *m;
	uint64_t ms_ticks;

	uint64_t rng;          /* picks pages for the random and hot patterns */
	uint64_t hot_pages;
	uint64_t write_cur;    /* next page of the sequential writer */
	uint64_t check_cur;    /* next page of the continuous checker */

	/* rate pacing: bytes the writer may still write, with the division's rest */
	uint64_t credit, credit_rest, credit_max, last_refill, tsc_hz, max_delta;

	uint64_t writes, checked, errors;
	unsigned err_lines_left;
};

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: a handful of integer instructions per page */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n) for n < 2^32, from the high half of r. */
static uint64_t below(uint64_t r, uint64_t n)
{
	return ((r >> 32) * n) >> 32;
}

static uint64_t pick_page(struct run *r)
{
	const uint64_t n = r->m->ws_pages;
	uint64_t x, i;

	switch (r->o->pattern) {
	case XG_PATTERN_RANDOM:
		return below(rng_next(&r->rng), n);
	case XG_PATTERN_HOT:
		x = rng_next(&r->rng);
		/* low half decides hot (9 in 10) or cold; high half picks the page */
		if ((((x & 0xffffffffull) * 10) >> 32) < 9 || r->hot_pages == n)
			return below(x, r->hot_pages);
		return r->hot_pages + below(x, n - r->hot_pages);
	case XG_PATTERN_SEQ:
		break;
	}
	i = r->write_cur;
	r->write_cur = i + 1 == n ? 0 : i + 1;
	return i;
}

static void report(uint64_t pfn, uint64_t want, uint64_t got, enum xg_page_fault f)
{
	xg_puts("XG ERR pfn=");
	xg_putx(pfn);
	xg_puts(" want=");
	xg_putu(want);
	xg_puts(" got=");
	xg_putu(got);
	xg_puts(" why=");
	xg_puts(xg_page_fault_name(f));
	xg_putc('\n');
}

/* Returns true if the page is bad. */
static bool check_page(struct run *r, uint64_t i, bool count_reported)
{
	uint64_t *gen = &r->m->gen[i];
	uint64_t pfn = xg_mem_pfn(r->m, i), want = *gen & XG_GEN_MASK, got;
	enum xg_page_fault f;

	f = xg_page_verify(pfn, want, &got);
	if (f == XG_PAGE_OK)
		return false;
	/* A page stays bad until rewritten; report and count it only once. */
	if ((*gen & XG_GEN_REPORTED) && !count_reported)
		return false;
	*gen |= XG_GEN_REPORTED;
	if (r->err_lines_left) {
		r->err_lines_left--;
		report(pfn, want, got, f);
	}
	return true;
}

static void write_page(struct run *r, uint64_t i)
{
	uint64_t gen = (r->m->gen[i] & XG_GEN_MASK) + 1;

	xg_page_write(xg_mem_pfn(r->m, i), gen);
	r->m->gen[i] = gen;
}

/*
 * Add the bytes earned since the last call. The elapsed ticks are capped
 * (max_delta) so that delta * rate cannot overflow and a guest paused for
 * migration does not come back with a burst.
 */
static void refill(struct run *r, uint64_t now)
{
	uint64_t delta = now - r->last_refill, acc;

	r->last_refill = now;
	if (delta > r->max_delta)
		delta = r->max_delta;
	acc = delta * r->o->rate + r->credit_rest;
	r->credit += acc / r->tsc_hz;
	r->credit_rest = acc % r->tsc_hz;
	if (r->credit > r->credit_max)
		r->credit = r->credit_max;
}

static void stat_line(const struct run *r)
{
	xg_puts("XG STAT writes=");
	xg_putu(r->writes);
	xg_puts(" checked=");
	xg_putu(r->checked);
	xg_puts(" errors=");
	xg_putu(r->errors);
	xg_putc('\n');
}

static void setup_rate(struct run *r, uint64_t tsc_khz, uint64_t now)
{
	r->tsc_hz = tsc_khz * 1000;
	r->last_refill = now;
	if (!r->o->rate)
		return;
	/* at most 100 ms of credit, and delta * rate must stay below 2^63 */
	r->max_delta = r->tsc_hz / 10;
	if (r->max_delta > (UINT64_MAX >> 1) / r->o->rate)
		r->max_delta = (UINT64_MAX >> 1) / r->o->rate;
	r->credit_max = r->o->rate / 10;
	if (r->credit_max < XG_PAGE_SIZE)
		r->credit_max = XG_PAGE_SIZE;
}

/* Damage one page that the checker is about to look at. */
static void corrupt_one(struct run *r)
{
	uint64_t pfn = xg_mem_pfn(r->m, r->check_cur);
	volatile uint64_t *p = (uint64_t *)(uintptr_t)(pfn << XG_PAGE_SHIFT);

	p[XG_PAGE_WORDS / 2] ^= 1;
	xg_puts("XG CORRUPT pfn=");
	xg_putx(pfn);
	xg_putc('\n');
}

static void loop(struct run *r, uint64_t start)
{
	const struct xg_opts *o = r->o;
	const uint64_t n = r->m->ws_pages;
	uint64_t hb_ticks = o->hb_ms * r->ms_ticks, stat_ticks = 1000 * r->ms_ticks;
	uint64_t next_hb = start + hb_ticks, next_stat = start + stat_ticks;
	uint64_t end = o->time_s ? start + o->time_s * stat_ticks : 0;
	uint64_t hb_seq = 0;
	bool corrupt = o->corrupt;

	for (;;) {
		uint64_t now = xg_rdtsc();

		if (now >= next_hb) {
			xg_puts("XG HB ");
			xg_putu(++hb_seq);
			xg_putc('\n');
			/* After a pause, resume the period instead of catching up. */
			next_hb += hb_ticks;
			if (next_hb <= now)
				next_hb = now + hb_ticks;
		}
		if (now >= next_stat) {
			stat_line(r);
			r->err_lines_left = XG_ERR_LINES_PER_STAT;
			next_stat += stat_ticks;
			if (next_stat <= now)
				next_stat = now + stat_ticks;
		}
		if (end && now >= end)
			break;

		if (corrupt) {
			corrupt = false;
			corrupt_one(r);
		}

		for (uint64_t k = 0; k < o->check; k++) {
			if (check_page(r, r->check_cur, false))
				r->errors++;
			r->checked++;
			r->check_cur = r->check_cur + 1 == n ? 0 : r->check_cur + 1;
			if (k + 1 < o->check && xg_rdtsc() >= next_hb)
				break;
		}

		if (o->idle)
			continue;
		for (unsigned k = 0; k < XG_WRITE_BATCH; k++) {
			if (o->rate) {
				refill(r, xg_rdtsc());
				if (r->credit < XG_PAGE_SIZE)
					break;
				r->credit -= XG_PAGE_SIZE;
			}
			write_page(r, pick_page(r));
			r->writes++;
			if (xg_rdtsc() >= next_hb)
				break;
		}
	}
	stat_line(r);
}

static uint64_t final_check(struct run *r)
{
	uint64_t bad = 0;

	r->err_lines_left = XG_ERR_LINES_FINAL;
	for (uint64_t i = 0; i < r->m->ws_pages; i++) {
		if (check_page(r, i, true))
			bad++;
	}
	xg_puts("XG CHECK pages=");
	xg_putu(r->m->ws_pages);
	xg_puts(" errors=");
	xg_putu(bad);
	xg_putc('\n');
	return bad;
}

int xg_workload_run(const struct xg_opts *o, struct xg_mem *m, uint64_t tsc_khz)
{
	struct run r = {
		.o = o,
		.m = m,
		.ms_ticks = tsc_khz,
		.rng = 0x9e3779b97f4a7c15ull ^ xg_rdtsc(),
		.err_lines_left = XG_ERR_LINES_PER_STAT,
	};
	uint64_t start, final_errors = 0;

	if (r.rng == 0)
		r.rng = 1;
	r.hot_pages = o->hot >> XG_PAGE_SHIFT;
	if (r.hot_pages == 0 || r.hot_pages > m->ws_pages)
		r.hot_pages = m->ws_pages;

	for (uint64_t i = 0; i < m->ws_pages; i++) {
		xg_page_write(xg_mem_pfn(m, i), 1);
		m->gen[i] = 1;
	}
	xg_puts("XG READY\n");

	start = xg_rdtsc();
	setup_rate(&r, tsc_khz, start);
	loop(&r, start);
	if (o->final_check)
		final_errors = final_check(&r);
	return r.errors || final_errors ? XG_EXIT_CORRUPT : XG_EXIT_CLEAN;
}

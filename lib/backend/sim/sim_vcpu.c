/* SPDX-License-Identifier: MIT */
/*
 * The SIMULATED vCPUs: threads that dirty guest memory under a model, and
 * the pause that parks them.
 *
 * Pages are shared out by pfn modulo nr_vcpus, so two vCPUs never write the
 * same page at once and a page's rewrite is never torn by another vCPU.
 * Each vCPU writes the whole page first and sets its dirty bit second
 * (release); dirty_fetch swaps the words out (acquire), so a fetched bit
 * always comes with the data it stands for, and a write racing a fetch
 * leaves its bit for the next one.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "bitmap.h"
#include "sim_priv.h"

/* Sleep at most this long at a time, so a pause is never kept waiting. */
#define SIM_SLEEP_STEP_NS 1000000.0
/* Token bucket depth: credit a vCPU may save up while behind schedule. */
#define SIM_BURST_NS 5000000.0

#define SALT_VCPU 0x7663707576637075ull

uint64_t xmig__sim_vcpu_default_rng(uint64_t seed, uint32_t index)
{
	return xmig__sim_mix64(xmig__sim_mix64(seed ^ SALT_VCPU) + index);
}

uint64_t xmig__sim_share(uint64_t limit, uint32_t index, uint32_t nr_vcpus)
{
	if (limit <= index)
		return 0;
	return (limit - index - 1) / nr_vcpus + 1;
}

/* The pages this vCPU's model picks from, as a count of its own slots. */
static uint64_t vcpu_span(const struct sim *s, const struct sim_vcpu *v)
{
	uint64_t limit = s->nr_pages;

	if (s->model.kind == SIM_MODEL_NONE)
		return 0;
	if (s->model.kind == SIM_MODEL_HOT)
		limit = XMIG__DIV_ROUND_UP(s->model.hot_bytes, SIM_PAGE_SIZE);
	if (limit > s->nr_pages)
		limit = s->nr_pages;
	return xmig__sim_share(limit, v->index, s->nr_vcpus);
}

/* Park until the pause is lifted. Returns 1 if the thread must exit. */
static int vcpu_park(struct sim *s)
{
	int stop;

	pthread_mutex_lock(&s->lock);
	s->nr_parked++;
	pthread_cond_broadcast(&s->parked_cv);
	while (atomic_load(&s->pause_req) && !atomic_load(&s->stop_req))
		pthread_cond_wait(&s->run_cv, &s->lock);
	stop = atomic_load(&s->stop_req);
	s->nr_parked--;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void sleep_ns(double ns)
{
	struct timespec ts;

	if (ns > SIM_SLEEP_STEP_NS)
		ns = SIM_SLEEP_STEP_NS;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)ns;
	nanosleep(&ts, NULL);
}

static void write_page(struct sim *s, uint64_t pfn)
{
	uint8_t *page = s->mem + (pfn << SIM_PAGE_SHIFT);
	uint64_t gen;

	if (xmig__bitmap_test(s->absent, pfn))
		return; /* given back: a guest does not touch a ballooned-out frame */
	gen = xmig__sim_page_generation(page);

	xmig__sim_page_fill(page, s->seed, pfn, gen + 1);
	/*
	 * Recorded whether or not logging is on: log_dirty_start swaps the
	 * whole log out, so what dirty_fetch reports is exactly the writes since
	 * then, and no fence is needed to order a write against the switch.
	 */
	atomic_fetch_or_explicit(&s->dirty[pfn / 64], 1ull << (pfn % 64), memory_order_release);
}

static void *vcpu_main(void *arg)
{
	struct sim_vcpu *v = arg;
	struct sim *s = v->sim;
	uint64_t span = vcpu_span(s, v), base = xmig__now_ns(), k;
	uint64_t writes = atomic_load_explicit(&v->writes, memory_order_relaxed);
	double interval = 0, next = 0, now;

	if (s->model.rate)
		interval = 1e9 * SIM_PAGE_SIZE * s->nr_vcpus / (double)s->model.rate;

	for (;;) {
		if (atomic_load_explicit(&s->pause_req, memory_order_relaxed) ||
		    atomic_load_explicit(&s->stop_req, memory_order_relaxed)) {
			if (vcpu_park(s))
				break;
			/* No credit for the time spent parked. */
			next = (double)(xmig__now_ns() - base);
		}
		if (interval > 0) {
			now = (double)(xmig__now_ns() - base);
			if (next > now) {
				sleep_ns(next - now);
				continue;
			}
			if (now - next > SIM_BURST_NS)
				next = now - SIM_BURST_NS;
			next += interval;
		}

		switch (s->model.kind) {
		case SIM_MODEL_SEQ:
			k = v->cursor;
			v->cursor = k + 1 < span ? k + 1 : 0;
			break;
		default: /* UNIFORM, HOT: span already bounds the pick */
			k = (uint64_t)(((unsigned __int128)xmig__sim_rand(&v->rng) * span) >> 64);
			break;
		}
		write_page(s, v->index + k * s->nr_vcpus);
		atomic_store_explicit(&v->writes, ++writes, memory_order_relaxed);
	}
	return NULL;
}

int xmig__sim_vcpus_start(struct sim *s)
{
	uint32_t i;
	int err;

	for (i = 0; i < s->nr_vcpus; i++) {
		struct sim_vcpu *v = &s->vcpus[i];

		/* A vCPU with nothing to write (model none, or fewer pages in its
		 * share than vCPUs) has no thread: it counts as parked for ever. */
		if (vcpu_span(s, v) == 0)
			continue;
		pthread_mutex_lock(&s->lock);
		err = pthread_create(&v->thread, NULL, vcpu_main, v);
		if (err == 0) {
			v->thread_started = 1;
			s->nr_threads++;
		}
		pthread_mutex_unlock(&s->lock);
		if (err) {
			errno = err;
			xmig__fail_errno(XMIG_EBACKEND,
					 "simulated guest: cannot start vCPU %u thread", i);
			xmig__sim_vcpus_stop(s);
			return XMIG_EBACKEND;
		}
	}
	s->started = 1;
	return 0;
}

void xmig__sim_vcpus_stop(struct sim *s)
{
	uint32_t i;

	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop_req, 1);
	pthread_cond_broadcast(&s->run_cv);
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < s->nr_vcpus; i++) {
		if (!s->vcpus[i].thread_started)
			continue;
		pthread_join(s->vcpus[i].thread, NULL);
		s->vcpus[i].thread_started = 0;
	}
	pthread_mutex_lock(&s->lock);
	s->nr_threads = 0;
	s->nr_parked = 0;
	atomic_store(&s->stop_req, 0);
	pthread_mutex_unlock(&s->lock);
	s->started = 0;
}

void xmig__sim_pause_get(struct sim *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->pause_depth++ == 0)
		atomic_store(&s->pause_req, 1);
	/* Each vCPU finishes the page it is writing, then parks. */
	while (s->nr_parked < s->nr_threads)
		pthread_cond_wait(&s->parked_cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void xmig__sim_pause_put(struct sim *s)
{
	pthread_mutex_lock(&s->lock);
	if (--s->pause_depth == 0) {
		atomic_store(&s->pause_req, 0);
		pthread_cond_broadcast(&s->run_cv);
	}
	pthread_mutex_unlock(&s->lock);
}

/* SPDX-License-Identifier: MIT */
/*
 * The sim backend: a SIMULATED guest behind the ordinary ops table, for
 * tests and policy studies. Its memory is real, its "vCPUs" are threads
 * that rewrite pages under a dirty model; nothing here runs guest code.
 *
 * Life of a handle:
 *   source       xmig_sim_new: memory filled from the seed, vCPUs running.
 *   destination  xmig_sim_new_dest, then create (zeroed memory, no thread),
 *                map_pages/WRITE, load_state, unpause (threads start).
 *   either       destroy (threads joined, memory unmapped; may create
 *                again), free.
 * A destination unpaused without a platform blob runs idle (model "none",
 * seed 1); a vCPU whose blob never arrived starts from its default state.
 * The guest then still exists and verifies: the engine decides whether a
 * missing record is an error, the backend never loses a committed guest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bitmap.h"
#include "pagemap.h"
#include "sim_priv.h"

static const struct xmig_backend_ops sim_ops;
static int sim_resume(struct xmig_backend *b);

static struct sim *to_sim(struct xmig_backend *b)
{
	return (struct sim *)b;
}

/* The public calls take any backend: refuse one that is not ours. */
static struct sim *as_sim(struct xmig_backend *b)
{
	return b && b->ops == &sim_ops ? (struct sim *)b : NULL;
}

static void set_defaults(struct sim *s)
{
	s->seed = 1;
	s->zero_percent = 25;
	xmig__sim_model_parse(&s->model, "none");
	s->have_platform = 0;
}

/* Map zeroed memory, the dirty log and the vCPU array for a guest shape. */
static int guest_alloc(struct sim *s, uint64_t nr_pages, uint32_t nr_vcpus)
{
	size_t vlen;
	uint32_t i;
	void *m;

	if (nr_pages == 0 || nr_pages > (SIZE_MAX >> SIM_PAGE_SHIFT) / 2)
		return xmig__fail(XMIG_EINVAL, "simulated guest: %llu pages is not a usable size",
				  (unsigned long long)nr_pages);
	if (nr_vcpus < 1 || nr_vcpus > SIM_MAX_VCPUS)
		return xmig__fail(XMIG_EINVAL, "simulated guest: %u vCPUs (1..%u supported)",
				  nr_vcpus, SIM_MAX_VCPUS);

	s->mem_len = (size_t)nr_pages << SIM_PAGE_SHIFT;
	m = mmap(NULL, s->mem_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		s->mem_len = 0;
		return xmig__fail_errno(XMIG_ENOMEM, "simulated guest: cannot map %llu pages",
					(unsigned long long)nr_pages);
	}
	s->mem = m;
	s->nr_pages = nr_pages;
	s->nr_vcpus = nr_vcpus;

	s->dirty_words = XMIG__DIV_ROUND_UP(nr_pages, 64);
	s->dirty = calloc(s->dirty_words, sizeof(*s->dirty));
	s->absent = calloc(s->dirty_words, sizeof(*s->absent));
	vlen = sizeof(*s->vcpus) * nr_vcpus; /* a multiple of the alignment */
	s->vcpus = aligned_alloc(_Alignof(struct sim_vcpu), vlen);
	if (!s->dirty || !s->absent || !s->vcpus)
		return xmig__fail(XMIG_ENOMEM, "simulated guest: out of memory for %u vCPUs",
				  nr_vcpus);
	memset(s->vcpus, 0, vlen);
	for (i = 0; i < nr_vcpus; i++) {
		s->vcpus[i].sim = s;
		s->vcpus[i].index = i;
		atomic_init(&s->vcpus[i].writes, 0);
	}
	return 0;
}

static void guest_free(struct sim *s)
{
	if (s->started)
		xmig__sim_vcpus_stop(s);
	if (s->mem)
		munmap(s->mem, s->mem_len);
	if (s->image)
		munmap(s->image, s->mem_len);
	free(s->dirty);
	free(s->absent);
	free(s->vcpus);
	s->mem = s->image = NULL;
	s->dirty = NULL;
	s->absent = NULL;
	s->vcpus = NULL;
	s->mem_len = 0;
	s->nr_pages = 0;
	s->nr_vcpus = 0;
	s->dirty_words = 0;
	s->logging = 0;
	s->image_valid = 0;
	s->engine_paused = 0;
	s->pause_depth = 0;
	atomic_store(&s->pause_req, 0);
	set_defaults(s);
}

static void reset_vcpus(struct sim *s)
{
	uint32_t i;

	for (i = 0; i < s->nr_vcpus; i++) {
		struct sim_vcpu *v = &s->vcpus[i];

		if (v->loaded)
			continue;
		v->rng = xmig__sim_vcpu_default_rng(s->seed, i);
		v->cursor = 0;
		atomic_store(&v->writes, 0);
	}
}

static int sim_alloc(struct sim **out)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return xmig__fail(XMIG_ENOMEM, "sim backend: out of memory");
	s->base.ops = &sim_ops;
	s->pagemap_fd = xmig__pagemap_open();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->parked_cv, NULL);
	pthread_cond_init(&s->run_cv, NULL);
	atomic_init(&s->pause_req, 0);
	atomic_init(&s->stop_req, 0);
	set_defaults(s);
	*out = s;
	return 0;
}

/* --- the ops table --- */

static int sim_describe(struct xmig_backend *b, struct xmig_guest_info *out)
{
	struct sim *s = to_sim(b);

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "sim backend: no guest to describe (create first)");
	memset(out, 0, sizeof(*out));
	out->nr_pages = s->nr_pages;
	out->page_size = SIM_PAGE_SIZE;
	out->nr_vcpus = s->nr_vcpus;
	out->guest_kind = XMIG_GUEST_SIM;
	strcpy(out->backend, "sim");
	return 0;
}

static int sim_map_pages(struct xmig_backend *b, const uint64_t *pfns, unsigned int n, void **ptrs,
			 unsigned int flags)
{
	struct sim *s = to_sim(b);
	unsigned int i;

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: map_pages without a guest");
	if (flags & ~(XMIG_MAP_READ | XMIG_MAP_WRITE))
		return xmig__fail(XMIG_EINVAL, "simulated guest: map_pages flags 0x%x unknown",
				  flags);
	for (i = 0; i < n; i++) {
		if (pfns[i] >= s->nr_pages)
			return xmig__fail(
			    XMIG_EINVAL, "simulated guest: pfn 0x%llx beyond guest size 0x%llx",
			    (unsigned long long)pfns[i], (unsigned long long)s->nr_pages);
		/* All of the memory is mapped all the time: writing a frame
		 * given back is all it takes to populate it again. */
		ptrs[i] = s->mem + (pfns[i] << SIM_PAGE_SHIFT);
		if (!xmig__bitmap_test(s->absent, pfns[i]))
			continue;
		if (flags & XMIG_MAP_WRITE)
			xmig__bitmap_clear(s->absent, pfns[i]);
		else
			ptrs[i] = NULL;
	}
	if (!(flags & XMIG_MAP_WRITE))
		xmig__pagemap_untouched(s->pagemap_fd, s->mem, pfns, n, ptrs);
	return 0;
}

static void sim_unmap_pages(struct xmig_backend *b, void **ptrs, unsigned int n)
{
}

static int sim_pause(struct xmig_backend *b)
{
	struct sim *s = to_sim(b);
	void *m;
	int rc;

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: pause without a guest");
	if (s->engine_paused)
		return 0;
	xmig__sim_pause_get(s);
	s->engine_paused = 1;
	if (s->keep_image) {
		if (!s->image) {
			m = mmap(NULL, s->mem_len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (m == MAP_FAILED) {
				/* A failed pause leaves the guest running. */
				rc = xmig__fail_errno(
				    XMIG_ENOMEM, "simulated guest: cannot map the pause image");
				sim_resume(b);
				return rc;
			}
			s->image = m;
		}
		memcpy(s->image, s->mem, s->mem_len);
		s->image_valid = 1;
	}
	return 0;
}

static int sim_resume(struct xmig_backend *b)
{
	struct sim *s = to_sim(b);

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: resume without a guest");
	if (!s->engine_paused)
		return 0;
	s->engine_paused = 0;
	xmig__sim_pause_put(s);
	return 0;
}

/* A new simulated guest has all its memory, reading as zero. */
/* A frame given back (discard) already reads as zero: it only exists again. */
static int sim_populate(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	struct sim *s = to_sim(b);

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: populate without a guest");
	for (unsigned int i = 0; i < n; i++) {
		if (pfns[i] >= s->nr_pages)
			return xmig__fail(XMIG_EINVAL, "simulated guest: populate of pfn 0x%llx "
					  "beyond 0x%llx", (unsigned long long)pfns[i],
					  (unsigned long long)s->nr_pages);
		xmig__bitmap_clear(s->absent, pfns[i]);
	}
	return 0;
}

/* Mark [pfn, pfn + n) absent and let the host reclaim it; it reads as zero. */
static void discard(struct sim *s, uint64_t pfn, uint64_t n)
{
	for (uint64_t i = pfn; i < pfn + n; i++)
		xmig__bitmap_set(s->absent, i);
	if (madvise(s->mem + (pfn << SIM_PAGE_SHIFT), (size_t)n << SIM_PAGE_SHIFT,
		    MADV_DONTNEED) < 0)
		memset(s->mem + (pfn << SIM_PAGE_SHIFT), 0, (size_t)n << SIM_PAGE_SHIFT);
}

static int sim_release(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	struct sim *s = to_sim(b);

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: release without a guest");
	if (s->started && !s->engine_paused)
		return xmig__fail(XMIG_EINVAL, "simulated guest: release while it runs");
	for (unsigned int i = 0; i < n; i++) {
		if (pfns[i] >= s->nr_pages)
			return xmig__fail(XMIG_EINVAL, "simulated guest: release of pfn 0x%llx "
					  "beyond 0x%llx", (unsigned long long)pfns[i],
					  (unsigned long long)s->nr_pages);
		if (!xmig__bitmap_test(s->absent, pfns[i]))
			discard(s, pfns[i], 1);
	}
	return 0;
}

static int sim_create(struct xmig_backend *b, const struct xmig_guest_info *info)
{
	struct sim *s = to_sim(b);
	int rc;

	if (s->mem)
		return xmig__fail(XMIG_EINVAL, "sim backend: create while a guest exists");
	if (info->guest_kind != XMIG_GUEST_SIM)
		return xmig__fail(XMIG_ENOTSUP, "sim backend: cannot create a guest of kind %u",
				  info->guest_kind);
	if (info->page_size != SIM_PAGE_SIZE)
		return xmig__fail(XMIG_ENOTSUP, "sim backend: page size %u (only %u)",
				  info->page_size, SIM_PAGE_SIZE);
	if (strnlen(info->backend, sizeof(info->backend)) == sizeof(info->backend) ||
	    (info->backend[0] && strcmp(info->backend, "sim") != 0))
		return xmig__fail(XMIG_ENOTSUP, "sim backend: stream is for backend '%.16s'",
				  info->backend);
	set_defaults(s);
	if ((rc = guest_alloc(s, info->nr_pages, info->nr_vcpus)) < 0)
		guest_free(s);
	return rc;
}

/* Every vCPU's state and the platform's must have come: a guest restored
 * without them would not be the guest that left. */
static int sim_restore_complete(struct xmig_backend *b)
{
	struct sim *s = to_sim(b);

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: restore_complete without a guest");
	if (s->started)
		return 0; /* a source, or a guest already running */
	if (!s->have_platform)
		return xmig__fail(XMIG_EPROTO, "sim: restore incomplete: no platform state");
	for (uint32_t i = 0; i < s->nr_vcpus; i++)
		if (!s->vcpus[i].loaded)
			return xmig__fail(XMIG_EPROTO,
					  "sim: restore incomplete: no state for vCPU %u of %u", i,
					  s->nr_vcpus);
	return 0;
}

static int sim_unpause(struct xmig_backend *b)
{
	struct sim *s = to_sim(b);
	int rc;

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: unpause without a guest");
	if (!s->started) {
		reset_vcpus(s);
		if ((rc = xmig__sim_vcpus_start(s)) < 0)
			return rc;
	}
	/* Also lifts a pause taken before the start. */
	return sim_resume(b);
}

/* Committed, not started: the vCPUs wait for sim_unpause. */
static int sim_commit(struct xmig_backend *b)
{
	if (!to_sim(b)->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: commit without a guest");
	return 0;
}

static int sim_destroy(struct xmig_backend *b)
{
	guest_free(to_sim(b));
	return 0;
}

static void sim_free(struct xmig_backend *b)
{
	struct sim *s = to_sim(b);

	if (!s)
		return;
	guest_free(s);
	if (s->pagemap_fd >= 0)
		close(s->pagemap_fd);
	pthread_cond_destroy(&s->run_cv);
	pthread_cond_destroy(&s->parked_cv);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct xmig_backend_ops sim_ops = {
	.version = XMIG_BACKEND_OPS_VERSION,
	.name = "sim",
	.describe = sim_describe,
	.log_dirty_start = xmig__sim_log_dirty_start,
	.log_dirty_stop = xmig__sim_log_dirty_stop,
	.dirty_fetch = xmig__sim_dirty_fetch,
	.map_pages = sim_map_pages,
	.unmap_pages = sim_unmap_pages,
	.pause = sim_pause,
	.resume = sim_resume,
	.save_state = xmig__sim_save_state,
	.create = sim_create,
	.populate = sim_populate,
	.release = sim_release,
	.load_state = xmig__sim_load_state,
	.restore_complete = sim_restore_complete,
	.unpause = sim_unpause,
	.destroy = sim_destroy,
	.free = sim_free,
	.commit = sim_commit,
};

/* --- public calls --- */

/*
 * A simulated guest's pages are real host memory once written: its
 * non-zero pages at start (and the pause image, if kept) must fit in what
 * the host has available, or the guest would eat the machine.
 */
static int fits_host(uint64_t nr_pages, uint32_t zero_percent, int keep_image)
{
	uint64_t avail = xmig__host_mem_available();
	uint64_t need = (uint64_t)((double)nr_pages * (100 - zero_percent) / 100.0) * SIM_PAGE_SIZE;

	if (keep_image)
		need += nr_pages * SIM_PAGE_SIZE;
	if (!avail || need <= avail / 10 * 9)
		return 0;
	return xmig__fail(XMIG_ENOMEM,
			  "simulated guest of %.1f GiB: its data (%u%% of pages non-zero%s) needs "
			  "%.1f GiB of host memory, and this host has %.1f GiB available",
			  (double)nr_pages * SIM_PAGE_SIZE / (1 << 30), 100 - zero_percent,
			  keep_image ? ", plus the pause image" : "", (double)need / (1 << 30),
			  (double)avail / (1 << 30));
}

XMIG__API int xmig_sim_new(struct xmig_backend **out, const struct xmig_sim_params *p)
{
	struct sim_model model;
	struct sim *s = NULL;
	uint64_t nr_pages, pfn;
	uint32_t nr_vcpus;
	int rc;

	if (!out || !p)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_new: NULL argument");
	*out = NULL;
	if (p->version != XMIG_SIM_PARAMS_VERSION)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_new: params version %u, expected %u",
				  p->version, XMIG_SIM_PARAMS_VERSION);
	if (p->mem_bytes == 0)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_new: mem_bytes is 0");
	if (p->zero_percent > 100)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_new: zero_percent %u above 100",
				  p->zero_percent);
	nr_vcpus = p->nr_vcpus ? p->nr_vcpus : 1;
	nr_pages = p->mem_bytes / SIM_PAGE_SIZE + (p->mem_bytes % SIM_PAGE_SIZE != 0);
	if ((rc = xmig__sim_model_parse(&model, p->dirty ? p->dirty : "none")) < 0)
		return rc;

	if ((rc = fits_host(nr_pages, p->zero_percent, p->keep_pause_image)) < 0)
		return rc;
	if ((rc = sim_alloc(&s)) < 0)
		return rc;
	if ((rc = guest_alloc(s, nr_pages, nr_vcpus)) < 0)
		goto out;
	if ((rc = xmig__sim_model_fits(&model, nr_pages)) < 0)
		goto out;
	s->seed = p->seed;
	s->zero_percent = p->zero_percent;
	s->model = model;
	s->have_platform = 1;
	s->keep_image = p->keep_pause_image;

	/* Generation 0. Zero pages are left untouched: never even faulted in. */
	for (pfn = 0; pfn < nr_pages; pfn++)
		if (!xmig__sim_page_starts_zero(s->seed, s->zero_percent, pfn))
			xmig__sim_page_fill(s->mem + (pfn << SIM_PAGE_SHIFT), s->seed, pfn, 0);
	reset_vcpus(s);
	rc = xmig__sim_vcpus_start(s);
out:
	if (rc < 0) {
		sim_free(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

XMIG__API int xmig_sim_new_dest(struct xmig_backend **out)
{
	struct sim *s;
	int rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_new_dest: NULL argument");
	if ((rc = sim_alloc(&s)) < 0)
		return rc;
	*out = &s->base;
	return 0;
}

/* NULL if the page at `pfn` is what the guest could have written there. */
static const char *check_page(const struct sim *s, const uint8_t *page, uint64_t pfn)
{
	uint8_t expect[SIM_PAGE_SIZE] __attribute__((aligned(8)));
	const char *why = xmig__sim_page_verify(page, pfn);

	if (why)
		return why;
	/*
	 * The checksum does not cover the header. Knowing the seed, rebuild the
	 * page from its (pfn, generation): that also catches a damaged
	 * generation field. A destination without its platform blob knows no
	 * seed and checks headers and checksums only.
	 */
	if (s->have_platform && xmig__le64(page + SIM_HDR_MAGIC) == SIM_MAGIC) {
		xmig__sim_page_fill(expect, s->seed, pfn, xmig__sim_page_generation(page));
		if (memcmp(page, expect, SIM_PAGE_SIZE) != 0)
			return "content differs from what its generation produces";
	}
	return NULL;
}

XMIG__API int xmig_sim_check(struct xmig_backend *b, uint64_t *bad_pfn)
{
	struct sim *s = as_sim(b);
	uint64_t pfns[1024];
	void *ptrs[1024];
	const char *why = NULL;
	uint64_t pfn, bad = 0;

	if (!s)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_check: not a sim backend");
	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_check: no guest");
	/* The vCPUs park between pages, so no page is caught half-written. */
	xmig__sim_pause_get(s);
	for (pfn = 0; pfn < s->nr_pages && !why; pfn += XMIG__ARRAY_SIZE(pfns)) {
		unsigned int n = (unsigned int)(s->nr_pages - pfn < XMIG__ARRAY_SIZE(pfns)
							? s->nr_pages - pfn
							: XMIG__ARRAY_SIZE(pfns));

		/* Pages never written are zero, as a page should be that the
		 * guest never wrote: not read, so that checking a guest costs
		 * the memory it uses, not its size. */
		for (unsigned int i = 0; i < n; i++) {
			pfns[i] = pfn + i;
			ptrs[i] = s->mem + (pfns[i] << SIM_PAGE_SHIFT);
		}
		xmig__pagemap_untouched(s->pagemap_fd, s->mem, pfns, n, ptrs);
		for (unsigned int i = 0; i < n && !why; i++)
			if (ptrs[i] != xmig__zero_page && (why = check_page(s, ptrs[i], pfns[i])))
				bad = pfns[i];
	}
	xmig__sim_pause_put(s);
	if (!why)
		return 0;
	if (bad_pfn)
		*bad_pfn = bad;
	return xmig__fail(XMIG_EGUEST, "simulated guest check: pfn 0x%llx: %s",
			  (unsigned long long)bad, why);
}

XMIG__API int xmig_sim_release(struct xmig_backend *b, uint64_t first, uint64_t count)
{
	struct sim *s = as_sim(b);

	if (!s)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_release: not a sim backend");
	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_release: no guest");
	if (!count || first >= s->nr_pages || count > s->nr_pages - first)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_release: frames 0x%llx+%llu: not within "
				  "the guest's 0x%llx", (unsigned long long)first,
				  (unsigned long long)count, (unsigned long long)s->nr_pages);
	if (s->engine_paused)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_release: the guest is paused (its "
				  "balloon driver cannot run)");
	/* between two pages of every vCPU, as a balloon driver would */
	xmig__sim_pause_get(s);
	discard(s, first, count);
	/* A real hypervisor need not log it; this one does, as backends must. */
	for (uint64_t i = first; i < first + count; i++)
		atomic_fetch_or_explicit(&s->dirty[i / 64], 1ull << (i % 64),
					 memory_order_release);
	xmig__sim_pause_put(s);
	return 0;
}

XMIG__API int xmig_sim_device_write(struct xmig_backend *b, uint64_t first, uint64_t count)
{
	struct sim *s = as_sim(b);

	if (!s)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_device_write: not a sim backend");
	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_device_write: no guest");
	if (!count || first >= s->nr_pages || count > s->nr_pages - first)
		return xmig__fail(XMIG_EINVAL, "xmig_sim_device_write: frames 0x%llx+%llu: not "
				  "within the guest's 0x%llx", (unsigned long long)first,
				  (unsigned long long)count, (unsigned long long)s->nr_pages);
	/* not in the middle of a vCPU's page write */
	xmig__sim_pause_get(s);
	for (uint64_t pfn = first; pfn < first + count; pfn++) {
		uint8_t *page = s->mem + (pfn << SIM_PAGE_SHIFT);

		if (xmig__bitmap_test(s->absent, pfn))
			continue;
		xmig__sim_page_fill(page, s->seed, pfn, xmig__sim_page_generation(page) + 1);
		atomic_fetch_or_explicit(&s->dirty[pfn / 64], 1ull << (pfn % 64),
					 memory_order_release);
	}
	xmig__sim_pause_put(s);
	return 0;
}

XMIG__API const void *xmig_sim_memory(struct xmig_backend *b, uint64_t *nr_pages)
{
	struct sim *s = as_sim(b);

	if (nr_pages)
		*nr_pages = s && s->mem ? s->nr_pages : 0;
	return s ? s->mem : NULL;
}

XMIG__API const void *xmig_sim_pause_image(struct xmig_backend *b)
{
	struct sim *s = as_sim(b);

	return s && s->image_valid ? s->image : NULL;
}

XMIG__API uint64_t xmig_sim_writes(struct xmig_backend *b)
{
	struct sim *s = as_sim(b);
	uint64_t sum = 0;
	uint32_t i;

	if (!s || !s->vcpus)
		return 0;
	for (i = 0; i < s->nr_vcpus; i++)
		sum += atomic_load_explicit(&s->vcpus[i].writes, memory_order_relaxed);
	return sum;
}

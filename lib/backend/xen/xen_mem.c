/* SPDX-License-Identifier: MIT */
/*
 * Guest frames: foreign mapping in batches, population on a destination,
 * and log-dirty on a source.
 *
 * On a source every populated frame is handed to the engine as mapped, so
 * the stream announces it as FULL or ZERO; the destination populates the
 * frames it writes and the zero ones it does not (the backend's populate
 * hook). Holes (XTAB) are found without mapping and reported NULL, ABSENT.
 * A frame that Xen calls RAM but will not map fails the round: it is never
 * sent as a hole (xmig__xen_map_verdict in xen_format.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bitmap.h"
#include "xen_internal.h"

int xmig__xen_mem_init(struct xmig__xen *x)
{
	size_t nw = xmig__bitmap_words(x->nr_pages);

	x->gfns = calloc(XMIG__XEN_BATCH, sizeof(*x->gfns));
	x->errs = calloc(XMIG__XEN_BATCH, sizeof(*x->errs));
	if (!x->gfns || !x->errs)
		return xmig__fail(XMIG_ENOMEM, "xen: out of memory");
	if (x->side == XMIG__XEN_SOURCE) {
		x->populated = calloc(nw, 8);
		x->holes = calloc(nw, 8);
		x->probed = calloc(nw, 8);
		if (!x->populated || !x->holes || !x->probed)
			return xmig__fail(XMIG_ENOMEM, "xen: out of memory for %zu-word bitmaps", nw);
		x->probe_hbuf = (xc_hypercall_buffer_t){ .hbuf = NULL, .param_shadow = NULL,
							 HYPERCALL_BUFFER_INIT_NO_BOUNCE };
		x->probe_buf = xc__hypercall_buffer_alloc_pages(
			x->xch, &x->probe_hbuf,
			(int)(XMIG__XEN_BATCH * sizeof(xen_pfn_t) / XMIG__XEN_PAGE));
		if (!x->probe_buf)
			return xmig__fail_errno(XMIG_ENOMEM, "xen: hypercall buffer for frame types");
	} else {
		x->released = 0;
		x->dpopulated = calloc(nw, 8);
		if (!x->dpopulated)
			return xmig__fail(XMIG_ENOMEM, "xen: out of memory for %zu-word bitmaps", nw);
	}
	return 0;
}

void xmig__xen_mem_fini(struct xmig__xen *x)
{
	for (unsigned int i = 0; i < XMIG__XEN_MAX_MAPS; i++) {
		struct xmig__xen_map *m = &x->maps[i];

		if (m->addr)
			xenforeignmemory_unmap(x->fmem, m->addr, m->n);
		memset(m, 0, sizeof(*m));
	}
	if (x->dirty_buf)
		xc__hypercall_buffer_free_pages(x->xch, &x->dirty_hbuf, (int)x->dirty_npages);
	x->dirty_buf = NULL;
	if (x->probe_buf)
		xc__hypercall_buffer_free_pages(x->xch, &x->probe_hbuf,
						(int)(XMIG__XEN_BATCH * sizeof(xen_pfn_t) /
						      XMIG__XEN_PAGE));
	x->probe_buf = NULL;
	xmig__xen_pv_fini(x);
	free(x->gfns);
	free(x->errs);
	free(x->populated);
	free(x->holes);
	free(x->probed);
	free(x->dpopulated);
	x->gfns = NULL;
	x->errs = NULL;
	x->populated = x->holes = x->probed = x->dpopulated = NULL;
}

static struct xmig__xen_map *map_slot(struct xmig__xen *x, void **ptrs)
{
	for (unsigned int i = 0; i < XMIG__XEN_MAX_MAPS; i++)
		if (!x->maps[i].ptrs) {
			x->maps[i].ptrs = ptrs;
			return &x->maps[i];
		}
	return NULL;
}

static void slot_release(struct xmig__xen *x, struct xmig__xen_map *m)
{
	if (m->addr)
		xenforeignmemory_unmap(x->fmem, m->addr, m->n);
	m->addr = NULL;
	m->n = 0;
	m->ptrs = NULL;
}

/* Map frames x->gfns[0..k-1] (machine frames for PV); errs in x->errs. */
int xmig__xen_map_frames(struct xmig__xen *x, struct xmig__xen_map *m, unsigned int k, int prot)
{
	m->addr = xenforeignmemory_map(x->fmem, x->domid, prot, k, x->gfns, x->errs);
	if (!m->addr)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: foreign map of %u frames "
					"from gfn 0x%llx", x->domid, k,
					(unsigned long long)x->gfns[0]);
	m->n = k;
	return 0;
}

/*
 * XEN_DOMCTL_getpageframeinfo3: the first k frames of x->probe_buf (gfns;
 * machine frames for PV) are replaced by their types. -1 with errno on failure.
 */
int xmig__xen_frame_types(struct xmig__xen *x, unsigned int k)
{
	struct xen_domctl dc;

	memset(&dc, 0, sizeof(dc));
	dc.cmd = XEN_DOMCTL_getpageframeinfo3;
	dc.domain = (domid_t)x->domid;
	dc.u.getpageframeinfo3.num = k;
	dc.u.getpageframeinfo3.array.p = x->probe_buf;
	return xc_domctl(x->xch, &dc) < 0 ? -1 : 0;
}

/*
 * First sight of frames: ask Xen which are holes (XEN_DOMCTL_getpageframeinfo3,
 * one hypercall per batch) rather than foreign-mapping them, which for a PVH
 * domain's ~1M-frame range (RAM plus special pages below 4 GiB) is the
 * difference between seconds and a fraction of a second in round 0.
 */
static int probe(struct xmig__xen *x, const uint64_t *pfns, unsigned int n)
{
	xen_pfn_t *a = x->probe_buf;
	uint64_t gfn[XMIG__XEN_BATCH];
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		if (!xmig__bitmap_test(x->probed, pfns[i]))
			gfn[k++] = pfns[i];
	if (!k)
		return 0;
	for (unsigned int i = 0; i < k; i++)
		a[i] = gfn[i];
	/* Without the types a failed mapping could not be told from a hole. */
	if (xmig__xen_frame_types(x, k) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: frame types "
					"(getpageframeinfo3) of %u frames from gfn 0x%llx",
					x->domid, k, (unsigned long long)gfn[0]);
	for (unsigned int i = 0; i < k; i++) {
		xmig__bitmap_set(x->probed, gfn[i]);
		if (xmig__xen_tnib_absent(xmig__xen_tnib(a[i]))) {
			xmig__bitmap_set(x->holes, gfn[i]);
			xmig__bitmap_clear(x->populated, gfn[i]);
		}
	}
	return 0;
}

/*
 * The frames of a fresh mapping that Xen refused (x->errs[j] != 0, frames in
 * x->gfns): decide each one (xmig__xen_map_verdict). A hole's error becomes
 * XMIG__XEN_MAP_HOLE; *retry is set if any frame deserves a second mapping.
 * A frame that must not be lost fails the whole call, named.
 */
static int map_errors(struct xmig__xen *x, unsigned int k, unsigned int tries, int *retry)
{
	xen_pfn_t *a = x->probe_buf;
	unsigned int pos[XMIG__XEN_BATCH], nq = 0;
	int typed;

	*retry = 0;
	for (unsigned int j = 0; j < k; j++)
		if (x->errs[j] && x->errs[j] != -ENOENT && x->errs[j] != -EAGAIN) {
			pos[nq] = j;
			a[nq++] = x->gfns[j];
		}
	typed = nq && xmig__xen_frame_types(x, nq) == 0;
	for (unsigned int j = 0, q = 0; j < k; j++) {
		unsigned int tnib = XMIG__XEN_TNIB_UNKNOWN;
		enum xmig__xen_map_verdict v;

		if (!x->errs[j])
			continue;
		if (q < nq && pos[q] == j) {
			if (typed)
				tnib = xmig__xen_tnib(a[q]);
			q++;
		}
		v = xmig__xen_map_verdict(x->errs[j], tnib, tries);
		if (v == XMIG__XEN_MAP_RETRY) {
			*retry = 1;
		} else if (v == XMIG__XEN_MAP_HOLE) {
			x->errs[j] = XMIG__XEN_MAP_HOLE;
		} else {
			int e = -x->errs[j];

			return xmig__fail(XMIG_EBACKEND,
					  "xen: d%u: cannot read %s 0x%llx (%s%s), which Xen %s: "
					  "stopping rather than send it as a hole",
					  x->domid,
					  x->guest_kind == XMIG_GUEST_XEN_PV ? "mfn" : "gfn",
					  (unsigned long long)x->gfns[j], strerror(e > 0 ? e : EIO),
					  tries > 1 ? ", after a second try" : "",
					  tnib == XMIG__XEN_TNIB_UNKNOWN && nq && !typed
						  ? "would not give the type of"
						  : "says belongs to the guest");
		}
	}
	return 0;
}

/*
 * Map the source frames of pfns[] for reading. A PV guest's frames are
 * machine frames, read from its p2m, and after the pause its page tables
 * and p2m leaves are handed out in normal form (xen_pv.c).
 */
static int map_source(struct xmig__xen *x, struct xmig__xen_map *m, const uint64_t *pfns,
		      unsigned int n, void **ptrs)
{
	unsigned int idx[XMIG__XEN_BATCH], k = 0;
	int pv = x->guest_kind == XMIG_GUEST_XEN_PV, err, retry;

	if (!pv && (err = probe(x, pfns, n)))
		return err;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t frame = pv ? xmig__xen_pv_frame(x, pfns[i]) : pfns[i];

		ptrs[i] = NULL;
		/* HVM: a hole not dirtied since it was seen; PV: not in the p2m */
		if (pv ? frame == XMIG__PV_INVALID : xmig__bitmap_test(x->holes, pfns[i])) {
			xmig__bitmap_clear(x->populated, pfns[i]);
			continue;
		}
		idx[k] = i;
		x->gfns[k++] = frame;
	}
	if (!k)
		return 0;
	for (unsigned int tries = 1;; tries++) {
		err = xmig__xen_map_frames(x, m, k, PROT_READ);
		if (err)
			return err;
		err = map_errors(x, k, tries, &retry);
		if (err || !retry)
			break;
		/* paged out or being paged in: give the pager a moment, map again */
		xmig__xen_note(x, "frames from gfn 0x%llx not mappable yet (paged?): one more try",
			       (unsigned long long)pfns[idx[0]]);
		xenforeignmemory_unmap(x->fmem, m->addr, m->n);
		m->addr = NULL;
		m->n = 0;
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	if (err)
		return err;
	for (unsigned int j = 0; j < k; j++) {
		uint64_t pfn = pfns[idx[j]];
		void *page = (uint8_t *)m->addr + (size_t)j * XMIG__XEN_PAGE;

		if (x->errs[j]) { /* XMIG__XEN_MAP_HOLE: Xen says it is not there */
			xmig__bitmap_clear(x->populated, pfn);
			if (!pv)
				xmig__bitmap_set(x->holes, pfn);
			continue;
		}
		xmig__bitmap_set(x->populated, pfn);
		if (pv && (err = xmig__xen_pv_normal_form(x, m, j, pfn, &page)))
			return err;
		ptrs[idx[j]] = page;
	}
	return 0;
}

/*
 * The next frames (at most a batch) of gfns[*i..n) that are populated here
 * (`populated` 1) or not (0), into pfn[], *k of them; *i moves past those
 * looked at. Fails on a gfn beyond the guest.
 */
static int next_batch(struct xmig__xen *x, const uint64_t *gfns, size_t n, size_t *i,
		      int populated, uint64_t *pfn, unsigned int *k)
{
	for (*k = 0; *i < n && *k < XMIG__XEN_BATCH; ++*i) {
		uint64_t g = gfns[*i];

		if (g >= x->nr_pages)
			return xmig__fail(XMIG_EINVAL, "xen: gfn 0x%llx beyond the guest",
					  (unsigned long long)g);
		if (!xmig__bitmap_test(x->dpopulated, g) == !populated)
			pfn[(*k)++] = g;
	}
	return 0;
}

/*
 * Write zeros over frames[0..k-1] of this domain (machine frames for PV).
 * Xen scrubs only what a dying domain gives back: a frame a live domain
 * freed (a guest ballooning out, or this destination in xmig__xen_release)
 * goes back to the heap with its content, and populate_physmap may hand it
 * to any domain as it is.
 */
static int clear_frames(struct xmig__xen *x, const xen_pfn_t *frames, unsigned int k,
			const char *why)
{
	int errs[XMIG__XEN_BATCH];
	void *p = xenforeignmemory_map(x->fmem, x->domid, PROT_READ | PROT_WRITE, k, frames,
				       errs);

	if (!p)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: mapping %u frames from 0x%llx "
					"to clear them (%s)", x->domid, k,
					(unsigned long long)frames[0], why);
	for (unsigned int j = 0; j < k; j++)
		if (errs[j]) {
			xenforeignmemory_unmap(x->fmem, p, k);
			return xmig__fail(XMIG_EBACKEND, "xen: d%u: cannot map frame 0x%llx to "
					  "clear it (%s): %s", x->domid,
					  (unsigned long long)frames[j], why, strerror(-errs[j]));
		}
	memset(p, 0, (size_t)k * XMIG__XEN_PAGE);
	xenforeignmemory_unmap(x->fmem, p, k);
	return 0;
}

/*
 * Populate the frames of gfns[] not yet populated here; with `zero`, clear
 * the new ones too (Xen may give frames with another domain's data, see
 * clear_frames). For a PV guest Xen answers with the machine frames it
 * gave, which become the guest's p2m.
 */
static int populate(struct xmig__xen *x, const uint64_t *gfns, size_t n, int zero)
{
	xen_pfn_t todo[XMIG__XEN_BATCH];
	uint64_t pfn[XMIG__XEN_BATCH];
	unsigned int k;
	size_t i = 0;
	int err;

	while (i < n) {
		if ((err = next_batch(x, gfns, n, &i, 0, pfn, &k)))
			return err;
		if (!k)
			continue;
		for (unsigned int j = 0; j < k; j++)
			todo[j] = pfn[j];
		if (xc_domain_populate_physmap_exact(x->xch, x->domid, k, 0, 0, todo) < 0)
			return xmig__fail_errno(XMIG_EBACKEND,
						"xen: d%u: populating %u frames from gfn 0x%llx "
						"(the domain's memory limit?)", x->domid, k,
						(unsigned long long)pfn[0]);
		for (unsigned int j = 0; j < k; j++) {
			xmig__bitmap_set(x->dpopulated, pfn[j]);
			if (x->pv.p2m_dest)
				x->pv.p2m_dest[pfn[j]] = todo[j];
			else
				todo[j] = pfn[j];
		}
		if (zero && (err = clear_frames(x, todo, k, "new frames read as zero")))
			return err;
	}
	return 0;
}

/* For frames the engine writes itself (map_pages with XMIG_MAP_WRITE). */
int xmig__xen_populate(struct xmig__xen *x, const uint64_t *gfns, size_t n)
{
	return populate(x, gfns, n, 0);
}

/* For frames that must read as zero: the backend's populate hook. */
int xmig__xen_populate_zero(struct xmig__xen *x, const uint64_t *gfns, size_t n)
{
	return populate(x, gfns, n, 1);
}

/*
 * Give back to Xen the frames of gfns[] this destination populated: the
 * source says they are absent (ballooned out after they were sent). Frames
 * not populated here (holes, or placed by the toolstack) are left alone.
 * They are cleared first: they hold the guest's data as it was last sent
 * (the guest, on the source, may well have scrubbed it since), and Xen does
 * not scrub what a live domain gives back (clear_frames).
 */
int xmig__xen_release(struct xmig__xen *x, const uint64_t *gfns, size_t n)
{
	xen_pfn_t frame[XMIG__XEN_BATCH];
	uint64_t pfn[XMIG__XEN_BATCH];
	unsigned int k;
	size_t i = 0;
	int err;

	while (i < n) {
		if ((err = next_batch(x, gfns, n, &i, 1, pfn, &k)))
			return err;
		if (!k)
			continue;
		for (unsigned int j = 0; j < k; j++)
			frame[j] = x->pv.p2m_dest ? x->pv.p2m_dest[pfn[j]] : pfn[j];
		if ((err = clear_frames(x, frame, k, "given back")))
			return err;
		if (xc_domain_decrease_reservation_exact(x->xch, x->domid, k, 0, frame) < 0)
			return xmig__fail_errno(XMIG_EBACKEND,
						"xen: d%u: giving back %u frames from gfn 0x%llx "
						"that the source no longer has", x->domid, k,
						(unsigned long long)pfn[0]);
		for (unsigned int j = 0; j < k; j++) {
			xmig__bitmap_clear(x->dpopulated, pfn[j]);
			if (x->pv.p2m_dest)
				x->pv.p2m_dest[pfn[j]] = XMIG__PV_INVALID;
		}
		x->released += k;
	}
	return 0;
}

static int map_dest(struct xmig__xen *x, struct xmig__xen_map *m, const uint64_t *pfns,
		    unsigned int n, void **ptrs, unsigned int flags)
{
	unsigned int idx[XMIG__XEN_BATCH], k = 0;
	int err;

	if (flags & XMIG_MAP_WRITE) {
		err = xmig__xen_populate(x, pfns, n);
		if (err)
			return err;
	}
	for (unsigned int i = 0; i < n; i++) {
		ptrs[i] = NULL;
		if (!xmig__bitmap_test(x->dpopulated, pfns[i]))
			continue;
		idx[k] = i;
		x->gfns[k++] = x->pv.p2m_dest ? x->pv.p2m_dest[pfns[i]] : pfns[i];
	}
	if (!k)
		return 0;
	err = xmig__xen_map_frames(x, m, k, (flags & XMIG_MAP_WRITE) ? PROT_READ | PROT_WRITE : PROT_READ);
	if (err)
		return err;
	for (unsigned int j = 0; j < k; j++) {
		if (x->errs[j])
			return xmig__fail(XMIG_EBACKEND,
					  "xen: d%u: cannot map populated gfn 0x%llx: %s", x->domid,
					  (unsigned long long)x->gfns[j], strerror(-x->errs[j]));
		ptrs[idx[j]] = (uint8_t *)m->addr + (size_t)j * XMIG__XEN_PAGE;
	}
	return 0;
}

int xmig__xen_map(struct xmig__xen *x, const uint64_t *pfns, unsigned int n, void **ptrs,
		  unsigned int flags)
{
	struct xmig__xen_map *m;
	int err;

	if (n > XMIG__XEN_BATCH)
		return xmig__fail(XMIG_EINVAL, "xen: map_pages: %u frames, at most %u", n,
				  XMIG__XEN_BATCH);
	for (unsigned int i = 0; i < n; i++)
		if (pfns[i] >= x->nr_pages)
			return xmig__fail(XMIG_EINVAL, "xen: map_pages: gfn 0x%llx beyond 0x%llx",
					  (unsigned long long)pfns[i],
					  (unsigned long long)x->nr_pages);
	m = map_slot(x, ptrs);
	if (!m)
		return xmig__fail(XMIG_EINVAL, "xen: map_pages: more than %d batches mapped",
				  XMIG__XEN_MAX_MAPS);
	if (x->side == XMIG__XEN_SOURCE)
		err = (flags & XMIG_MAP_WRITE)
			      ? xmig__fail(XMIG_EINVAL, "xen: a source is not written")
			      : map_source(x, m, pfns, n, ptrs);
	else
		err = map_dest(x, m, pfns, n, ptrs, flags);
	if (err)
		slot_release(x, m);
	return err;
}

void xmig__xen_unmap(struct xmig__xen *x, void **ptrs, unsigned int n)
{
	(void)n;
	for (unsigned int i = 0; i < XMIG__XEN_MAX_MAPS; i++)
		if (x->maps[i].ptrs == ptrs) {
			slot_release(x, &x->maps[i]);
			return;
		}
}

int xmig__xen_clear_page(struct xmig__xen *x, uint64_t gfn)
{
	xen_pfn_t g = gfn;
	int e = 0;
	void *p = xenforeignmemory_map(x->fmem, x->domid, PROT_READ | PROT_WRITE, 1, &g, &e);

	if (!p || e) {
		if (p)
			xenforeignmemory_unmap(x->fmem, p, 1);
		return xmig__fail(XMIG_EBACKEND, "xen: d%u: cannot map gfn 0x%llx to clear it: %s",
				  x->domid, (unsigned long long)gfn, strerror(p ? -e : errno));
	}
	memset(p, 0, XMIG__XEN_PAGE);
	xenforeignmemory_unmap(x->fmem, p, 1);
	return 0;
}

int xmig__xen_log_start(struct xmig__xen *x)
{
	int e1, e2 = 0;

	if (x->logging)
		return 0;
	if (!x->dirty_buf) {
		x->dirty_npages = XMIG__DIV_ROUND_UP(xmig__bitmap_words(x->nr_pages) * 8, XMIG__XEN_PAGE);
		x->dirty_hbuf = (xc_hypercall_buffer_t){ .hbuf = NULL, .param_shadow = NULL,
							 HYPERCALL_BUFFER_INIT_NO_BOUNCE };
		x->dirty_buf = xc__hypercall_buffer_alloc_pages(x->xch, &x->dirty_hbuf,
								(int)x->dirty_npages);
		if (!x->dirty_buf)
			return xmig__fail_errno(XMIG_ENOMEM, "xen: dirty bitmap of %zu pages",
						x->dirty_npages);
	}
	if (xc_shadow_control(x->xch, x->domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) <
	    0) {
		/* Maybe on already (a crashed run, VRAM tracking): off, then on, as
		 * libxenguest does. */
		e1 = errno;
		if (xc_shadow_control(x->xch, x->domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0 ||
		    xc_shadow_control(x->xch, x->domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL,
				      0) < 0)
			e2 = errno;
		if (e2) {
			if (e1 == EOPNOTSUPP || e2 == EOPNOTSUPP)
				return xmig__fail(XMIG_ENOTSUP,
						  "xen: d%u: this hypervisor cannot log dirty pages "
						  "for this guest (EOPNOTSUPP: e.g. a PV guest on a "
						  "Xen built without shadow paging)", x->domid);
			errno = e2;
			return xmig__fail_errno(XMIG_EBACKEND,
						"xen: d%u: enabling log-dirty (first try: %s)",
						x->domid, strerror(e1));
		}
	}
	x->logging = 1;
	x->fetched_final = 0;
	return 0;
}

int xmig__xen_log_stop(struct xmig__xen *x)
{
	if (!x->logging)
		return 0;
	x->logging = 0;
	if (x->gone)
		return 0;
	if (xc_shadow_control(x->xch, x->domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: disabling log-dirty", x->domid);
	return 0;
}

/*
 * HVM/PVH: which frames exist now, read from Xen for the whole frame range
 * rather than trusted from what the rounds saw. Xen 4.17 logs neither the
 * population of a frame nor its removal as a dirty write (p2m_add_page and
 * guest_remove_page mark nothing), so a frame the guest populated during
 * the migration (ballooning up) and never wrote would never be sent, and a
 * frame it gave back after it was sent would stay, stale, on the
 * destination. Either one joins the next round here: the new frame is
 * mapped and sent, the gone one is announced absent and the destination
 * gives it back (xmig__xen_release).
 *
 * The scan costs one getpageframeinfo3 per 1024 frames (a PVH domain spans
 * 1M frames whatever its RAM: 0.5-1 s under nested TCG), so it runs at the
 * first live fetch and then again only when the domain's page count
 * (tot_pages) changed since the last scan; at the pause that is one
 * getdomaininfo unless the guest ballooned during the last round.
 */
static int hvm_frame_scan(struct xmig__xen *x, uint64_t *bitmap, int final)
{
	xen_pfn_t *a = x->probe_buf, max_gfn = 0;
	uint64_t t0 = xmig__now_ns(), added = 0, unlogged = 0, gone = 0;
	xc_domaininfo_t di;
	int err;

	if (final) {
		/* The frame range is fixed when the source opens: a frame beyond
		 * it would be neither logged nor sent. */
		if (xc_domain_maximum_gpfn(x->xch, x->domid, &max_gfn) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: maximum gpfn at the "
						"pause", x->domid);
		if ((uint64_t)max_gfn >= x->nr_pages)
			return xmig__fail(XMIG_EGUEST, "xen: d%u grew its frame range to gfn "
					  "0x%llx during the migration, beyond the 0x%llx frames "
					  "tracked", x->domid, (unsigned long long)max_gfn,
					  (unsigned long long)x->nr_pages);
	}
	if ((err = xmig__xen_dominfo(x, &di)))
		return err;
	if (x->scan_done && di.tot_pages == x->scan_tot) {
		if (final)
			xmig__xen_note(x, "at the pause: %llu pages, as at the last frame scan: "
				       "no rescan", (unsigned long long)di.tot_pages);
		return 0;
	}
	for (uint64_t base = 0; base < x->nr_pages; base += XMIG__XEN_BATCH) {
		unsigned int k = (unsigned int)(x->nr_pages - base < XMIG__XEN_BATCH
							? x->nr_pages - base
							: XMIG__XEN_BATCH);

		for (unsigned int i = 0; i < k; i++)
			a[i] = base + i;
		if (xmig__xen_frame_types(x, k) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: frame types "
						"(getpageframeinfo3) from gfn 0x%llx", x->domid,
						(unsigned long long)base);
		for (unsigned int i = 0; i < k; i++) {
			uint64_t g = base + i;

			xmig__bitmap_set(x->probed, g);
			if (xmig__xen_tnib_absent(xmig__xen_tnib(a[i]))) {
				/* Sent while it was there: announce it absent now, or
				 * the destination keeps it (Xen logs no removal). */
				if (xmig__bitmap_test(x->populated, g)) {
					gone++;
					xmig__bitmap_set(bitmap, g);
				}
				xmig__bitmap_set(x->holes, g);
				xmig__bitmap_clear(x->populated, g);
			} else if (!xmig__bitmap_test(x->populated, g)) {
				added++;
				unlogged += !xmig__bitmap_test(bitmap, g);
				xmig__bitmap_clear(x->holes, g);
				xmig__bitmap_set(bitmap, g);
			}
		}
	}
	/* the count read before the scan: a change during it shows next time */
	x->scan_tot = di.tot_pages;
	x->scan_done = 1;
	if (final || added || gone)
		xmig__xen_note(x, "%s: frame scan of %llu frames in %.1f ms (%llu pages): %llu "
			       "newly populated (%llu of them not in the dirty log), %llu removed",
			       final ? "at the pause" : "live", (unsigned long long)x->nr_pages,
			       (double)(xmig__now_ns() - t0) / 1e6,
			       (unsigned long long)di.tot_pages, (unsigned long long)added,
			       (unsigned long long)unlogged, (unsigned long long)gone);
	return 0;
}

/* Say once why the grant table cannot be read; the migration goes on. */
static int grant_unreadable(struct xmig__xen *x, const char *why)
{
	if (!x->grant_note++)
		xmig__xen_note(x, "d%u: %s: frames its back ends hold mapped cannot be told; "
			       "their writes after the last round may be missing on the "
			       "destination (and --verify then reports them)", x->domid, why);
	return 0;
}

/*
 * Frames of the paused source that another domain holds mapped writable
 * through its grant table: an entry that permits access with GTF_writing
 * set (Xen keeps it set while a writable mapping exists, and during a grant
 * copy). dom0's back ends map their shared rings that way, and blkback its
 * persistent grants; their writes reach no dirty log, Xen marks a frame
 * dirty only when the mapping goes. So they are added to the final round
 * (their content at the pause is sent) and to every read of the log after
 * it (the digest leaves them out, as frames written after the pause).
 * Grant table v1 only (Linux's); with v2 the flags are elsewhere. A table
 * that cannot be read (v2, or mapped neither as a resource nor the old
 * way) is said once and adds nothing: the migration goes on as
 * libxenguest's would.
 */
static int grant_writable(struct xmig__xen *x, uint64_t *bitmap)
{
	struct gnttab_query_size q = { .dom = (domid_t)x->domid };
	xenforeignmemory_resource_handle *res = NULL;
	grant_entry_v1_t *g = NULL;
	void *addr = NULL;
	uint64_t added = 0, outside = 0, n;
	char why[96];
	int ver, legacy = 0;

	ver = xc_gnttab_get_version(x->xch, x->domid);
	if (ver != 1) {
		snprintf(why, sizeof(why), "grant table version %d (only v1 is read)", ver);
		return grant_unreadable(x, why);
	}
	if (xc_gnttab_query_size(x->xch, &q) < 0 || q.status != GNTST_okay || !q.nr_frames)
		return grant_unreadable(x, "the size of its grant table is unknown");
	/* as a resource: also the frames a translated guest never mapped */
	res = xenforeignmemory_map_resource(x->fmem, (domid_t)x->domid,
					    XENMEM_resource_grant_table,
					    XENMEM_resource_grant_table_id_shared, 0, q.nr_frames,
					    &addr, PROT_READ, 0);
	if (res) {
		g = addr;
	} else {
		int num = 0;

		g = xc_gnttab_map_table_v1(x->xch, x->domid, &num);
		if (!g) {
			snprintf(why, sizeof(why), "its grant table cannot be mapped (%s)",
				 strerror(errno));
			return grant_unreadable(x, why);
		}
		legacy = num;
	}
	n = res ? (uint64_t)q.nr_frames * (4096 / sizeof(*g)) : (uint64_t)legacy;
	for (uint64_t i = 0; i < n; i++) {
		uint16_t f = __atomic_load_n(&g[i].flags, __ATOMIC_ACQUIRE);
		uint64_t pfn = g[i].frame;

		if ((f & GTF_type_mask) != GTF_permit_access || !(f & GTF_writing))
			continue;
		if (x->guest_kind == XMIG_GUEST_XEN_PV)
			pfn = xmig__pv_m2p_get(&x->pv.m2p, pfn); /* PV grants machine frames */
		if (pfn >= x->nr_pages) {
			outside++;
			continue;
		}
		added += !xmig__bitmap_test(bitmap, pfn);
		xmig__bitmap_set(bitmap, pfn);
	}
	if (res)
		xenforeignmemory_unmap_resource(x->fmem, res);
	else
		munmap(g, (size_t)legacy * sizeof(*g));
	if (x->grant_note < 2 && (added || outside)) {
		x->grant_note = 2; /* once, at the pause */
		xmig__xen_note(x, "d%u: %llu frames mapped writable by back ends (grant table), "
			       "sent as at the pause%s", x->domid, (unsigned long long)added,
			       outside ? "; some grants name frames outside the guest" : "");
	}
	return 0;
}

int xmig__xen_log_fetch(struct xmig__xen *x, uint64_t *bitmap, int final)
{
	int err;

	const uint64_t *d = x->dirty_buf;
	size_t nw = xmig__bitmap_words(x->nr_pages);
	long long rc;

	if (!x->logging)
		return xmig__fail(XMIG_EINVAL, "xen: dirty_fetch without log-dirty");
	rc = xc_logdirty_control(x->xch, x->domid, XEN_DOMCTL_SHADOW_OP_CLEAN, &x->dirty_hbuf,
				 x->nr_pages, final ? XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL : 0, NULL);
	if (rc < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: log-dirty CLEAN%s", x->domid,
					final ? " (final)" : "");
	/* A short count leaves the rest's dirty bits unknown: pages would be
	 * lost. libxenguest fails here too. */
	if ((unsigned long long)rc != x->nr_pages)
		return xmig__fail(XMIG_EBACKEND, "xen: d%u: log-dirty CLEAN%s covered %lld of "
				  "%llu frames: the dirty state of the others is unknown",
				  x->domid, final ? " (final)" : "", rc,
				  (unsigned long long)x->nr_pages);
	for (size_t i = 0; i < nw; i++) {
		bitmap[i] |= d[i];
		x->holes[i] &= ~d[i]; /* a dirtied hole must be looked at again */
	}
	if (final && x->guest_kind == XMIG_GUEST_XEN_PV)
		err = xmig__xen_pv_pause_scan(x, bitmap);
	else if (x->guest_kind != XMIG_GUEST_XEN_PV)
		err = hvm_frame_scan(x, bitmap, final);
	else
		err = 0;
	/* paused from the final read on: what back ends hold mapped (see above) */
	if (!err && (final || x->fetched_final))
		err = grant_writable(x, bitmap);
	if (!err && final)
		x->fetched_final = 1;
	return err;
}

/* SPDX-License-Identifier: MIT */
/*
 * The PV guest type (x86-64 PV domains).
 *
 * A PV guest names memory by machine frame: its page tables hold machine
 * frames, and its own p2m (pfn -> machine frame) is the only map of its
 * memory. The engine still moves pages by pfn, 0 .. p2m size - 1; this file
 * translates, and puts right what names a machine frame:
 *
 * SOURCE
 *   - open: the guest publishes its p2m as a virtually mapped array
 *     (shared_info arch.p2m_vaddr, in the address space of p2m_cr3); the
 *     leaves are found by walking those page tables and stay mapped, so
 *     pfn -> mfn is read live. The frame-list-list of older kernels is not
 *     read (Xen's toolstack tells guests it understands the virtual list).
 *   - live rounds send every page as it is, page tables included.
 *   - at pause (the final dirty fetch) every frame's type is read
 *     (getpageframeinfo3), the mfn -> pfn lookup is built from the p2m,
 *     and every page table and p2m leaf joins the final round. From then
 *     on map_pages hands the engine those pages in normal form: page-table
 *     entries name pfns (Xen's L4 slots cleared), p2m entries their own pfn
 *     (or INVALID). The digest is taken over the same form.
 *   - state: the common blobs, PV_P2M (the leaves' pfns), PV_PAGETABLES
 *     (pfn, level, pinned), SHARED_INFO (the page) and one PV_VCPU per vCPU
 *     (context with cr3, user cr3, GDT frames and the start info frame as
 *     pfns; extended, xsave and MSR state).
 *   A guest suspends itself (xenstore or its suspend event channel): its
 *   kernel then drops its mappings of Xen's frames (shared info, grant
 *   table) and turns the start info's store and console frames into pfns.
 *   A plain pause would leave them, so it is refused.
 *
 * DESTINATION
 *   - populate_physmap gives each pfn a machine frame (Xen sets the M2P);
 *     pages are written through those frames, in normal form.
 *   - in restore_complete, after the last state record and before READY
 *     (so a failure leaves the source running): page tables are localised in place (every entry
 *     checked: the stream is untrusted), the shared info is filled (event
 *     channels masked, as the guest rebinds them), the start info gets the
 *     new store/console frames and ports, vCPU contexts are set (which has
 *     Xen validate the page tables), tables pinned as on the source, and
 *     the guest's p2m leaves rewritten with this host's frames.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bitmap.h"
#include "xen_internal.h"

_Static_assert(XMIG__XEN_TNIB_SHIFT == XEN_DOMCTL_PFINFO_LTAB_SHIFT, "domctl.h");
_Static_assert((XMIG__XEN_TNIB_XTAB << 28) == XEN_DOMCTL_PFINFO_XTAB, "domctl.h");
_Static_assert((XMIG__XEN_TNIB_XALLOC << 28) == XEN_DOMCTL_PFINFO_XALLOC, "domctl.h");
_Static_assert((XMIG__XEN_TNIB_BROKEN << 28) == XEN_DOMCTL_PFINFO_BROKEN, "domctl.h");
_Static_assert((XMIG__PV_PFINFO_PINNED << 28) == XEN_DOMCTL_PFINFO_LPINTAB, "domctl.h");
_Static_assert(sizeof(shared_info_t) <= 4096, "xen.h");
_Static_assert(sizeof(xen_domctl_vcpu_msr_t) == 16, "domctl.h");

#define PV_BASIC_SIZE sizeof(vcpu_guest_context_x86_64_t)
#define PV_EXT_MAX sizeof(struct xen_domctl_ext_vcpucontext)

static int pv_fail_why(int code, const char *what, const char *why)
{
	return xmig__fail(code, "xen: %s: %s", what, why);
}

/* ---- source: the p2m ---------------------------------------------------- */

/* One cached table per level while walking the guest's page tables. */
struct walk {
	uint64_t mfn[5];
	uint64_t *pt[5];
};

static void walk_done(struct xmig__xen *x, struct walk *w)
{
	for (int l = 1; l <= 4; l++)
		if (w->pt[l])
			xenforeignmemory_unmap(x->fmem, w->pt[l], 1);
	memset(w, 0, sizeof(*w));
}

/* The machine frame that maps `va` in the tables under L4 frame `l4`. */
static int walk_va(struct xmig__xen *x, struct walk *w, uint64_t l4, uint64_t va, uint64_t *out)
{
	uint64_t mfn = l4;

	for (int l = 4; l >= 1; l--) {
		unsigned int idx = (unsigned int)(va >> (12 + 9 * (l - 1))) & 511;
		uint64_t pte;

		if (!w->pt[l] || w->mfn[l] != mfn) {
			xen_pfn_t f = mfn;
			int e = 0;

			if (w->pt[l])
				xenforeignmemory_unmap(x->fmem, w->pt[l], 1);
			w->pt[l] = xenforeignmemory_map(x->fmem, x->domid, PROT_READ, 1, &f, &e);
			if (!w->pt[l] || e) {
				if (w->pt[l])
					xenforeignmemory_unmap(x->fmem, w->pt[l], 1);
				w->pt[l] = NULL;
				return xmig__fail(XMIG_EGUEST, "xen: d%u: cannot map the L%d table "
						  "(mfn 0x%llx) of its p2m at 0x%llx", x->domid, l,
						  (unsigned long long)mfn, (unsigned long long)va);
			}
			w->mfn[l] = mfn;
		}
		pte = w->pt[l][idx];
		if (!(pte & XMIG__PV_PTE_PRESENT) || (l > 1 && (pte & XMIG__PV_PTE_PSE)))
			return xmig__fail(XMIG_EGUEST, "xen: d%u: its p2m at 0x%llx is %s at L%d",
					  x->domid, (unsigned long long)va,
					  (pte & XMIG__PV_PTE_PRESENT) ? "a superpage" : "not mapped",
					  l);
		mfn = xmig__pv_pte_frame(pte);
	}
	*out = mfn;
	return 0;
}

static int map_p2m(struct xmig__xen *x)
{
	struct xmig__xen_pv *pv = &x->pv;
	shared_info_t *s = pv->shinfo;
	struct walk w = { 0 };
	int *errs;
	int err = 0;

	pv->max_pfn = s->arch.max_pfn;
	pv->p2m_cr3 = s->arch.p2m_cr3;
	pv->p2m_vaddr = s->arch.p2m_vaddr;
	pv->p2m_generation = s->arch.p2m_generation;
	if (!pv->p2m_cr3)
		return xmig__fail(XMIG_ENOTSUP, "xen: d%u publishes no virtually mapped p2m "
				  "(shared info p2m_cr3 = 0): a kernel this old is not supported",
				  x->domid);
	if (pv->max_pfn == 0 || pv->max_pfn > (1ull << 32))
		return xmig__fail(XMIG_EGUEST, "xen: d%u: p2m of %llu frames", x->domid,
				  (unsigned long long)pv->max_pfn);
	if (pv->p2m_vaddr & 4095)
		return xmig__fail(XMIG_EGUEST, "xen: d%u: p2m at unaligned 0x%llx", x->domid,
				  (unsigned long long)pv->p2m_vaddr);
	pv->nr_leaves = (uint32_t)XMIG__DIV_ROUND_UP(pv->max_pfn, XMIG__PV_ENTRIES);
	pv->leaf_mfns = calloc(pv->nr_leaves, sizeof(*pv->leaf_mfns));
	pv->leaf_pfns = calloc(pv->nr_leaves, sizeof(*pv->leaf_pfns));
	errs = calloc(pv->nr_leaves, sizeof(*errs));
	if (!pv->leaf_mfns || !pv->leaf_pfns || !errs) {
		free(errs);
		return xmig__fail(XMIG_ENOMEM, "xen: out of memory for %u p2m leaves",
				  pv->nr_leaves);
	}
	for (uint32_t i = 0; i < pv->nr_leaves && !err; i++)
		err = walk_va(x, &w, pv->p2m_cr3 >> 12, pv->p2m_vaddr + 4096ull * i,
			      &pv->leaf_mfns[i]);
	walk_done(x, &w);
	if (!err) {
		xen_pfn_t *f = malloc(pv->nr_leaves * sizeof(*f));

		for (uint32_t i = 0; f && i < pv->nr_leaves; i++)
			f[i] = pv->leaf_mfns[i];
		pv->p2m = f ? xenforeignmemory_map(x->fmem, x->domid, PROT_READ, pv->nr_leaves, f,
						   errs)
			    : NULL;
		free(f);
		if (!pv->p2m)
			err = xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: mapping its %u p2m leaves",
					       x->domid, pv->nr_leaves);
		for (uint32_t i = 0; !err && i < pv->nr_leaves; i++)
			if (errs[i])
				err = xmig__fail(XMIG_EGUEST, "xen: d%u: p2m leaf %u (mfn 0x%llx) "
						 "is not its frame", x->domid, i,
						 (unsigned long long)pv->leaf_mfns[i]);
	}
	free(errs);
	return err;
}

int xmig__xen_pv_open(struct xmig__xen *x, const xc_domaininfo_t *di)
{
	unsigned int width = 0;
	xen_pfn_t f = di->shared_info_frame;
	int e = 0;

	if (xc_domain_get_guest_width(x->xch, x->domid, &width) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: guest width", x->domid);
	if (width != 8)
		return xmig__fail(XMIG_ENOTSUP, "xen: d%u is a 32-bit PV guest: only 64-bit PV "
				  "guests are supported", x->domid);
	x->pv.shinfo = xenforeignmemory_map(x->fmem, x->domid, PROT_READ, 1, &f, &e);
	if (!x->pv.shinfo || e) {
		if (x->pv.shinfo)
			xenforeignmemory_unmap(x->fmem, x->pv.shinfo, 1);
		x->pv.shinfo = NULL;
		return xmig__fail(XMIG_EBACKEND, "xen: d%u: cannot map its shared info (mfn "
				  "0x%llx)", x->domid, (unsigned long long)f);
	}
	x->type = &xmig__xen_type_pv;
	x->guest_kind = XMIG_GUEST_XEN_PV;
	return map_p2m(x);
}

/* The machine frame of pfn in the guest's live p2m, XMIG__PV_INVALID if none. */
uint64_t xmig__xen_pv_frame(struct xmig__xen *x, uint64_t pfn)
{
	uint64_t mfn = pfn < x->pv.max_pfn ? x->pv.p2m[pfn] : XMIG__PV_INVALID;

	return mfn > XMIG__PV_MAX_FRAME ? XMIG__PV_INVALID : mfn;
}

/*
 * After the pause: if pfn is a page table or p2m leaf, replace *page (entry
 * j of map m) by its normal form, in the map slot's own buffer.
 */
int xmig__xen_pv_normal_form(struct xmig__xen *x, struct xmig__xen_map *m, unsigned int j,
			     uint64_t pfn, void **page)
{
	unsigned int slot = (unsigned int)(m - x->maps), t;
	uint8_t *dst;
	char why[160];

	if (!x->pv.scanned || !(t = x->pv.ptype[pfn]))
		return 0;
	if (!x->pv.bounce[slot])
		x->pv.bounce[slot] = malloc((size_t)XMIG__XEN_BATCH * XMIG__XEN_PAGE);
	if (!x->pv.bounce[slot])
		return xmig__fail(XMIG_ENOMEM, "xen: normalisation buffer");
	dst = (uint8_t *)x->pv.bounce[slot] + (size_t)j * XMIG__XEN_PAGE;
	if (t & XMIG__PV_T_LEVEL) {
		if (xmig__pv_normalise_pt(*page, (uint64_t *)(void *)dst, t & XMIG__PV_T_LEVEL,
					  &x->pv.m2p, why, sizeof(why)))
			return xmig__fail(XMIG_EGUEST, "xen: d%u: page table at pfn 0x%llx: %s",
					  x->domid, (unsigned long long)pfn, why);
	} else {
		xmig__pv_normalise_p2m(*page, (uint64_t *)(void *)dst, &x->pv.m2p);
	}
	*page = dst;
	return 0;
}

/*
 * The guest is stopped: read every frame's type, build mfn -> pfn, find the
 * p2m leaves' pfns, and add every page table and leaf to the final round.
 */
int xmig__xen_pv_pause_scan(struct xmig__xen *x, uint64_t *bitmap)
{
	struct xmig__xen_pv *pv = &x->pv;
	shared_info_t *s = pv->shinfo;
	xen_pfn_t *a = x->probe_buf;
	uint64_t *p2m = NULL, *notmine = NULL, tables = 0, changed = 0;
	char why[200];
	int err = 0;

	if (s->arch.p2m_generation != pv->p2m_generation || s->arch.p2m_cr3 != pv->p2m_cr3 ||
	    s->arch.p2m_vaddr != pv->p2m_vaddr || s->arch.max_pfn != pv->max_pfn)
		return xmig__fail(XMIG_EGUEST, "xen: d%u moved or resized its p2m during the "
				  "migration (generation %llu -> %llu, %llu -> %llu frames)",
				  x->domid, (unsigned long long)pv->p2m_generation,
				  (unsigned long long)s->arch.p2m_generation,
				  (unsigned long long)pv->max_pfn,
				  (unsigned long long)s->arch.max_pfn);
	if (!pv->ptype)
		pv->ptype = calloc(pv->max_pfn, 1);
	p2m = malloc(pv->max_pfn * sizeof(*p2m));
	notmine = calloc(xmig__bitmap_words(pv->max_pfn), 8);
	if (!pv->ptype || !p2m || !notmine || !a) {
		err = xmig__fail(XMIG_ENOMEM, "xen: out of memory for %llu frames' types",
				 (unsigned long long)pv->max_pfn);
		goto out;
	}
	memset(pv->ptype, 0, pv->max_pfn);
	memcpy(p2m, pv->p2m, pv->max_pfn * sizeof(*p2m));
	/*
	 * A pfn the guest gave back (its p2m entry now invalid) after it was
	 * sent, or one it populated and never wrote, is not in the dirty log:
	 * the final round announces the first absent and sends the second.
	 */
	for (uint64_t p = 0; p < pv->max_pfn && p < x->nr_pages; p++)
		if ((p2m[p] <= XMIG__PV_MAX_FRAME) != (xmig__bitmap_test(x->populated, p) != 0)) {
			xmig__bitmap_set(bitmap, p);
			changed++;
		}
	for (uint64_t base = 0; base < pv->max_pfn && !err; base += XMIG__XEN_BATCH) {
		uint64_t pfn[XMIG__XEN_BATCH];
		unsigned int k = 0;

		for (uint64_t p = base; p < pv->max_pfn && p < base + XMIG__XEN_BATCH; p++)
			if (p2m[p] <= XMIG__PV_MAX_FRAME) {
				pfn[k] = p;
				a[k++] = p2m[p];
			}
		if (!k)
			continue;
		if (xmig__xen_frame_types(x, k) < 0) {
			err = xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: frame types", x->domid);
			break;
		}
		for (unsigned int j = 0; j < k; j++) {
			unsigned int t = xmig__pv_pfinfo_type(a[j]);

			if (t == 0xff) {
				xmig__bitmap_set(notmine, pfn[j]);
				continue;
			}
			pv->ptype[pfn[j]] = (uint8_t)t;
			if (t & XMIG__PV_T_LEVEL) {
				xmig__bitmap_set(bitmap, pfn[j]);
				tables++;
			}
		}
	}
	if (err)
		goto out;
	if (xmig__pv_m2p_build(&pv->m2p, p2m, pv->max_pfn, notmine, why, sizeof(why))) {
		err = xmig__fail(XMIG_EGUEST, "xen: d%u: %s", x->domid, why);
		goto out;
	}
	for (uint32_t i = 0; i < pv->nr_leaves; i++) {
		uint64_t pfn = xmig__pv_m2p_get(&pv->m2p, pv->leaf_mfns[i]);

		if (pfn == XMIG__PV_INVALID || (pv->ptype[pfn] & XMIG__PV_T_LEVEL)) {
			err = xmig__fail(XMIG_EGUEST, "xen: d%u: p2m leaf %u (mfn 0x%llx) is %s",
					 x->domid, i, (unsigned long long)pv->leaf_mfns[i],
					 pfn == XMIG__PV_INVALID ? "not in its p2m" : "a page table");
			goto out;
		}
		pv->leaf_pfns[i] = pfn;
		pv->ptype[pfn] |= XMIG__PV_T_P2M;
		xmig__bitmap_set(bitmap, pfn);
	}
	pv->scanned = 1;
	xmig__xen_note(x, "at pause: %llu page tables, %u p2m leaves, %llu frames populated or "
		       "given back since they were sent", (unsigned long long)tables,
		       pv->nr_leaves, (unsigned long long)changed);
out:
	free(p2m);
	free(notmine);
	return err;
}

/* ---- source: state ------------------------------------------------------ */

static uint64_t to_pfn(struct xmig__xen *x, uint64_t mfn)
{
	return xmig__pv_m2p_get(&x->pv.m2p, mfn);
}

/* A vCPU's basic context with every machine frame turned into a pfn. */
static int basic_normalise(struct xmig__xen *x, uint32_t id, vcpu_guest_context_x86_64_t *c)
{
	uint64_t pfn;
	unsigned int frames;

	if (id == 0) {
		pfn = to_pfn(x, c->user_regs.rdx);
		if (pfn == XMIG__PV_INVALID)
			return xmig__fail(XMIG_EGUEST, "xen: d%u: start info mfn 0x%llx (rdx at "
					  "suspend) is not the guest's", x->domid,
					  (unsigned long long)c->user_regs.rdx);
		c->user_regs.rdx = pfn;
	}
	if (c->gdt_ents > FIRST_RESERVED_GDT_ENTRY)
		return xmig__fail(XMIG_EGUEST, "xen: d%u: vCPU %u has %u GDT entries", x->domid,
				  id, (unsigned int)c->gdt_ents);
	frames = (unsigned int)(c->gdt_ents + 511) / 512;
	for (unsigned int i = 0; i < frames; i++) {
		pfn = to_pfn(x, c->gdt_frames[i]);
		if (pfn == XMIG__PV_INVALID)
			return xmig__fail(XMIG_EGUEST, "xen: d%u: vCPU %u's GDT frame %u is not "
					  "the guest's", x->domid, id, i);
		c->gdt_frames[i] = pfn;
	}
	pfn = to_pfn(x, c->ctrlreg[3] >> 12);
	if (pfn == XMIG__PV_INVALID)
		return xmig__fail(XMIG_EGUEST, "xen: d%u: vCPU %u's cr3 0x%llx is not the guest's",
				  x->domid, id, (unsigned long long)c->ctrlreg[3]);
	c->ctrlreg[3] = pfn << 12;
	if (c->ctrlreg[1]) {
		pfn = to_pfn(x, c->ctrlreg[1] >> 12);
		if (pfn == XMIG__PV_INVALID)
			return xmig__fail(XMIG_EGUEST, "xen: d%u: vCPU %u's user page table 0x%llx "
					  "is not the guest's", x->domid, id,
					  (unsigned long long)c->ctrlreg[1]);
		c->ctrlreg[1] = 1 | pfn << 12; /* bit 0: there is one */
	}
	return 0;
}

/* Read a domctl's variable-sized answer: size first, then the data. */
static int get_xsave(struct xmig__xen *x, uint32_t id, uint8_t **out, uint32_t *len)
{
	struct xen_domctl d = { .cmd = XEN_DOMCTL_getvcpuextstate, .domain = x->domid };
	DECLARE_HYPERCALL_BUFFER(uint8_t, buf);

	*out = NULL;
	*len = 0;
	d.u.vcpuextstate.vcpu = id;
	if (xc_domctl(x->xch, &d) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u xsave size", x->domid, id);
	if (!d.u.vcpuextstate.xfeature_mask || !d.u.vcpuextstate.size)
		return 0;
	if (d.u.vcpuextstate.size > (1u << 20))
		return xmig__fail(XMIG_EBACKEND, "xen: d%u: xsave state of %llu bytes", x->domid,
				  (unsigned long long)d.u.vcpuextstate.size);
	buf = xc_hypercall_buffer_alloc(x->xch, buf, d.u.vcpuextstate.size);
	if (!buf)
		return xmig__fail(XMIG_ENOMEM, "xen: xsave buffer");
	set_xen_guest_handle(d.u.vcpuextstate.buffer, buf);
	if (xc_domctl(x->xch, &d) < 0) {
		xc_hypercall_buffer_free(x->xch, buf);
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u xsave state", x->domid,
					id);
	}
	*len = (uint32_t)d.u.vcpuextstate.size;
	*out = malloc(*len ? *len : 1);
	if (*out)
		memcpy(*out, buf, *len);
	xc_hypercall_buffer_free(x->xch, buf);
	return *out ? 0 : xmig__fail(XMIG_ENOMEM, "xen: xsave copy");
}

static int get_msrs(struct xmig__xen *x, uint32_t id, uint8_t **out, uint32_t *len)
{
	struct xen_domctl d = { .cmd = XEN_DOMCTL_get_vcpu_msrs, .domain = x->domid };
	DECLARE_HYPERCALL_BUFFER(xen_domctl_vcpu_msr_t, buf);
	uint32_t n;

	*out = NULL;
	*len = 0;
	d.u.vcpu_msrs.vcpu = id;
	if (xc_domctl(x->xch, &d) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u MSR count", x->domid, id);
	n = d.u.vcpu_msrs.msr_count;
	if (!n)
		return 0;
	if (n > 4096)
		return xmig__fail(XMIG_EBACKEND, "xen: d%u: %u MSRs", x->domid, n);
	buf = xc_hypercall_buffer_alloc(x->xch, buf, n * sizeof(*buf));
	if (!buf)
		return xmig__fail(XMIG_ENOMEM, "xen: MSR buffer");
	set_xen_guest_handle(d.u.vcpu_msrs.msrs, buf);
	if (xc_domctl(x->xch, &d) < 0) {
		xc_hypercall_buffer_free(x->xch, buf);
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u MSRs", x->domid, id);
	}
	*len = d.u.vcpu_msrs.msr_count * (uint32_t)sizeof(*buf);
	*out = malloc(*len ? *len : 1);
	if (*out)
		memcpy(*out, buf, *len);
	xc_hypercall_buffer_free(x->xch, buf);
	return *out ? 0 : xmig__fail(XMIG_ENOMEM, "xen: MSR copy");
}

static int save_vcpu(struct xmig__xen *x, uint32_t id, xmig_state_emit_fn emit, void *ctx)
{
	struct xmig__pv_vcpu_hdr h = { .vcpu = id };
	vcpu_guest_context_any_t c;
	struct xen_domctl ext = { .cmd = XEN_DOMCTL_get_ext_vcpucontext, .domain = x->domid };
	xc_vcpuinfo_t vi;
	uint8_t *xsave = NULL, *msrs = NULL, *body = NULL;
	size_t off;
	int rc;

	if (xc_vcpu_getinfo(x->xch, x->domid, id, &vi) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u info", x->domid, id);
	if (!vi.online)
		return xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_PV_VCPU, &h, sizeof(h));
	h.flags = 1;
	if (xc_vcpu_getcontext(x->xch, x->domid, id, &c) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u context", x->domid, id);
	rc = basic_normalise(x, id, &c.x64);
	if (rc)
		return rc;
	ext.u.ext_vcpucontext.vcpu = id;
	if (xc_domctl(x->xch, &ext) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u extended context",
					x->domid, id);
	if ((rc = get_xsave(x, id, &xsave, &h.xsave_len)) ||
	    (rc = get_msrs(x, id, &msrs, &h.msr_len)))
		goto out;
	h.basic_len = (uint32_t)PV_BASIC_SIZE;
	h.ext_len = ext.u.ext_vcpucontext.size;
	if (h.ext_len > PV_EXT_MAX) {
		rc = xmig__fail(XMIG_EBACKEND, "xen: d%u: extended context of %u bytes", x->domid,
				h.ext_len);
		goto out;
	}
	body = malloc(sizeof(h) + h.basic_len + h.ext_len + h.xsave_len + h.msr_len);
	if (!body) {
		rc = xmig__fail(XMIG_ENOMEM, "xen: vCPU blob");
		goto out;
	}
	memcpy(body, &h, sizeof(h));
	off = sizeof(h);
	memcpy(body + off, &c.x64, h.basic_len);
	off += h.basic_len;
	memcpy(body + off, &ext.u.ext_vcpucontext, h.ext_len);
	off += h.ext_len;
	if (h.xsave_len)
		memcpy(body + off, xsave, h.xsave_len);
	off += h.xsave_len;
	if (h.msr_len)
		memcpy(body + off, msrs, h.msr_len);
	off += h.msr_len;
	rc = xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_PV_VCPU, body, off);
out:
	free(body);
	free(xsave);
	free(msrs);
	return rc;
}

static int pv_save(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	struct xmig__xen_pv *pv = &x->pv;
	uint8_t *body;
	size_t len;
	uint32_t n = 0;
	int rc;

	if (!pv->scanned)
		return xmig__fail(XMIG_EINVAL, "xen: d%u: PV state before the final dirty fetch",
				  x->domid);
	rc = xmig__xen_save_common(x, emit, ctx);
	if (rc)
		return rc;
	/* PV_P2M */
	len = 8 + 8ull * pv->nr_leaves;
	body = malloc(len);
	if (!body)
		return xmig__fail(XMIG_ENOMEM, "xen: PV_P2M blob");
	xmig__put_le32(body, pv->nr_leaves);
	xmig__put_le32(body + 4, 0);
	for (uint32_t i = 0; i < pv->nr_leaves; i++)
		xmig__put_le64(body + 8 + 8 * (size_t)i, pv->leaf_pfns[i]);
	rc = xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_PV_P2M, body, len);
	free(body);
	if (rc)
		return rc;
	/* PV_PAGETABLES */
	for (uint64_t p = 0; p < pv->max_pfn; p++)
		n += (pv->ptype[p] & XMIG__PV_T_LEVEL) != 0;
	len = 8 + 16ull * n;
	body = malloc(len);
	if (!body)
		return xmig__fail(XMIG_ENOMEM, "xen: PV_PAGETABLES blob of %u tables", n);
	xmig__put_le32(body, n);
	xmig__put_le32(body + 4, 0);
	n = 0;
	for (uint64_t p = 0; p < pv->max_pfn; p++) {
		unsigned int t = pv->ptype[p];

		if (!(t & XMIG__PV_T_LEVEL))
			continue;
		xmig__put_le64(body + 8 + 16 * (size_t)n, p);
		xmig__put_le32(body + 16 + 16 * (size_t)n, t & XMIG__PV_T_LEVEL);
		xmig__put_le32(body + 20 + 16 * (size_t)n, (t & XMIG__PV_T_PINNED) ? 1 : 0);
		n++;
	}
	rc = xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_PV_PAGETABLES, body, len);
	free(body);
	if (rc)
		return rc;
	rc = xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_SHARED_INFO, pv->shinfo, 4096);
	for (uint32_t id = 0; !rc && id < x->nr_vcpus; id++)
		rc = save_vcpu(x, id, emit, ctx);
	return rc;
}

/* ---- destination --------------------------------------------------------- */

int xmig__xen_pv_dest_init(struct xmig__xen *x)
{
	x->pv.p2m_dest = malloc((x->nr_pages ? x->nr_pages : 1) * sizeof(uint64_t));
	x->pv.vcpu = calloc(x->nr_vcpus ? x->nr_vcpus : 1, sizeof(*x->pv.vcpu));
	if (!x->pv.p2m_dest || !x->pv.vcpu)
		return xmig__fail(XMIG_ENOMEM, "xen: out of memory for a %llu-frame p2m",
				  (unsigned long long)x->nr_pages);
	memset(x->pv.p2m_dest, 0xff, x->nr_pages * sizeof(uint64_t));
	return 0;
}

void xmig__xen_pv_fini(struct xmig__xen *x)
{
	struct xmig__xen_pv *pv = &x->pv;

	if (pv->p2m)
		xenforeignmemory_unmap(x->fmem, pv->p2m, pv->nr_leaves);
	if (pv->shinfo)
		xenforeignmemory_unmap(x->fmem, pv->shinfo, 1);
	for (unsigned int i = 0; i < XMIG__XEN_MAX_MAPS; i++)
		free(pv->bounce[i]);
	for (uint32_t i = 0; pv->vcpu && i < x->nr_vcpus; i++)
		free(pv->vcpu[i]);
	free(pv->vcpu);
	free(pv->leaf_mfns);
	free(pv->leaf_pfns);
	free(pv->ptype);
	free(pv->m2p.pair);
	free(pv->p2m_dest);
	free(pv->tables);
	memset(pv, 0, sizeof(*pv));
}

/* pfn -> its frame here, for a pfn the stream names: checked. */
static int dest_mfn(struct xmig__xen *x, uint64_t pfn, const char *what, uint64_t *mfn)
{
	if (pfn >= x->nr_pages || x->pv.p2m_dest[pfn] > XMIG__PV_MAX_FRAME)
		return xmig__fail(XMIG_EINVAL, "xen: %s names pfn 0x%llx, which the guest does "
				  "not have", what, (unsigned long long)pfn);
	*mfn = x->pv.p2m_dest[pfn];
	return 0;
}

/* Map `n` frames of the new domain read-write; NULL + failure set on error. */
static void *map_rw(struct xmig__xen *x, const uint64_t *mfns, unsigned int n)
{
	xen_pfn_t *f = calloc(n ? n : 1, sizeof(*f));
	int *e = calloc(n ? n : 1, sizeof(*e));
	void *p = NULL;

	if (!f || !e) {
		xmig__fail(XMIG_ENOMEM, "xen: out of memory");
		goto out;
	}
	for (unsigned int i = 0; i < n; i++)
		f[i] = mfns[i];
	p = xenforeignmemory_map(x->fmem, x->domid, PROT_READ | PROT_WRITE, n, f, e);
	if (!p) {
		xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: mapping %u frames", x->domid, n);
		goto out;
	}
	for (unsigned int i = 0; i < n; i++)
		if (e[i]) {
			xmig__fail(XMIG_EBACKEND, "xen: d%u: mapping mfn 0x%llx: %s", x->domid,
				   (unsigned long long)mfns[i], strerror(-e[i]));
			xenforeignmemory_unmap(x->fmem, p, n);
			p = NULL;
			break;
		}
out:
	free(f);
	free(e);
	return p;
}

static int localise_tables(struct xmig__xen *x)
{
	const uint8_t *t = x->pv.tables + 8;
	uint64_t mfns[XMIG__XEN_BATCH], tmp[XMIG__PV_ENTRIES];
	char why[200];
	int err = 0;

	for (uint32_t base = 0; base < x->pv.nr_tables && !err; base += XMIG__XEN_BATCH) {
		unsigned int k = x->pv.nr_tables - base < XMIG__XEN_BATCH ? x->pv.nr_tables - base
									  : XMIG__XEN_BATCH;
		uint8_t *pages;

		for (unsigned int i = 0; i < k && !err; i++)
			err = dest_mfn(x, xmig__le64(t + 16 * (size_t)(base + i)), "PV_PAGETABLES",
				       &mfns[i]);
		if (err)
			break;
		pages = map_rw(x, mfns, k);
		if (!pages)
			return XMIG_EBACKEND;
		for (unsigned int i = 0; i < k; i++) {
			uint64_t *pt = (uint64_t *)(void *)(pages + (size_t)i * XMIG__XEN_PAGE);
			unsigned int level = xmig__le32(t + 16 * (size_t)(base + i) + 8);

			if (xmig__pv_localise_pt(pt, tmp, level, x->pv.p2m_dest, x->nr_pages, why,
						 sizeof(why))) {
				err = xmig__fail(XMIG_EINVAL, "xen: page table at pfn 0x%llx: %s",
						 (unsigned long long)xmig__le64(t + 16 * (size_t)(base + i)),
						 why);
				break;
			}
			memcpy(pt, tmp, sizeof(tmp));
		}
		xenforeignmemory_unmap(x->fmem, pages, k);
	}
	return err;
}

/* The level a pfn has in PV_PAGETABLES (0: not a table). */
static unsigned int table_level(struct xmig__xen *x, uint64_t pfn)
{
	const uint8_t *t = x->pv.tables + 8;
	uint32_t lo = 0, hi = x->pv.nr_tables;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (xmig__le64(t + 16 * (size_t)mid) < pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < x->pv.nr_tables && xmig__le64(t + 16 * (size_t)lo) == pfn)
		return xmig__le32(t + 16 * (size_t)lo + 8);
	return 0;
}

static int dest_data_mfn(struct xmig__xen *x, uint64_t pfn, const char *what, uint64_t *mfn)
{
	if (table_level(x, pfn))
		return xmig__fail(XMIG_EINVAL, "xen: %s (pfn 0x%llx) is a page table", what,
				  (unsigned long long)pfn);
	return dest_mfn(x, pfn, what, mfn);
}

static int fill_shared_info(struct xmig__xen *x)
{
	const shared_info_t *src = (const void *)x->pv.shinfo_src;
	xc_domaininfo_t di;
	shared_info_t *s;
	uint64_t f = 0;
	int err = xmig__xen_dominfo(x, &di);

	if (err)
		return err;
	f = di.shared_info_frame;
	s = map_rw(x, &f, 1);
	if (!s)
		return XMIG_EBACKEND;
	memcpy(s->vcpu_info, src->vcpu_info, sizeof(s->vcpu_info));
	memcpy(&s->arch, &src->arch, sizeof(s->arch));
	s->arch.pfn_to_mfn_frame_list_list = 0;
	/* the guest rebinds its event channels on resume: nothing pending, all masked */
	memset(s->evtchn_pending, 0, sizeof(s->evtchn_pending));
	for (unsigned int i = 0; i < XEN_LEGACY_MAX_VCPUS; i++)
		s->vcpu_info[i].evtchn_pending_sel = 0;
	memset(s->evtchn_mask, 0xff, sizeof(s->evtchn_mask));
	xenforeignmemory_unmap(x->fmem, s, 1);
	return 0;
}

/* vCPU 0 suspended with its start info's pfn in rdx: connect it here. */
static int fix_start_info(struct xmig__xen *x, vcpu_guest_context_x86_64_t *c)
{
	xc_domaininfo_t di;
	start_info_t *si;
	uint64_t mfn = 0, store = 0, console = 0;
	int err;

	if ((err = dest_data_mfn(x, c->user_regs.rdx, "the start info", &mfn)) ||
	    (err = xmig__xen_dominfo(x, &di)))
		return err;
	si = map_rw(x, &mfn, 1);
	if (!si)
		return XMIG_EBACKEND;
	if ((err = dest_data_mfn(x, si->store_mfn, "the xenstore ring", &store)) ||
	    (err = dest_data_mfn(x, si->console.domU.mfn, "the console ring", &console))) {
		xenforeignmemory_unmap(x->fmem, si, 1);
		return err;
	}
	si->store_mfn = store;
	si->store_evtchn = x->ri.store_port;
	si->console.domU.mfn = console;
	si->console.domU.evtchn = x->ri.console_port;
	si->nr_pages = x->nr_pages;
	si->shared_info = (uint64_t)di.shared_info_frame << 12;
	si->flags = 0;
	xenforeignmemory_unmap(x->fmem, si, 1);
	x->ri.store_gfn = store;
	x->ri.console_gfn = console;
	c->user_regs.rdx = mfn;
	return 0;
}

/* xsave state (msrs 0) or MSRs (msrs 1) of vCPU `id`, through a hypercall buffer. */
static int set_vcpu_buf(struct xmig__xen *x, uint32_t id, int msrs, const uint8_t *data,
			uint32_t len)
{
	struct xen_domctl d = { .domain = (domid_t)x->domid };
	DECLARE_HYPERCALL_BUFFER(uint8_t, buf);
	int err = 0;

	buf = xc_hypercall_buffer_alloc(x->xch, buf, len);
	if (!buf)
		return xmig__fail(XMIG_ENOMEM, "xen: vCPU state buffer of %u bytes", len);
	memcpy(buf, data, len);
	if (msrs) {
		d.cmd = XEN_DOMCTL_set_vcpu_msrs;
		d.u.vcpu_msrs.vcpu = id;
		d.u.vcpu_msrs.msr_count = len / 16;
		set_xen_guest_handle(d.u.vcpu_msrs.msrs, buf);
	} else {
		d.cmd = XEN_DOMCTL_setvcpuextstate;
		d.u.vcpuextstate.vcpu = id;
		d.u.vcpuextstate.size = len;
		set_xen_guest_handle(d.u.vcpuextstate.buffer, buf);
	}
	if (xc_domctl(x->xch, &d) < 0)
		err = xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u %s", x->domid, id,
				       msrs ? "MSRs" : "xsave state");
	xc_hypercall_buffer_free(x->xch, buf);
	return err;
}

static int set_vcpu(struct xmig__xen *x, uint32_t id)
{
	const uint8_t *b = x->pv.vcpu[id];
	struct xmig__pv_vcpu_hdr h;
	vcpu_guest_context_any_t c;
	struct xen_domctl d;
	uint64_t mfn = 0;
	unsigned int frames;
	int err;

	memcpy(&h, b, sizeof(h));
	if (!(h.flags & 1)) {
		if (id == 0)
			return xmig__fail(XMIG_EINVAL, "xen: vCPU 0 is offline in the stream");
		return 0;
	}
	b += sizeof(h);
	memset(&c, 0, sizeof(c));
	memcpy(&c.x64, b, h.basic_len);
	b += h.basic_len;
	if (id == 0 && (err = fix_start_info(x, &c.x64)))
		return err;
	c.x64.flags |= VGCF_online;
	if (c.x64.gdt_ents > FIRST_RESERVED_GDT_ENTRY)
		return xmig__fail(XMIG_EINVAL, "xen: vCPU %u: %u GDT entries", id,
				  (unsigned int)c.x64.gdt_ents);
	frames = (unsigned int)(c.x64.gdt_ents + 511) / 512;
	for (unsigned int i = 0; i < frames; i++) {
		if ((err = dest_data_mfn(x, c.x64.gdt_frames[i], "a GDT frame", &mfn)))
			return err;
		c.x64.gdt_frames[i] = mfn;
	}
	if (table_level(x, c.x64.ctrlreg[3] >> 12) != 4)
		return xmig__fail(XMIG_EINVAL, "xen: vCPU %u's cr3 (pfn 0x%llx) is not an L4 "
				  "table", id, (unsigned long long)(c.x64.ctrlreg[3] >> 12));
	if ((err = dest_mfn(x, c.x64.ctrlreg[3] >> 12, "cr3", &mfn)))
		return err;
	c.x64.ctrlreg[3] = mfn << 12;
	if (c.x64.ctrlreg[1] & 1) {
		if (table_level(x, c.x64.ctrlreg[1] >> 12) != 4)
			return xmig__fail(XMIG_EINVAL, "xen: vCPU %u's user page table is not an "
					  "L4 table", id);
		if ((err = dest_mfn(x, c.x64.ctrlreg[1] >> 12, "the user cr3", &mfn)))
			return err;
		c.x64.ctrlreg[1] = mfn << 12;
	} else {
		c.x64.ctrlreg[1] = 0;
	}
	if (xc_vcpu_setcontext(x->xch, x->domid, id, &c) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: setting vCPU %u's context (Xen "
					"validates its page tables here)", x->domid, id);
	if (h.ext_len) {
		memset(&d, 0, sizeof(d));
		d.cmd = XEN_DOMCTL_set_ext_vcpucontext;
		d.domain = (domid_t)x->domid;
		memcpy(&d.u.ext_vcpucontext, b, h.ext_len);
		d.u.ext_vcpucontext.vcpu = id;
		d.u.ext_vcpucontext.size = h.ext_len;
		if (xc_domctl(x->xch, &d) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU %u extended context",
						x->domid, id);
	}
	b += h.ext_len;
	if (h.xsave_len && (err = set_vcpu_buf(x, id, 0, b, h.xsave_len)))
		return err;
	b += h.xsave_len;
	if (h.msr_len && (err = set_vcpu_buf(x, id, 1, b, h.msr_len)))
		return err;
	return 0;
}

static int pin_tables(struct xmig__xen *x)
{
	const uint8_t *t = x->pv.tables + 8;
	struct mmuext_op op[256];
	unsigned int k = 0;
	static const unsigned int cmd[5] = { 0, MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE,
					     MMUEXT_PIN_L3_TABLE, MMUEXT_PIN_L4_TABLE };

	for (uint32_t i = 0; i <= x->pv.nr_tables; i++) {
		if (i < x->pv.nr_tables && (xmig__le32(t + 16 * (size_t)i + 12) & 1)) {
			uint64_t pfn = xmig__le64(t + 16 * (size_t)i);

			memset(&op[k], 0, sizeof(op[k]));
			op[k].cmd = cmd[xmig__le32(t + 16 * (size_t)i + 8)];
			op[k].arg1.mfn = x->pv.p2m_dest[pfn];
			k++;
		}
		if (k && (k == XMIG__ARRAY_SIZE(op) || i == x->pv.nr_tables)) {
			if (xc_mmuext_op(x->xch, op, k, (domid_t)x->domid) < 0)
				return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: pinning %u page "
							"tables", x->domid, k);
			k = 0;
		}
	}
	return 0;
}

static int rewrite_p2m(struct xmig__xen *x)
{
	uint32_t n = x->pv.nr_leaves;
	uint64_t *mfns = malloc((n ? n : 1) * sizeof(*mfns));
	uint64_t *leaves;
	int err = 0;

	if (!mfns)
		return xmig__fail(XMIG_ENOMEM, "xen: p2m leaves");
	for (uint32_t i = 0; i < n && !err; i++)
		err = dest_data_mfn(x, x->pv.leaf_pfns[i], "a p2m leaf", &mfns[i]);
	if (err || !n) {
		free(mfns);
		return err;
	}
	leaves = map_rw(x, mfns, n);
	free(mfns);
	if (!leaves)
		return XMIG_EBACKEND;
	for (uint64_t p = 0; p < (uint64_t)n * XMIG__PV_ENTRIES; p++)
		leaves[p] = p < x->nr_pages ? x->pv.p2m_dest[p] : XMIG__PV_INVALID;
	xenforeignmemory_unmap(x->fmem, leaves, n);
	return 0;
}

/* Everything has arrived: make the new domain's memory and vCPUs its own. */
static int pv_finish(struct xmig__xen *x)
{
	int err;

	if (!x->have_tsc || !x->pv.have_p2m || !x->pv.have_tables || !x->pv.have_shinfo)
		return xmig__fail(XMIG_EPROTO, "xen: PV state incomplete: TSC %s, "
				  "PV_P2M %s, PV_PAGETABLES %s, SHARED_INFO %s",
				  x->have_tsc ? "yes" : "missing", x->pv.have_p2m ? "yes" : "missing",
				  x->pv.have_tables ? "yes" : "missing",
				  x->pv.have_shinfo ? "yes" : "missing");
	if ((err = xmig__xen_ports_connect(x)) || (err = localise_tables(x)) ||
	    (err = fill_shared_info(x)))
		return err;
	for (uint32_t id = 0; id < x->nr_vcpus; id++)
		if ((err = set_vcpu(x, id)))
			return err;
	if ((err = pin_tables(x)) || (err = rewrite_p2m(x)))
		return err;
	x->pv.finished = 1;
	return 0;
}

static int load_p2m(struct xmig__xen *x, const uint8_t *body, size_t len)
{
	uint32_t n;
	char why[160];

	if (xmig__xen_list_check(body, len, 8, &n, why, sizeof(why)))
		return pv_fail_why(XMIG_EINVAL, "PV_P2M blob", why);
	if ((uint64_t)n != XMIG__DIV_ROUND_UP(x->nr_pages, XMIG__PV_ENTRIES))
		return xmig__fail(XMIG_EINVAL, "xen: PV_P2M blob: %u leaves for %llu frames", n,
				  (unsigned long long)x->nr_pages);
	x->pv.leaf_pfns = malloc((n ? n : 1) * sizeof(uint64_t));
	if (!x->pv.leaf_pfns)
		return xmig__fail(XMIG_ENOMEM, "xen: PV_P2M blob");
	for (uint32_t i = 0; i < n; i++) {
		x->pv.leaf_pfns[i] = xmig__le64(body + 8 + 8 * (size_t)i);
		if (x->pv.leaf_pfns[i] >= x->nr_pages)
			return xmig__fail(XMIG_EINVAL, "xen: PV_P2M blob: leaf %u at pfn 0x%llx, "
					  "beyond the guest", i,
					  (unsigned long long)x->pv.leaf_pfns[i]);
	}
	x->pv.nr_leaves = n;
	x->pv.have_p2m = 1;
	return 0;
}

static int load_tables(struct xmig__xen *x, const uint8_t *body, size_t len)
{
	char why[200];

	if (xmig__pv_tables_check(body, len, x->nr_pages, &x->pv.nr_tables, why, sizeof(why)))
		return pv_fail_why(XMIG_EINVAL, "PV_PAGETABLES blob", why);
	x->pv.tables = malloc(len);
	if (!x->pv.tables)
		return xmig__fail(XMIG_ENOMEM, "xen: PV_PAGETABLES blob of %zu bytes", len);
	memcpy(x->pv.tables, body, len);
	x->pv.have_tables = 1;
	return 0;
}

static int load_vcpu(struct xmig__xen *x, const uint8_t *body, size_t len)
{
	struct xmig__pv_vcpu_hdr h;
	char why[200];

	if (xmig__pv_vcpu_check(body, len, PV_BASIC_SIZE, PV_EXT_MAX, &h, why, sizeof(why)))
		return pv_fail_why(XMIG_EINVAL, "PV_VCPU blob", why);
	if (h.vcpu != x->pv.nr_vcpu_seen || h.vcpu >= x->nr_vcpus)
		return xmig__fail(XMIG_EINVAL, "xen: PV_VCPU blob for vCPU %u; expected vCPU %u of "
				  "%u", h.vcpu, x->pv.nr_vcpu_seen, x->nr_vcpus);
	x->pv.vcpu[h.vcpu] = malloc(len);
	if (!x->pv.vcpu[h.vcpu])
		return xmig__fail(XMIG_ENOMEM, "xen: PV_VCPU blob");
	memcpy(x->pv.vcpu[h.vcpu], body, len);
	x->pv.nr_vcpu_seen++;
	return 0;
}

static int pv_load(struct xmig__xen *x, uint32_t type, const void *body, size_t len)
{
	int rc;

	/* the vCPUs come last; restore_complete then finishes the restore */
	if (x->pv.finished || (x->pv.nr_vcpu_seen && type != XMIG_XEN_STATE_PV_VCPU))
		return xmig__fail(XMIG_EINVAL, "xen: state blob %u after the vCPUs", type);
	rc = xmig__xen_load_common(x, type, body, len);
	if (rc != 1)
		return rc;
	switch (type) {
	case XMIG_XEN_STATE_PV_P2M:
		if (x->pv.have_p2m)
			return xmig__fail(XMIG_EINVAL, "xen: second PV_P2M blob");
		return load_p2m(x, body, len);
	case XMIG_XEN_STATE_PV_PAGETABLES:
		if (x->pv.have_tables)
			return xmig__fail(XMIG_EINVAL, "xen: second PV_PAGETABLES blob");
		return load_tables(x, body, len);
	case XMIG_XEN_STATE_SHARED_INFO:
		if (x->pv.have_shinfo)
			return xmig__fail(XMIG_EINVAL, "xen: second SHARED_INFO blob");
		if (len != 4096)
			return xmig__fail(XMIG_EINVAL, "xen: SHARED_INFO blob of %zu bytes", len);
		memcpy(x->pv.shinfo_src, body, 4096);
		x->pv.have_shinfo = 1;
		return 0;
	case XMIG_XEN_STATE_PV_VCPU:
		return load_vcpu(x, body, len);
	default:
		return xmig__fail(XMIG_EINVAL, "xen: unknown state blob type %u for a PV guest",
				  type);
	}
}

static int pv_complete(struct xmig__xen *x)
{
	if (x->pv.finished)
		return 0;
	if (!x->have_domain || x->pv.nr_vcpu_seen != x->nr_vcpus)
		return xmig__fail(XMIG_EPROTO, "xen: PV state incomplete: DOMAIN %s, vCPUs %u of %u",
				  x->have_domain ? "yes" : "missing", x->pv.nr_vcpu_seen,
				  x->nr_vcpus);
	return pv_finish(x);
}

const struct xmig__xen_type xmig__xen_type_pv = {
	.name = "pv",
	.guest_kind = XMIG_GUEST_XEN_PV,
	.save = pv_save,
	.load = pv_load,
	.complete = pv_complete,
};

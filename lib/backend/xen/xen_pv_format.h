/* SPDX-License-Identifier: MIT */
/*
 * The Xen-independent part of PV migration (x86-64 PV guests), unit-tested
 * in tests/check_xen_format.c without Xen:
 *   - the machine-to-guest frame lookup a source builds from the guest's
 *     p2m at pause (mfn -> pfn), refusing a p2m that names a frame twice;
 *   - page-table normalisation on the source (machine frames -> guest
 *     frames, Xen's own L4 slots cleared) and localisation on the
 *     destination (guest frames -> the new machine frames), the latter
 *     checking every entry because the stream is untrusted;
 *   - the p2m leaves' normal form (entry i -> i where the guest has frame i);
 *   - the framing of the PV state blobs (layouts in xmig/backend/xen.h).
 * Numbers are Xen's stable x86-64 PV ABI; xen_pv.c checks them against
 * the real headers at compile time.
 */
#ifndef XMIG_XEN_PV_FORMAT_H
#define XMIG_XEN_PV_FORMAT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xen_format.h"

#define XMIG__PV_PTE_PRESENT 0x001ull
#define XMIG__PV_PTE_PSE 0x080ull
#define XMIG__PV_PTE_FRAME 0x000ffffffffff000ull /* bits 12..51 */
#define XMIG__PV_ENTRIES 512u
#define XMIG__PV_INVALID (~0ull)
/* Frames above this are not machine frames (p2m flag bits, INVALID). */
#define XMIG__PV_MAX_FRAME ((1ull << 40) - 1)
/* L4 slots Xen owns in every 64-bit PV top-level table (256..271). */
#define XMIG__PV_L4_XEN_FIRST 256u
#define XMIG__PV_L4_XEN_LAST 271u

/* XEN_DOMCTL_PFINFO_LPINTAB's nibble (the others are in xen_format.h). */
#define XMIG__PV_PFINFO_PINNED 0x8u

/* Per-frame type kept by a source at pause (xmig__xen.pv.ptype). */
#define XMIG__PV_T_LEVEL 0x07u  /* 1..4: a page table of that level */
#define XMIG__PV_T_PINNED 0x08u
#define XMIG__PV_T_P2M 0x10u    /* a leaf of the guest's p2m */

static inline uint64_t xmig__pv_pte_frame(uint64_t pte)
{
	return (pte & XMIG__PV_PTE_FRAME) >> 12;
}

static inline uint64_t xmig__pv_pte_merge(uint64_t pte, uint64_t frame)
{
	return (pte & ~XMIG__PV_PTE_FRAME) | ((frame << 12) & XMIG__PV_PTE_FRAME);
}

/* Xen's getpageframeinfo3 answer -> 0 (plain), level|PINNED, or 0xff (no frame). */
static inline unsigned int xmig__pv_pfinfo_type(uint64_t info)
{
	unsigned int t = xmig__xen_tnib(info);

	if (xmig__xen_tnib_absent(t))
		return 0xff;
	if (t == XMIG__XEN_TNIB_XALLOC)
		return 0;
	if ((t & XMIG__PV_T_LEVEL) > 4)
		return 0xff;
	return t;
}

/* mfn -> pfn, from the guest's p2m: pairs sorted by mfn. */
struct xmig__pv_m2p {
	uint64_t *pair; /* 2n: mfn, pfn */
	uint64_t n;
};

static inline int xmig__pv_pair_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Build the lookup from p2m[0..nr) (entries that are not machine frames are
 * skipped; so are pfns `skip` has set, if given). Fails, naming both pfns,
 * if two pfns claim one machine frame: a p2m the guest broke, which
 * normalisation cannot express. The caller frees m->pair.
 */
static inline int xmig__pv_m2p_build(struct xmig__pv_m2p *m, const uint64_t *p2m, uint64_t nr,
				     const uint64_t *skip, char *why, size_t why_len)
{
	uint64_t k = 0;

	m->pair = malloc(16 * (nr ? nr : 1));
	m->n = 0;
	if (!m->pair) {
		snprintf(why, why_len, "no memory for a %llu-frame lookup", (unsigned long long)nr);
		return -1;
	}
	for (uint64_t i = 0; i < nr; i++) {
		if (p2m[i] > XMIG__PV_MAX_FRAME || (skip && (skip[i / 64] >> (i % 64) & 1)))
			continue;
		m->pair[2 * k] = p2m[i];
		m->pair[2 * k + 1] = i;
		k++;
	}
	qsort(m->pair, k, 16, xmig__pv_pair_cmp);
	for (uint64_t i = 1; i < k; i++)
		if (m->pair[2 * i] == m->pair[2 * i - 2]) {
			snprintf(why, why_len, "the guest's p2m maps machine frame 0x%llx at pfns "
				 "0x%llx and 0x%llx", (unsigned long long)m->pair[2 * i],
				 (unsigned long long)m->pair[2 * i - 1],
				 (unsigned long long)m->pair[2 * i + 1]);
			free(m->pair);
			m->pair = NULL;
			return -1;
		}
	m->n = k;
	return 0;
}

/* pfn of machine frame `mfn`, or XMIG__PV_INVALID if the guest has no such frame. */
static inline uint64_t xmig__pv_m2p_get(const struct xmig__pv_m2p *m, uint64_t mfn)
{
	uint64_t lo = 0, hi = m->n;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (m->pair[2 * mid] < mfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n && m->pair[2 * lo] == mfn ? m->pair[2 * lo + 1] : XMIG__PV_INVALID;
}

static inline int xmig__pv_xen_slot(unsigned int level, unsigned int i)
{
	return level == 4 && i >= XMIG__PV_L4_XEN_FIRST && i <= XMIG__PV_L4_XEN_LAST;
}

/*
 * Source: page table `src` of `level` (1..4) -> `dst` with guest frames.
 * Xen's L4 slots become 0 (Xen fills them on the destination). Fails on a
 * superpage entry or a frame that is not the guest's.
 */
static inline int xmig__pv_normalise_pt(const uint64_t *src, uint64_t *dst, unsigned int level,
					const struct xmig__pv_m2p *m, char *why, size_t why_len)
{
	for (unsigned int i = 0; i < XMIG__PV_ENTRIES; i++) {
		uint64_t pte = src[i], pfn;

		if (xmig__pv_xen_slot(level, i)) {
			dst[i] = 0;
			continue;
		}
		if (!(pte & XMIG__PV_PTE_PRESENT)) {
			dst[i] = pte;
			continue;
		}
		if (level > 1 && (pte & XMIG__PV_PTE_PSE)) {
			snprintf(why, why_len, "L%u[%u] maps a superpage (0x%016llx)", level, i,
				 (unsigned long long)pte);
			return -1;
		}
		pfn = xmig__pv_m2p_get(m, xmig__pv_pte_frame(pte));
		if (pfn == XMIG__PV_INVALID) {
			snprintf(why, why_len, "L%u[%u] maps machine frame 0x%llx, which is not "
				 "the guest's", level, i,
				 (unsigned long long)xmig__pv_pte_frame(pte));
			return -1;
		}
		dst[i] = xmig__pv_pte_merge(pte, pfn);
	}
	return 0;
}

/*
 * Destination: normalised page table `src` of `level` -> `dst` with this
 * host's frames (p2m[pfn], XMIG__PV_INVALID where not populated). Every
 * present entry must name a frame the guest has here, Xen's L4 slots must
 * be empty and no entry may map a superpage: a table that breaks one of
 * these is refused, naming the entry.
 */
static inline int xmig__pv_localise_pt(const uint64_t *src, uint64_t *dst, unsigned int level,
				       const uint64_t *p2m, uint64_t nr, char *why,
				       size_t why_len)
{
	for (unsigned int i = 0; i < XMIG__PV_ENTRIES; i++) {
		uint64_t pte = src[i], pfn;

		if (!(pte & XMIG__PV_PTE_PRESENT)) {
			dst[i] = pte;
			continue;
		}
		if (xmig__pv_xen_slot(level, i)) {
			snprintf(why, why_len, "L4[%u] is Xen's slot but the stream fills it", i);
			return -1;
		}
		if (level > 1 && (pte & XMIG__PV_PTE_PSE)) {
			snprintf(why, why_len, "L%u[%u] maps a superpage", level, i);
			return -1;
		}
		pfn = xmig__pv_pte_frame(pte);
		if (pfn >= nr || p2m[pfn] > XMIG__PV_MAX_FRAME) {
			snprintf(why, why_len, "L%u[%u] maps pfn 0x%llx, which the guest does not "
				 "have", level, i, (unsigned long long)pfn);
			return -1;
		}
		dst[i] = xmig__pv_pte_merge(pte, p2m[pfn]);
	}
	return 0;
}

/* Source: a p2m leaf in normal form (each entry the pfn of its frame, or INVALID). */
static inline void xmig__pv_normalise_p2m(const uint64_t *src, uint64_t *dst,
					  const struct xmig__pv_m2p *m)
{
	for (unsigned int i = 0; i < XMIG__PV_ENTRIES; i++)
		dst[i] = src[i] > XMIG__PV_MAX_FRAME ? XMIG__PV_INVALID
						     : xmig__pv_m2p_get(m, src[i]);
}

/*
 * PV_PAGETABLES body: u32 count, u32 reserved, count x {u64 pfn, u32 level,
 * u32 flags}: pfns strictly increasing and below `nr`, level 1..4, flags
 * only bit 0 (pinned).
 */
static inline int xmig__pv_tables_check(const uint8_t *body, size_t len, uint64_t nr,
					uint32_t *count, char *why, size_t why_len)
{
	uint32_t n, rsv;
	uint64_t prev = 0;

	if (len < 8) {
		snprintf(why, why_len, "%zu bytes: no count", len);
		return -1;
	}
	memcpy(&n, body, 4);
	memcpy(&rsv, body + 4, 4);
	if (rsv || (uint64_t)n * 16 != len - 8) {
		snprintf(why, why_len, "%u tables in %zu bytes (reserved %u)", n, len - 8, rsv);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t pfn;
		uint32_t level, flags;

		memcpy(&pfn, body + 8 + 16 * (size_t)i, 8);
		memcpy(&level, body + 16 + 16 * (size_t)i, 4);
		memcpy(&flags, body + 20 + 16 * (size_t)i, 4);
		if (pfn >= nr || (i && pfn <= prev) || level < 1 || level > 4 || (flags & ~1u)) {
			snprintf(why, why_len, "table %u: pfn 0x%llx (previous 0x%llx, guest size "
				 "0x%llx), level %u, flags 0x%x", i, (unsigned long long)pfn,
				 (unsigned long long)prev, (unsigned long long)nr, level, flags);
			return -1;
		}
		prev = pfn;
	}
	*count = n;
	return 0;
}

/*
 * PV_VCPU body: the header below, then basic, extended, xsave and MSR
 * state, back to back. An offline vCPU has no state (all lengths 0).
 */
struct xmig__pv_vcpu_hdr {
	uint32_t vcpu;
	uint32_t flags;     /* bit 0: online */
	uint32_t basic_len; /* vcpu_guest_context_x86_64_t */
	uint32_t ext_len;   /* struct xen_domctl_ext_vcpucontext, its `size` bytes */
	uint32_t xsave_len; /* XEN_DOMCTL_getvcpuextstate buffer */
	uint32_t msr_len;   /* n x xen_domctl_vcpu_msr_t (16 bytes) */
};

static inline int xmig__pv_vcpu_check(const uint8_t *body, size_t len, size_t basic_size,
				      size_t ext_max, struct xmig__pv_vcpu_hdr *h, char *why,
				      size_t why_len)
{
	uint64_t total;

	if (len < sizeof(*h)) {
		snprintf(why, why_len, "%zu bytes: shorter than its header", len);
		return -1;
	}
	memcpy(h, body, sizeof(*h));
	total = (uint64_t)sizeof(*h) + h->basic_len + h->ext_len + h->xsave_len + h->msr_len;
	if (total != len || (h->flags & ~1u)) {
		snprintf(why, why_len, "vCPU %u: parts of %u+%u+%u+%u bytes in %zu (flags 0x%x)",
			 h->vcpu, h->basic_len, h->ext_len, h->xsave_len, h->msr_len,
			 len - sizeof(*h), h->flags);
		return -1;
	}
	if (!(h->flags & 1)) {
		if (total != sizeof(*h)) {
			snprintf(why, why_len, "vCPU %u is offline but has state", h->vcpu);
			return -1;
		}
		return 0;
	}
	if (h->basic_len != basic_size || h->ext_len > ext_max ||
	    (h->ext_len && h->ext_len < 8) || (h->xsave_len && h->xsave_len < 16) ||
	    h->msr_len % 16) {
		snprintf(why, why_len, "vCPU %u: basic %u bytes (expected %zu), extended %u (at "
			 "most %zu), xsave %u, MSRs %u", h->vcpu, h->basic_len, basic_size,
			 h->ext_len, ext_max, h->xsave_len, h->msr_len);
		return -1;
	}
	return 0;
}

#endif

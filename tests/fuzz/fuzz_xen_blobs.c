/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the Xen backend's parsers of what comes off the wire
 * (xen_format.h, xen_pv_format.h), the same code the backend runs before a
 * blob reaches Xen. The first byte picks the parser; the rest is its input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/xen/xen_format.h"
#include "backend/xen/xen_pv_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The PV vCPU part sizes: fixed here; the checks do not depend on them. */
#define FUZZ_PV_BASIC 5168u
#define FUZZ_PV_EXT 128u

static void fuzz_blob(const uint8_t *p, size_t len)
{
	const void *body;
	size_t blen;
	uint32_t count;
	uint64_t frames, *ranges;
	char why[256];

	if (len < 1)
		return;
	if (xmig__xen_blob_check(p + 1, len - 1, p[0], &body, &blen, why, sizeof(why)))
		return;
	if (xmig__xen_list_check(body, blen, 16, &count, why, sizeof(why)))
		return;
	/* The ranges as the backend reads them: u64 pairs, suitably aligned. */
	ranges = malloc(blen);
	if (!ranges)
		abort();
	memcpy(ranges, (const uint8_t *)body + 8, blen - 8);
	(void)xmig__xen_ranges_check(ranges, count, 1u << 20, &frames, why, sizeof(why));
	free(ranges);
}

static void fuzz_localise(const uint8_t *p, size_t len)
{
	uint64_t src[XMIG__PV_ENTRIES], dst[XMIG__PV_ENTRIES], *p2m;
	uint64_t nr;
	struct xmig__pv_m2p m;
	char why[256];

	if (len < 1 + sizeof(src))
		return;
	memcpy(src, p + 1, sizeof(src));
	nr = (len - 1 - sizeof(src)) / 8;
	p2m = malloc(8 * (nr ? nr : 1));
	if (!p2m)
		abort();
	memcpy(p2m, p + 1 + sizeof(src), 8 * nr);
	(void)xmig__pv_localise_pt(src, dst, 1 + p[0] % 4, p2m, nr, why, sizeof(why));
	if (xmig__pv_m2p_build(&m, p2m, nr, NULL, why, sizeof(why)) == 0) {
		for (uint64_t i = 0; i < nr; i++)
			(void)xmig__pv_m2p_get(&m, p2m[i]);
		(void)xmig__pv_normalise_pt(src, dst, 1 + p[0] % 4, &m, why, sizeof(why));
		free(m.pair);
	}
	free(p2m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xmig__hvm_ctx_summary sum;
	struct xmig__pv_vcpu_hdr vh;
	uint32_t a, b;
	char why[256];

	if (size < 1)
		return 0;
	switch (data[0] % 6) {
	case 0:
		(void)xmig__xen_hvm_ctx_check(data + 1, size - 1, &sum, why, sizeof(why));
		break;
	case 1:
		fuzz_blob(data + 1, size - 1);
		break;
	case 2:
		(void)xmig__xen_cpu_policy_check(data + 1, size - 1, &a, &b, why, sizeof(why));
		break;
	case 3:
		(void)xmig__pv_tables_check(data + 1, size - 1, 1u << 20, &a, why, sizeof(why));
		break;
	case 4:
		(void)xmig__pv_vcpu_check(data + 1, size - 1, FUZZ_PV_BASIC, FUZZ_PV_EXT, &vh, why,
					  sizeof(why));
		break;
	case 5:
		fuzz_localise(data + 1, size - 1);
		break;
	}
	return 0;
}

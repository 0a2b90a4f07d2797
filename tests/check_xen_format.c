/* SPDX-License-Identifier: MIT */
/*
 * The Xen-independent part of the xen backend (lib/backend/xen/xen_format.h):
 * state blob framing, the HVM parameter list, HVM context walking,
 * populated-frame ranges and xenstore paths. Runs without Xen.
 */
#include <stdint.h>
#include <string.h>

#include "backend/xen/xen_format.h"
#include "backend/xen/xen_pv_format.h"
#include "testutil.h"

/* Append one HVM save record (descriptor + body) at *off. */
static void rec(uint8_t *buf, size_t *off, uint16_t type, uint16_t inst, const void *body,
		uint32_t len)
{
	memcpy(buf + *off, &type, 2);
	memcpy(buf + *off + 2, &inst, 2);
	memcpy(buf + *off + 4, &len, 4);
	if (len)
		memcpy(buf + *off + 8, body, len);
	*off += 8 + len;
}

static size_t good_ctx(uint8_t *buf, unsigned int cpus)
{
	uint8_t hdr[24] = { 0 }, cpu[64] = { 0 };
	uint32_t magic = XMIG__HVM_FILE_MAGIC, version = 1, khz = 2600000;
	size_t off = 0;

	memcpy(hdr, &magic, 4);
	memcpy(hdr + 4, &version, 4);
	memcpy(hdr + 20, &khz, 4);
	rec(buf, &off, XMIG__HVM_SAVE_HEADER, 0, hdr, sizeof(hdr));
	for (unsigned int i = 0; i < cpus; i++)
		rec(buf, &off, XMIG__HVM_SAVE_CPU, (uint16_t)i, cpu, sizeof(cpu));
	rec(buf, &off, 3 /* PIC */, 0, cpu, 16);
	rec(buf, &off, XMIG__HVM_SAVE_END, 0, NULL, 0);
	return off;
}

START_TEST(test_hvm_ctx_good)
{
	uint8_t buf[1024];
	struct xmig__hvm_ctx_summary s;
	char why[160] = "";
	size_t len = good_ctx(buf, 3);

	ck_assert_int_eq(xmig__xen_hvm_ctx_check(buf, len, &s, why, sizeof(why)), 0);
	ck_assert_uint_eq(s.cpus, 3);
	ck_assert_uint_eq(s.max_cpu, 3);
	ck_assert_uint_eq(s.records, 6);
	ck_assert_uint_eq(s.gtsc_khz, 2600000);
}
END_TEST

START_TEST(test_hvm_ctx_bad)
{
	uint8_t buf[1024], bad[1024];
	struct xmig__hvm_ctx_summary s;
	char why[160];
	size_t len = good_ctx(buf, 1);
	uint32_t big = 4096;

	/* every truncation fails */
	for (size_t cut = 0; cut < len; cut++) {
		why[0] = '\0';
		ck_assert_int_eq(xmig__xen_hvm_ctx_check(buf, cut, &s, why, sizeof(why)), -1);
		ck_assert(why[0] != '\0');
	}
	/* trailing bytes after END */
	memcpy(bad, buf, len);
	memset(bad + len, 0, 8);
	ck_assert_int_eq(xmig__xen_hvm_ctx_check(bad, len + 8, &s, why, sizeof(why)), -1);
	ck_assert(strstr(why, "after END"));
	/* bad magic */
	memcpy(bad, buf, len);
	bad[8] ^= 1;
	ck_assert_int_eq(xmig__xen_hvm_ctx_check(bad, len, &s, why, sizeof(why)), -1);
	ck_assert(strstr(why, "magic"));
	/* a record length beyond the blob */
	memcpy(bad, buf, len);
	memcpy(bad + 8 + 24 + 4, &big, 4);
	ck_assert_int_eq(xmig__xen_hvm_ctx_check(bad, len, &s, why, sizeof(why)), -1);
	ck_assert(strstr(why, "beyond"));
	/* not starting with HEADER */
	ck_assert_int_eq(xmig__xen_hvm_ctx_check(buf + 8 + 24, len - 32, &s, why, sizeof(why)),
			 -1);
	ck_assert(strstr(why, "HEADER"));
}
END_TEST

START_TEST(test_params)
{
	/* what libxenguest's HVM save sends, and nothing that is the toolstack's */
	ck_assert_uint_eq(XMIG__XEN_NR_HVM_PARAMS, 16);
	ck_assert(xmig__xen_hvm_param_allowed(XMIG__HVMP_STORE_PFN));
	ck_assert(xmig__xen_hvm_param_allowed(XMIG__HVMP_CONSOLE_PFN));
	ck_assert(xmig__xen_hvm_param_allowed(XMIG__HVMP_IDENT_PT));
	ck_assert(!xmig__xen_hvm_param_allowed(XMIG__HVMP_STORE_EVTCHN));
	ck_assert(!xmig__xen_hvm_param_allowed(XMIG__HVMP_CONSOLE_EVTCHN));
	ck_assert(!xmig__xen_hvm_param_allowed(XMIG__HVMP_CALLBACK_IRQ));
	ck_assert(!xmig__xen_hvm_param_allowed(XMIG__HVMP_PAE_ENABLED));
	for (size_t i = 0; i < XMIG__XEN_NR_HVM_PARAMS; i++)
		for (size_t j = i + 1; j < XMIG__XEN_NR_HVM_PARAMS; j++)
			ck_assert_uint_ne(xmig__xen_hvm_params[i], xmig__xen_hvm_params[j]);
}
END_TEST

START_TEST(test_blob_framing)
{
	uint8_t buf[64];
	struct xmig_xen_state_hdr h;
	const void *body;
	size_t blen;
	char why[200];

	xmig__xen_blob_hdr(&h, XMIG_XEN_STATE_TSC, 24);
	memcpy(buf, &h, sizeof(h));
	ck_assert_int_eq(xmig__xen_blob_check(buf, 16 + 24, XMIG_XEN_STATE_TSC, &body, &blen,
					      why, sizeof(why)), 0);
	ck_assert_uint_eq(blen, 24);
	ck_assert_ptr_eq(body, buf + 16);
	/* wrong type, wrong size, short, bad version */
	ck_assert_int_eq(xmig__xen_blob_check(buf, 40, XMIG_XEN_STATE_DOMAIN, &body, &blen, why,
					      sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_blob_check(buf, 41, XMIG_XEN_STATE_TSC, &body, &blen, why,
					      sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_blob_check(buf, 8, XMIG_XEN_STATE_TSC, &body, &blen, why,
					      sizeof(why)), -1);
	h.version = 2;
	memcpy(buf, &h, sizeof(h));
	ck_assert_int_eq(xmig__xen_blob_check(buf, 40, XMIG_XEN_STATE_TSC, &body, &blen, why,
					      sizeof(why)), -1);
	/* the public structs have the documented sizes */
	ck_assert_uint_eq(sizeof(struct xmig_xen_state_hdr), 16);
	ck_assert_uint_eq(sizeof(struct xmig_xen_domain_state), 56);
	ck_assert_uint_eq(sizeof(struct xmig_xen_tsc_state), 24);
}
END_TEST

START_TEST(test_list)
{
	uint8_t b[8 + 32] = { 0 };
	uint32_t n = 2, got;
	char why[160];

	memcpy(b, &n, 4);
	ck_assert_int_eq(xmig__xen_list_check(b, sizeof(b), 16, &got, why, sizeof(why)), 0);
	ck_assert_uint_eq(got, 2);
	ck_assert_int_eq(xmig__xen_list_check(b, sizeof(b) - 1, 16, &got, why, sizeof(why)), -1);
	n = 0x40000000; /* count * size overflows 32 bits */
	memcpy(b, &n, 4);
	ck_assert_int_eq(xmig__xen_list_check(b, sizeof(b), 16, &got, why, sizeof(why)), -1);
	n = 2;
	memcpy(b, &n, 4);
	b[4] = 1; /* reserved */
	ck_assert_int_eq(xmig__xen_list_check(b, sizeof(b), 16, &got, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_list_check(b, 4, 16, &got, why, sizeof(why)), -1);
}
END_TEST

START_TEST(test_ranges)
{
	uint64_t bm[4] = { 0 }, r[64], frames;
	char why[200];
	uint32_t n;

	ck_assert_uint_eq(xmig__xen_bitmap_ranges(bm, 256, NULL), 0);
	/* 0-2, 63-129 (across words and a full word), 255 */
	bm[0] = 0x7ull | (1ull << 63);
	bm[1] = ~0ull;
	bm[2] = 0x3;
	bm[3] = 1ull << 63;
	n = xmig__xen_bitmap_ranges(bm, 256, NULL);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(xmig__xen_bitmap_ranges(bm, 256, r), 3);
	ck_assert_uint_eq(r[0], 0);
	ck_assert_uint_eq(r[1], 3);
	ck_assert_uint_eq(r[2], 63);
	ck_assert_uint_eq(r[3], 67);
	ck_assert_uint_eq(r[4], 255);
	ck_assert_uint_eq(r[5], 1);
	ck_assert_int_eq(xmig__xen_ranges_check(r, n, 256, &frames, why, sizeof(why)), 0);
	ck_assert_uint_eq(frames, 71);
	/* bits beyond nbits are not reported */
	ck_assert_uint_eq(xmig__xen_bitmap_ranges(bm, 255, r), 2);
	/* overlap, empty, beyond the guest, overflow */
	uint64_t bad1[] = { 0, 10, 5, 1 };
	uint64_t bad2[] = { 0, 0 };
	uint64_t bad3[] = { 250, 10 };
	uint64_t bad4[] = { 10, UINT64_MAX - 5 };

	ck_assert_int_eq(xmig__xen_ranges_check(bad1, 2, 256, &frames, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_ranges_check(bad2, 1, 256, &frames, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_ranges_check(bad3, 1, 256, &frames, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_ranges_check(bad4, 1, 256, &frames, why, sizeof(why)), -1);
}
END_TEST

START_TEST(test_paths)
{
	char p[64];

	ck_assert_int_eq(xmig__xen_dom_path(p, sizeof(p), 7, "control/shutdown"), 0);
	ck_assert_str_eq(p, "/local/domain/7/control/shutdown");
	ck_assert_int_eq(xmig__xen_dom_path(p, sizeof(p), 32752, NULL), 0);
	ck_assert_str_eq(p, "/local/domain/32752");
	volatile size_t small = 20; /* opaque to the compiler's truncation check */

	ck_assert_int_eq(xmig__xen_dom_path(p, small, 7, "control/shutdown"), -1);
	ck_assert(xmig__xen_name_ok("xg"));
	ck_assert(xmig__xen_name_ok("guest-1.example"));
	ck_assert(!xmig__xen_name_ok(""));
	ck_assert(!xmig__xen_name_ok("a/b"));
	ck_assert(!xmig__xen_name_ok("a b"));
}
END_TEST

/* Claims: what a dead process left noted in xenstore is read back exactly,
 * and anything else is refused (the cleanup acts only on a claim it parsed). */
START_TEST(test_claims)
{
	struct xmig__xen_claim c, r;
	char buf[XMIG__XEN_CLAIM_MAX + 1];
	int n;

	memset(&c, 0, sizeof(c));
	c.pid = 4242;
	c.start = 1234567ull;
	snprintf(c.uuid, sizeof(c.uuid), "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0");
	snprintf(c.state, sizeof(c.state), "incoming");
	n = xmig__xen_claim_format(&c, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(buf, "xmig-claim 1 pid=4242 start=1234567 "
			      "uuid=0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0 state=incoming");
	ck_assert_int_eq(xmig__xen_claim_parse(buf, (size_t)n, &r), 0);
	ck_assert_int_eq(r.pid, 4242);
	ck_assert_uint_eq(r.start, 1234567ull);
	ck_assert_str_eq(r.uuid, c.uuid);
	ck_assert_str_eq(r.state, "incoming");
	/* xenstore values are not NUL-terminated: the length rules */
	ck_assert_int_eq(xmig__xen_claim_parse("xmig-claim 1 pid=1 start=0 uuid=a state=live",
					       44, &r), 0);
	ck_assert_str_eq(r.state, "live");
	ck_assert_int_ne(xmig__xen_claim_parse(buf, (size_t)n - 1, &r), 0); /* "incomin" */
	{
		static const char *const bad[] = {
			"",
			"xmig-claim 2 pid=1 start=0 uuid=a state=live",      /* version */
			"xmig-claim 1 pid=1 start=0 uuid=a",                 /* no state */
			"xmig-claim 1 pid=1 start=0 uuid=a state=stopped",   /* unknown state */
			"xmig-claim 1 pid=0 start=0 uuid=a state=live",      /* pid 0 */
			"xmig-claim 1 pid=-1 start=0 uuid=a state=live",
			"xmig-claim 1 pid=1 pid=2 start=0 uuid=a state=live", /* twice */
			"xmig-claim 1 pid=1 start=0 uuid=a/b state=live",   /* a path */
			"xmig-claim 1 pid=1 start=0 uuid=A state=live",     /* not lower case */
			"xmig-claim 1 pid=1 start=99999999999999999999999 uuid=a state=live",
			"xmig-claim 1 pid=1 start=0 uuid=a state=live extra=1",
			"xmig-claim 1 pid=1 start=0 uuid=a state=live ",     /* empty field */
			"xmig-claim 1 pid=1x start=0 uuid=a state=live",
			"xmig-claim  1 pid=1 start=0 uuid=a state=live",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ck_assert_msg(xmig__xen_claim_parse(bad[i], strlen(bad[i]), &r) != 0,
				      "accepted '%s'", bad[i]);
	}
	ck_assert_int_ne(xmig__xen_claim_parse("xmig-claim 1\0pid=1", 18, &r), 0);
	memset(buf, 'a', sizeof(buf));
	ck_assert_int_ne(xmig__xen_claim_parse(buf, sizeof(buf), &r), 0); /* too long */
	/* a format that does not fit is refused, not cut */
	ck_assert_int_eq(xmig__xen_claim_format(&c, buf, 40), -1);
}
END_TEST

/* A CPU_POLICY body of nl leaves and nm MSRs (contents: arbitrary numbers). */
static size_t policy_body(uint8_t *buf, uint32_t nl, uint32_t nm)
{
	size_t off = 8;

	memcpy(buf, &nl, 4);
	memcpy(buf + 4, &nm, 4);
	for (uint32_t i = 0; i < nl; i++, off += 24)
		for (uint32_t w = 0; w < 6; w++) {
			uint32_t v = i * 16 + w;

			memcpy(buf + off + 4 * w, &v, 4);
		}
	for (uint32_t i = 0; i < nm; i++, off += 16) {
		uint32_t idx = 0xc0000080u + i, flags = 0;
		uint64_t val = 0x123456789abcdefull ^ i;

		memcpy(buf + off, &idx, 4);
		memcpy(buf + off + 4, &flags, 4);
		memcpy(buf + off + 8, &val, 8);
	}
	return off;
}

START_TEST(test_cpu_policy)
{
	static uint8_t buf[8 + 40 * 24 + 8 * 16 + 64];
	uint32_t nl = 0, nm = 0, big = XMIG__XEN_POLICY_MAX + 1, one = 1;
	char why[200];
	size_t len = policy_body(buf, 40, 8);

	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, len, &nl, &nm, why, sizeof(why)), 0);
	ck_assert_uint_eq(nl, 40);
	ck_assert_uint_eq(nm, 8);
	/* empty policy: valid framing */
	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, policy_body(buf, 0, 0), &nl, &nm, why,
						    sizeof(why)), 0);
	ck_assert_uint_eq(nl + nm, 0);
	/* one byte short or long, no counts */
	len = policy_body(buf, 40, 8);
	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, len - 1, &nl, &nm, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, len + 1, &nl, &nm, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, 7, &nl, &nm, why, sizeof(why)), -1);
	/* counts beyond the limit, even when the length would wrap in 32 bits */
	memcpy(buf, &big, 4);
	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, len, &nl, &nm, why, sizeof(why)), -1);
	ck_assert(strstr(why, "more than") != NULL);
	big = 0xffffffffu;
	memcpy(buf + 4, &big, 4);
	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, len, &nl, &nm, why, sizeof(why)), -1);
	/* an MSR with reserved flags set */
	len = policy_body(buf, 40, 8);
	memcpy(buf + 8 + 40 * 24 + 3 * 16 + 4, &one, 4);
	ck_assert_int_eq(xmig__xen_cpu_policy_check(buf, len, &nl, &nm, why, sizeof(why)), -1);
	ck_assert(strstr(why, "flags") != NULL);
}
END_TEST

/* Leaf i of a policy body (as policy_body lays it out). */
static void set_leaf(uint8_t *buf, uint32_t i, uint32_t leaf, uint32_t sub, uint32_t a,
		     uint32_t b, uint32_t c, uint32_t d)
{
	uint32_t v[6] = { leaf, sub, a, b, c, d };

	memcpy(buf + 8 + 24 * i, v, sizeof(v));
}

START_TEST(test_cpu_features_lost)
{
	static uint8_t src[8 + 4 * 24], dst[8 + 4 * 24];
	char why[200] = "";

	policy_body(src, 4, 0);
	set_leaf(src, 0, 0x0, ~0u, 0xd, 1, 2, 3);             /* not a feature word */
	set_leaf(src, 1, 0x1, ~0u, 0x906a3, 0x800, 0xfed83203, 0x078bfbff);
	set_leaf(src, 2, 0x7, 0, 0, 0x219c07ab, 0x4, 0xbc000400);
	set_leaf(src, 3, 0x80000001, ~0u, 0, 0, 0x121, 0x2c100800);
	memcpy(dst, src, sizeof(src));
	ck_assert_int_eq(xmig__xen_cpu_features_lost(src, 4, dst, 4, why, sizeof(why)), 0);
	/* more features, other order, other non-feature words: fine */
	set_leaf(dst, 0, 0x80000001, ~0u, 0, 0, 0x1ff, 0x2c100800);
	set_leaf(dst, 3, 0x0, ~0u, 0x20, 9, 9, 9);
	set_leaf(dst, 1, 0x1, ~0u, 0x1, 0x2, 0xfed83203, 0x078bfbff);
	ck_assert_int_eq(xmig__xen_cpu_features_lost(src, 4, dst, 4, why, sizeof(why)), 0);
	/* one bit of 7.0 ebx gone (say AVX2, bit 5) */
	set_leaf(dst, 2, 0x7, 0, 0, 0x219c07ab & ~0x20u, 0x4, 0xbc000400);
	ck_assert_int_eq(xmig__xen_cpu_features_lost(src, 4, dst, 4, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "leaf 0x7 subleaf 0x0 ebx: bits 0x00000020") != NULL, "%s", why);
	/* the leaf missing altogether */
	set_leaf(dst, 2, 0x7, 1, 0, 0x219c07ab, 0x4, 0xbc000400); /* subleaf 1, not 0 */
	ck_assert_int_eq(xmig__xen_cpu_features_lost(src, 4, dst, 4, why, sizeof(why)), 1);
	ck_assert_int_eq(xmig__xen_cpu_features_lost(src, 4, dst, 0, why, sizeof(why)), 1);
	/* an empty source loses nothing */
	ck_assert_int_eq(xmig__xen_cpu_features_lost(src, 0, dst, 0, why, sizeof(why)), 0);
}
END_TEST

/* PV: mfn -> pfn from a p2m; what is not a machine frame is skipped. */
START_TEST(test_pv_m2p)
{
	uint64_t p2m[6] = { 10, XMIG__PV_INVALID, 12, (1ull << 62) | 3, 11, 7 };
	uint64_t skip[1] = { 1u << 5 }; /* pfn 5: not the guest's frame */
	struct xmig__pv_m2p m;
	char why[200];

	ck_assert_int_eq(xmig__pv_m2p_build(&m, p2m, 6, skip, why, sizeof(why)), 0);
	ck_assert_uint_eq(m.n, 3);
	ck_assert_uint_eq(xmig__pv_m2p_get(&m, 10), 0);
	ck_assert_uint_eq(xmig__pv_m2p_get(&m, 12), 2);
	ck_assert_uint_eq(xmig__pv_m2p_get(&m, 11), 4);
	ck_assert_uint_eq(xmig__pv_m2p_get(&m, 3), XMIG__PV_INVALID);
	ck_assert_uint_eq(xmig__pv_m2p_get(&m, 7), XMIG__PV_INVALID);
	ck_assert_uint_eq(xmig__pv_m2p_get(&m, 13), XMIG__PV_INVALID);
	free(m.pair);
	/* two pfns on one machine frame: refused, both named */
	p2m[4] = 12;
	ck_assert_int_eq(xmig__pv_m2p_build(&m, p2m, 6, skip, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "0xc at pfns 0x2 and 0x4"));
	ck_assert_ptr_null(m.pair);
}
END_TEST

/* A guest of 64 frames on two hosts that gave it different machine frames. */
#define PV_NR 64
static void pv_hosts(uint64_t *src, uint64_t *dst)
{
	for (uint64_t i = 0; i < PV_NR; i++) {
		src[i] = 0x1000 + (i * 37) % PV_NR; /* a permutation */
		dst[i] = 0x9000 + (i * 11) % PV_NR;
	}
	dst[PV_NR - 1] = XMIG__PV_INVALID; /* not populated here */
}

/*
 * Normalise on the source, localise on the destination: every present
 * entry names the same guest frame on both hosts with its flags intact,
 * Xen's L4 slots are cleared, non-present entries pass untouched; and the
 * destination's table normalises back to the same form (what --verify
 * relies on).
 */
START_TEST(test_pv_pt_roundtrip)
{
	static uint64_t src[PV_NR], dst[PV_NR], pt[512], norm[512], loc[512], back[512];
	struct xmig__pv_m2p ms, md;
	char why[200];

	pv_hosts(src, dst);
	ck_assert_int_eq(xmig__pv_m2p_build(&ms, src, PV_NR, NULL, why, sizeof(why)), 0);
	ck_assert_int_eq(xmig__pv_m2p_build(&md, dst, PV_NR, NULL, why, sizeof(why)), 0);
	for (unsigned int level = 1; level <= 4; level++) {
		for (unsigned int i = 0; i < 512; i++) {
			uint64_t pfn = (i * 7) % (PV_NR - 1);

			if (i % 5 == 0)
				pt[i] = 0x5a5a5a5a5a5a5a5aull & ~XMIG__PV_PTE_PRESENT; /* swap entry */
			else
				pt[i] = (1ull << 63) | (src[pfn] << 12) | 0x067;
		}
		if (level == 4)
			for (unsigned int i = XMIG__PV_L4_XEN_FIRST; i <= XMIG__PV_L4_XEN_LAST; i++)
				pt[i] = (0xdead00ull + i) << 12 | 0x063; /* Xen's, not the guest's */
		ck_assert_int_eq(xmig__pv_normalise_pt(pt, norm, level, &ms, why, sizeof(why)), 0);
		ck_assert_int_eq(xmig__pv_localise_pt(norm, loc, level, dst, PV_NR, why,
						      sizeof(why)), 0);
		for (unsigned int i = 0; i < 512; i++) {
			uint64_t pfn = (i * 7) % (PV_NR - 1);

			if (xmig__pv_xen_slot(level, i)) {
				ck_assert_uint_eq(norm[i], 0);
				ck_assert_uint_eq(loc[i], 0);
			} else if (i % 5 == 0) {
				ck_assert_uint_eq(norm[i], pt[i]);
				ck_assert_uint_eq(loc[i], pt[i]);
			} else {
				ck_assert_uint_eq(norm[i], (1ull << 63) | (pfn << 12) | 0x067);
				ck_assert_uint_eq(loc[i], (1ull << 63) | (dst[pfn] << 12) | 0x067);
			}
		}
		ck_assert_int_eq(xmig__pv_normalise_pt(loc, back, level, &md, why, sizeof(why)), 0);
		ck_assert_mem_eq(back, norm, sizeof(norm));
	}
	free(ms.pair);
	free(md.pair);
}
END_TEST

/* What each side refuses, with the entry named. */
START_TEST(test_pv_pt_refused)
{
	static uint64_t src[PV_NR], dst[PV_NR], pt[512], out[512];
	struct xmig__pv_m2p ms;
	char why[200];

	pv_hosts(src, dst);
	ck_assert_int_eq(xmig__pv_m2p_build(&ms, src, PV_NR, NULL, why, sizeof(why)), 0);
	/* source: a superpage, a frame that is not the guest's */
	memset(pt, 0, sizeof(pt));
	pt[3] = src[1] << 12 | XMIG__PV_PTE_PSE | 1;
	ck_assert_int_eq(xmig__pv_normalise_pt(pt, out, 2, &ms, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "L2[3] maps a superpage"));
	ck_assert_int_eq(xmig__pv_normalise_pt(pt, out, 1, &ms, why, sizeof(why)), 0); /* PAT bit in L1 */
	pt[3] = 0x77777ull << 12 | 1;
	ck_assert_int_eq(xmig__pv_normalise_pt(pt, out, 1, &ms, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "L1[3] maps machine frame 0x77777"));
	/* destination: beyond the guest, not populated, Xen's slot, superpage */
	memset(pt, 0, sizeof(pt));
	pt[9] = (uint64_t)PV_NR << 12 | 1;
	ck_assert_int_eq(xmig__pv_localise_pt(pt, out, 1, dst, PV_NR, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "L1[9] maps pfn 0x40"));
	pt[9] = (uint64_t)(PV_NR - 1) << 12 | 1;
	ck_assert_int_eq(xmig__pv_localise_pt(pt, out, 1, dst, PV_NR, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "does not have"));
	memset(pt, 0, sizeof(pt));
	pt[XMIG__PV_L4_XEN_FIRST] = 1ull << 12 | 1;
	ck_assert_int_eq(xmig__pv_localise_pt(pt, out, 4, dst, PV_NR, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "L4[256] is Xen's slot"));
	ck_assert_int_eq(xmig__pv_localise_pt(pt, out, 3, dst, PV_NR, why, sizeof(why)), 0);
	pt[XMIG__PV_L4_XEN_FIRST] |= XMIG__PV_PTE_PSE;
	ck_assert_int_eq(xmig__pv_localise_pt(pt, out, 3, dst, PV_NR, why, sizeof(why)), -1);
	free(ms.pair);
}
END_TEST

/* A p2m leaf's normal form: each machine frame becomes its pfn; flags INVALID. */
START_TEST(test_pv_p2m_leaf)
{
	static uint64_t src[PV_NR], dst[PV_NR], leaf[512], norm[512];
	struct xmig__pv_m2p ms;
	char why[200];

	pv_hosts(src, dst);
	ck_assert_int_eq(xmig__pv_m2p_build(&ms, src, PV_NR, NULL, why, sizeof(why)), 0);
	memset(leaf, 0xff, sizeof(leaf));
	memcpy(leaf, src, sizeof(src));
	leaf[5] = (1ull << 62) | 5; /* an identity entry */
	leaf[6] = 0x424242;         /* someone else's frame */
	xmig__pv_normalise_p2m(leaf, norm, &ms);
	for (unsigned int i = 0; i < 512; i++)
		ck_assert_uint_eq(norm[i], i < PV_NR && i != 5 && i != 6 ? i : XMIG__PV_INVALID);
	free(ms.pair);
}
END_TEST

static void put_table(uint8_t *b, unsigned int i, uint64_t pfn, uint32_t level, uint32_t flags)
{
	memcpy(b + 8 + 16 * i, &pfn, 8);
	memcpy(b + 16 + 16 * i, &level, 4);
	memcpy(b + 20 + 16 * i, &flags, 4);
}

START_TEST(test_pv_blobs)
{
	uint8_t b[8 + 3 * 16], v[sizeof(struct xmig__pv_vcpu_hdr) + 100 + 8 + 16 + 32];
	struct xmig__pv_vcpu_hdr h = { .vcpu = 1, .flags = 1, .basic_len = 100, .ext_len = 8,
				       .xsave_len = 16, .msr_len = 32 }, got;
	uint32_t n = 3, count = 0;
	char why[200];

	memset(b, 0, sizeof(b));
	memcpy(b, &n, 4);
	put_table(b, 0, 1, 4, 1);
	put_table(b, 1, 7, 1, 0);
	put_table(b, 2, 9, 3, 0);
	ck_assert_int_eq(xmig__pv_tables_check(b, sizeof(b), 10, &count, why, sizeof(why)), 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_int_eq(xmig__pv_tables_check(b, sizeof(b), 9, &count, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__pv_tables_check(b, sizeof(b) - 1, 10, &count, why, sizeof(why)), -1);
	put_table(b, 2, 7, 3, 0); /* not increasing */
	ck_assert_int_eq(xmig__pv_tables_check(b, sizeof(b), 10, &count, why, sizeof(why)), -1);
	put_table(b, 2, 9, 5, 0); /* level 5 */
	ck_assert_int_eq(xmig__pv_tables_check(b, sizeof(b), 10, &count, why, sizeof(why)), -1);
	put_table(b, 2, 9, 3, 2); /* unknown flag */
	ck_assert_int_eq(xmig__pv_tables_check(b, sizeof(b), 10, &count, why, sizeof(why)), -1);

	memset(v, 0, sizeof(v));
	memcpy(v, &h, sizeof(h));
	ck_assert_int_eq(xmig__pv_vcpu_check(v, sizeof(v), 100, 128, &got, why, sizeof(why)), 0);
	ck_assert_uint_eq(got.msr_len, 32);
	ck_assert_int_eq(xmig__pv_vcpu_check(v, sizeof(v), 101, 128, &got, why, sizeof(why)), -1);
	ck_assert_int_eq(xmig__pv_vcpu_check(v, sizeof(v) - 1, 100, 128, &got, why, sizeof(why)),
			 -1);
	h.msr_len = 24, h.xsave_len = 24; /* MSRs are 16 bytes each */
	memcpy(v, &h, sizeof(h));
	ck_assert_int_eq(xmig__pv_vcpu_check(v, sizeof(v), 100, 128, &got, why, sizeof(why)), -1);
	/* offline: a bare header, nothing else */
	memset(&h, 0, sizeof(h));
	memcpy(v, &h, sizeof(h));
	ck_assert_int_eq(xmig__pv_vcpu_check(v, sizeof(h), 100, 128, &got, why, sizeof(why)), 0);
	ck_assert_int_eq(xmig__pv_vcpu_check(v, sizeof(h) + 1, 100, 128, &got, why, sizeof(why)),
			 -1);
}
END_TEST

/*
 * A frame the source could not map is never quietly a hole: only a fresh
 * type of XTAB/BROKEN makes it one; a paged frame gets exactly one more try;
 * everything else (RAM that cannot be read, a type that could not be read)
 * fails the round.
 */
START_TEST(test_map_verdict)
{
	const unsigned int ram[] = { 0x0, 0x1, 0x9, XMIG__XEN_TNIB_XALLOC };

	/* paged out / being paged: retry once, whatever the type says */
	ck_assert_int_eq(xmig__xen_map_verdict(-ENOENT, XMIG__XEN_TNIB_UNKNOWN, 1),
			 XMIG__XEN_MAP_RETRY);
	ck_assert_int_eq(xmig__xen_map_verdict(-EAGAIN, XMIG__XEN_TNIB_XTAB, 1),
			 XMIG__XEN_MAP_RETRY);
	ck_assert_int_eq(xmig__xen_map_verdict(-ENOENT, XMIG__XEN_TNIB_UNKNOWN, 2),
			 XMIG__XEN_MAP_FATAL);
	ck_assert_int_eq(xmig__xen_map_verdict(-EAGAIN, XMIG__XEN_TNIB_XTAB, 2),
			 XMIG__XEN_MAP_FATAL);
	/* gone from the guest: a hole, on any try */
	for (unsigned int t = 1; t <= 2; t++) {
		ck_assert_int_eq(xmig__xen_map_verdict(-EINVAL, XMIG__XEN_TNIB_XTAB, t),
				 XMIG__XEN_MAP_HOLE);
		ck_assert_int_eq(xmig__xen_map_verdict(-EPERM, XMIG__XEN_TNIB_BROKEN, t),
				 XMIG__XEN_MAP_HOLE);
	}
	/* the guest's RAM, or no type: fatal, never retried, never a hole */
	for (unsigned int i = 0; i < sizeof(ram) / sizeof(ram[0]); i++) {
		ck_assert_int_eq(xmig__xen_map_verdict(-EINVAL, ram[i], 1), XMIG__XEN_MAP_FATAL);
		ck_assert_int_eq(xmig__xen_map_verdict(-EIO, ram[i], 1), XMIG__XEN_MAP_FATAL);
	}
	ck_assert_int_eq(xmig__xen_map_verdict(-EINVAL, XMIG__XEN_TNIB_UNKNOWN, 1),
			 XMIG__XEN_MAP_FATAL);
	ck_assert_int_eq(xmig__xen_map_verdict(-EFAULT, XMIG__XEN_TNIB_UNKNOWN, 2),
			 XMIG__XEN_MAP_FATAL);
}
END_TEST

static Suite *xen_format_suite(void)
{
	Suite *s = suite_create("xen_format");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, test_hvm_ctx_good);
	tcase_add_test(tc, test_hvm_ctx_bad);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_blob_framing);
	tcase_add_test(tc, test_cpu_policy);
	tcase_add_test(tc, test_cpu_features_lost);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_ranges);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_pv_m2p);
	tcase_add_test(tc, test_pv_pt_roundtrip);
	tcase_add_test(tc, test_pv_pt_refused);
	tcase_add_test(tc, test_pv_p2m_leaf);
	tcase_add_test(tc, test_pv_blobs);
	tcase_add_test(tc, test_map_verdict);
	tcase_add_test(tc, test_claims);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(xen_format_suite());
}

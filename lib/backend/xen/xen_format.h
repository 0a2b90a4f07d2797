/* SPDX-License-Identifier: MIT */
/*
 * The Xen-independent part of the xen backend: state blob framing, the HVM
 * parameter list, HVM context walking, populated-frame ranges and xenstore
 * paths. No Xen header is needed here, so tests/check_xen_format.c runs in
 * CI without Xen. Everything is static inline: one header, no link-time
 * dependency.
 *
 * Numbers below are Xen's stable ABI (public/hvm/params.h,
 * public/hvm/save.h, public/arch-x86/hvm/save.h); xen_hvm.c checks them
 * against the real headers at compile time.
 */
#ifndef XMIG_XEN_FORMAT_H
#define XMIG_XEN_FORMAT_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmig/backend/xen.h"

/* HVM params, public/hvm/params.h. */
#define XMIG__HVMP_CALLBACK_IRQ 0
#define XMIG__HVMP_STORE_PFN 1
#define XMIG__HVMP_STORE_EVTCHN 2
#define XMIG__HVMP_PAE_ENABLED 4
#define XMIG__HVMP_IOREQ_PFN 5
#define XMIG__HVMP_BUFIOREQ_PFN 6
#define XMIG__HVMP_VIRIDIAN 9
#define XMIG__HVMP_IDENT_PT 12
#define XMIG__HVMP_ACPI_S_STATE 14
#define XMIG__HVMP_VM86_TSS 15 /* obsolete */
#define XMIG__HVMP_CONSOLE_PFN 17
#define XMIG__HVMP_CONSOLE_EVTCHN 18
#define XMIG__HVMP_ACPI_IOPORTS_LOCATION 19
#define XMIG__HVMP_PAGING_RING_PFN 27
#define XMIG__HVMP_MONITOR_RING_PFN 28
#define XMIG__HVMP_SHARING_RING_PFN 29
#define XMIG__HVMP_VM_GENERATION_ID_ADDR 34
#define XMIG__HVMP_IOREQ_SERVER_PFN 32
#define XMIG__HVMP_NR_IOREQ_SERVER_PAGES 33
#define XMIG__HVMP_X87_FIP_WIDTH 36
#define XMIG__HVMP_VM86_TSS_SIZED 37
#define XMIG__HVMP_MCA_CAP 38

/* The parameters that travel: the list of libxenguest's HVM save. */
static const uint32_t xmig__xen_hvm_params[] = {
	XMIG__HVMP_STORE_PFN,
	XMIG__HVMP_IOREQ_PFN,
	XMIG__HVMP_BUFIOREQ_PFN,
	XMIG__HVMP_PAGING_RING_PFN,
	XMIG__HVMP_MONITOR_RING_PFN,
	XMIG__HVMP_SHARING_RING_PFN,
	XMIG__HVMP_VM86_TSS_SIZED,
	XMIG__HVMP_CONSOLE_PFN,
	XMIG__HVMP_ACPI_IOPORTS_LOCATION,
	XMIG__HVMP_VIRIDIAN,
	XMIG__HVMP_IDENT_PT,
	XMIG__HVMP_VM_GENERATION_ID_ADDR,
	XMIG__HVMP_IOREQ_SERVER_PFN,
	XMIG__HVMP_NR_IOREQ_SERVER_PAGES,
	XMIG__HVMP_X87_FIP_WIDTH,
	XMIG__HVMP_MCA_CAP,
};
#define XMIG__XEN_NR_HVM_PARAMS (sizeof(xmig__xen_hvm_params) / sizeof(xmig__xen_hvm_params[0]))

/* May a destination set this parameter from a stream? */
static inline int xmig__xen_hvm_param_allowed(uint32_t index)
{
	for (size_t i = 0; i < XMIG__XEN_NR_HVM_PARAMS; i++)
		if (xmig__xen_hvm_params[i] == index)
			return 1;
	return 0;
}

/* HVM context framing: public/hvm/save.h. */
#define XMIG__HVM_SAVE_END 0
#define XMIG__HVM_SAVE_HEADER 1
#define XMIG__HVM_SAVE_CPU 2
#define XMIG__HVM_FILE_MAGIC 0x54381286u
#define XMIG__HVM_DESC_LEN 8u /* u16 typecode, u16 instance, u32 length */
#define XMIG__HVM_HEADER_LEN 24u

struct xmig__hvm_ctx_summary {
	uint32_t records;  /* descriptors, END included */
	uint32_t cpus;     /* CPU records (one per vCPU) */
	uint32_t max_cpu;  /* highest CPU instance + 1 */
	uint32_t gtsc_khz; /* from HEADER */
};

/*
 * Walk an HVM context blob: HEADER first (magic, version 1), then records
 * whose lengths stay inside the blob, END last and nothing after it.
 * 0 or -1 with `why` (>= 128 bytes) filled.
 */
static inline int xmig__xen_hvm_ctx_check(const uint8_t *p, size_t len,
					  struct xmig__hvm_ctx_summary *sum, char *why,
					  size_t why_len)
{
	size_t off = 0;

	memset(sum, 0, sizeof(*sum));
	while (off < len) {
		uint16_t type, inst;
		uint32_t rlen;

		if (len - off < XMIG__HVM_DESC_LEN) {
			snprintf(why, why_len, "truncated descriptor at offset %zu", off);
			return -1;
		}
		memcpy(&type, p + off, 2);
		memcpy(&inst, p + off + 2, 2);
		memcpy(&rlen, p + off + 4, 4);
		off += XMIG__HVM_DESC_LEN;
		if (rlen > len - off) {
			snprintf(why, why_len,
				 "record type %u at offset %zu: length %u beyond the blob (%zu)",
				 type, off - XMIG__HVM_DESC_LEN, rlen, len);
			return -1;
		}
		if (sum->records == 0) {
			uint32_t magic, version;

			if (type != XMIG__HVM_SAVE_HEADER || rlen < XMIG__HVM_HEADER_LEN) {
				snprintf(why, why_len, "does not start with a HEADER record "
					 "(type %u, length %u)", type, rlen);
				return -1;
			}
			memcpy(&magic, p + off, 4);
			memcpy(&version, p + off + 4, 4);
			if (magic != XMIG__HVM_FILE_MAGIC || version != 1) {
				snprintf(why, why_len, "bad HEADER: magic 0x%x version %u", magic,
					 version);
				return -1;
			}
			memcpy(&sum->gtsc_khz, p + off + 20, 4);
		} else if (type == XMIG__HVM_SAVE_HEADER) {
			snprintf(why, why_len, "second HEADER at offset %zu",
				 off - XMIG__HVM_DESC_LEN);
			return -1;
		}
		sum->records++;
		if (type == XMIG__HVM_SAVE_CPU) {
			sum->cpus++;
			if ((uint32_t)inst + 1 > sum->max_cpu)
				sum->max_cpu = (uint32_t)inst + 1;
		}
		off += rlen;
		if (type == XMIG__HVM_SAVE_END) {
			if (off != len) {
				snprintf(why, why_len, "%zu bytes after END", len - off);
				return -1;
			}
			return 0;
		}
	}
	snprintf(why, why_len, "no END record");
	return -1;
}

/* State blob framing: check the header of a blob of type `type`. */
static inline int xmig__xen_blob_check(const void *data, size_t len, uint32_t type,
				       const void **body, size_t *body_len, char *why,
				       size_t why_len)
{
	struct xmig_xen_state_hdr h;

	if (len < sizeof(h)) {
		snprintf(why, why_len, "state blob of %zu bytes: shorter than its header", len);
		return -1;
	}
	memcpy(&h, data, sizeof(h));
	if (h.version != XMIG_XEN_STATE_VERSION || h.type != type || h.reserved ||
	    h.size != len - sizeof(h)) {
		snprintf(why, why_len,
			 "state blob type %u: bad header (version %u, type %u, size %u of %zu, "
			 "reserved %u)", type, h.version, h.type, h.size, len - sizeof(h),
			 h.reserved);
		return -1;
	}
	*body = (const uint8_t *)data + sizeof(h);
	*body_len = len - sizeof(h);
	return 0;
}

static inline void xmig__xen_blob_hdr(struct xmig_xen_state_hdr *h, uint32_t type, size_t size)
{
	h->version = XMIG_XEN_STATE_VERSION;
	h->type = type;
	h->size = (uint32_t)size;
	h->reserved = 0;
}

/* A (u32 count, u32 reserved, count x entry_size) list body. */
static inline int xmig__xen_list_check(const void *body, size_t len, size_t entry_size,
				       uint32_t *count, char *why, size_t why_len)
{
	uint32_t n, rsv;

	if (len < 8) {
		snprintf(why, why_len, "list of %zu bytes: no count", len);
		return -1;
	}
	memcpy(&n, body, 4);
	memcpy(&rsv, (const uint8_t *)body + 4, 4);
	if (rsv || (uint64_t)n * entry_size != len - 8) {
		snprintf(why, why_len, "list of %u entries of %zu bytes in %zu bytes (reserved %u)",
			 n, entry_size, len - 8, rsv);
		return -1;
	}
	*count = n;
	return 0;
}

/*
 * Check POPULATED ranges: non-empty, increasing, not overlapping, below
 * `nr_pages`. Returns the number of frames in *frames.
 */
static inline int xmig__xen_ranges_check(const uint64_t *r, uint32_t count, uint64_t nr_pages,
					 uint64_t *frames, char *why, size_t why_len)
{
	uint64_t next = 0, total = 0;

	for (uint32_t i = 0; i < count; i++) {
		uint64_t start = r[2 * i], n = r[2 * i + 1];

		if (n == 0 || start < next || start >= nr_pages || n > nr_pages - start) {
			snprintf(why, why_len,
				 "range %u: gfn 0x%llx + %llu frames (previous end 0x%llx, guest "
				 "size 0x%llx)", i, (unsigned long long)start,
				 (unsigned long long)n, (unsigned long long)next,
				 (unsigned long long)nr_pages);
			return -1;
		}
		next = start + n;
		total += n;
	}
	*frames = total;
	return 0;
}

/*
 * Turn a bitmap (bit i of 64-bit word i/64 = frame i) into ranges. With
 * `out` NULL only counts. Returns the number of ranges.
 */
static inline uint32_t xmig__xen_bitmap_ranges(const uint64_t *bm, uint64_t nbits, uint64_t *out)
{
	uint32_t n = 0;
	uint64_t i = 0;

	while (i < nbits) {
		uint64_t w = bm[i / 64] >> (i % 64);
		uint64_t start;

		if (!w) {
			i = (i / 64 + 1) * 64;
			continue;
		}
		i += (uint64_t)__builtin_ctzll(w);
		if (i >= nbits)
			break;
		start = i;
		while (i < nbits && ((bm[i / 64] >> (i % 64)) & 1)) {
			if (i % 64 == 0 && bm[i / 64] == ~0ull && i + 64 <= nbits)
				i += 64;
			else
				i++;
		}
		if (out) {
			out[2 * n] = start;
			out[2 * n + 1] = i - start;
		}
		n++;
	}
	return n;
}

/* CPU_POLICY body: counts, CPUID leaves, MSR entries (xmig/backend/xen.h). */
#define XMIG__XEN_CPUID_LEAF_LEN 24u
#define XMIG__XEN_MSR_ENTRY_LEN 16u
#define XMIG__XEN_POLICY_MAX 4096u

/*
 * Check a CPU_POLICY body's framing: counts within XMIG__XEN_POLICY_MAX,
 * the length exactly what they announce, every MSR's reserved flags zero.
 * The contents are Xen's to audit (it refuses what the host cannot offer).
 */
static inline int xmig__xen_cpu_policy_check(const uint8_t *p, size_t len, uint32_t *nr_leaves,
					     uint32_t *nr_msrs, char *why, size_t why_len)
{
	uint32_t nl, nm;
	size_t off;

	if (len < 8) {
		snprintf(why, why_len, "CPU policy of %zu bytes: no counts", len);
		return -1;
	}
	memcpy(&nl, p, 4);
	memcpy(&nm, p + 4, 4);
	if (nl > XMIG__XEN_POLICY_MAX || nm > XMIG__XEN_POLICY_MAX) {
		snprintf(why, why_len, "CPU policy of %u leaves and %u MSRs: more than %u", nl,
			 nm, XMIG__XEN_POLICY_MAX);
		return -1;
	}
	if (len != 8 + (size_t)nl * XMIG__XEN_CPUID_LEAF_LEN + (size_t)nm * XMIG__XEN_MSR_ENTRY_LEN) {
		snprintf(why, why_len, "CPU policy of %u leaves and %u MSRs in %zu bytes", nl, nm,
			 len);
		return -1;
	}
	off = 8 + (size_t)nl * XMIG__XEN_CPUID_LEAF_LEN;
	for (uint32_t i = 0; i < nm; i++, off += XMIG__XEN_MSR_ENTRY_LEN) {
		uint32_t idx, flags;

		memcpy(&idx, p + off, 4);
		memcpy(&flags, p + off + 4, 4);
		if (flags) {
			snprintf(why, why_len, "CPU policy: MSR 0x%x has flags 0x%x (must be 0)",
				 idx, flags);
			return -1;
		}
	}
	*nr_leaves = nl;
	*nr_msrs = nm;
	return 0;
}

/*
 * The CPUID words that hold feature flags (Xen's featureset words, x86
 * leaves): a guest probes them once at boot and then relies on them.
 * subleaf ~0u = any. regs: bit 0 eax, 1 ebx, 2 ecx, 3 edx.
 */
static const struct {
	uint32_t leaf, subleaf, regs;
} xmig__xen_feature_words[] = {
	{ 0x1, ~0u, 0xc },        { 0x7, 0, 0xe },          { 0x7, 1, 0x1 },
	{ 0x7, 2, 0x8 },          { 0xd, 1, 0x1 },          { 0x80000001, ~0u, 0xc },
	{ 0x80000007, ~0u, 0x8 }, { 0x80000008, ~0u, 0x2 }, { 0x80000021, ~0u, 0x1 },
};

/*
 * Did a feature flag set in `src` (nl_src serialised leaves, starting at
 * body + 8, as in a CPU_POLICY body) go missing in `dst`? 1 with `why`
 * naming the first such word and its lost bits, else 0. A leaf `dst` does
 * not have at all counts as all its flags lost.
 */
static inline int xmig__xen_cpu_features_lost(const uint8_t *src, uint32_t nl_src,
					      const uint8_t *dst, uint32_t nl_dst, char *why,
					      size_t why_len)
{
	static const char *const reg[4] = { "eax", "ebx", "ecx", "edx" };

	for (uint32_t i = 0; i < nl_src; i++) {
		const uint8_t *a = src + 8 + (size_t)i * XMIG__XEN_CPUID_LEAF_LEN;
		uint32_t leaf, sub, regs = 0;
		const uint8_t *b = NULL;

		memcpy(&leaf, a, 4);
		memcpy(&sub, a + 4, 4);
		for (size_t w = 0; w < sizeof(xmig__xen_feature_words) /
				       sizeof(xmig__xen_feature_words[0]); w++)
			if (xmig__xen_feature_words[w].leaf == leaf &&
			    (xmig__xen_feature_words[w].subleaf == ~0u ||
			     xmig__xen_feature_words[w].subleaf == sub))
				regs = xmig__xen_feature_words[w].regs;
		if (!regs)
			continue;
		for (uint32_t j = 0; j < nl_dst && !b; j++) {
			const uint8_t *c = dst + 8 + (size_t)j * XMIG__XEN_CPUID_LEAF_LEN;

			if (!memcmp(c, a, 8))
				b = c;
		}
		for (unsigned int r = 0; r < 4; r++) {
			uint32_t have, now = 0;

			if (!(regs & (1u << r)))
				continue;
			memcpy(&have, a + 8 + 4 * r, 4);
			if (b)
				memcpy(&now, b + 8 + 4 * r, 4);
			if (have & ~now) {
				snprintf(why, why_len, "CPUID leaf 0x%x subleaf 0x%x %s: bits 0x%08x "
					 "missing", leaf, sub, reg[r], have & ~now);
				return 1;
			}
		}
	}
	return 0;
}

/* "/local/domain/<domid>[/<rel>]" into buf; -1 if it does not fit. */
static inline int xmig__xen_dom_path(char *buf, size_t len, uint32_t domid, const char *rel)
{
	int n = rel && rel[0] ? snprintf(buf, len, "/local/domain/%u/%s", domid, rel)
			      : snprintf(buf, len, "/local/domain/%u", domid);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * XEN_DOMCTL_PFINFO_* (public/domctl.h): getpageframeinfo3 gives a frame's
 * type in the top nibble of its entry. XTAB: not the guest's; BROKEN: no
 * data; XALLOC: allocate-only (PV).
 */
#define XMIG__XEN_TNIB_SHIFT 28
#define XMIG__XEN_TNIB_BROKEN 0xdu
#define XMIG__XEN_TNIB_XALLOC 0xeu
#define XMIG__XEN_TNIB_XTAB 0xfu
#define XMIG__XEN_TNIB_UNKNOWN 0x10u /* the type could not be read */

static inline unsigned int xmig__xen_tnib(uint64_t info)
{
	return (unsigned int)(info >> XMIG__XEN_TNIB_SHIFT) & 0xfu;
}

/* A frame of this type is a hole: nothing to send, not in POPULATED. */
static inline int xmig__xen_tnib_absent(unsigned int tnib)
{
	return tnib == XMIG__XEN_TNIB_XTAB || tnib == XMIG__XEN_TNIB_BROKEN;
}

/*
 * A source frame that Xen would not map. Three outcomes, as libxenguest
 * decides them, never "send it as a hole because the mapping failed":
 *   RETRY  ENOENT/EAGAIN: the frame is paged out or being paged in; its data
 *          exist. Map again, once; still failing after that is fatal.
 *   HOLE   any other error on a frame whose type, read again from Xen right
 *          now (getpageframeinfo3), is XTAB or BROKEN: not the guest's (any
 *          more: ballooned out, a hole dirtied by its own removal) or
 *          without data. It is sent as ABSENT and left out of POPULATED.
 *   FATAL  anything else: a frame Xen calls RAM that cannot be read, or a
 *          type that could not be read. The round fails, the guest stays on
 *          the source.
 * err: the negative errno from the mapping; tnib: the top nibble of the
 * fresh type (XMIG__XEN_TNIB_*), or XMIG__XEN_TNIB_UNKNOWN; tries: mappings
 * tried so far (1 after the first).
 */
enum xmig__xen_map_verdict { XMIG__XEN_MAP_HOLE = 1, XMIG__XEN_MAP_RETRY, XMIG__XEN_MAP_FATAL };

static inline enum xmig__xen_map_verdict xmig__xen_map_verdict(int err, unsigned int tnib,
								unsigned int tries)
{
	if (err == -ENOENT || err == -EAGAIN)
		return tries < 2 ? XMIG__XEN_MAP_RETRY : XMIG__XEN_MAP_FATAL;
	if (xmig__xen_tnib_absent(tnib))
		return XMIG__XEN_MAP_HOLE;
	return XMIG__XEN_MAP_FATAL;
}

/* Is `name` acceptable as a domain name (what xl accepts, roughly)? */
static inline int xmig__xen_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 0x7f || c == '/')
			return 0;
	}
	return 1;
}

/*
 * A claim: xmig's note in xenstore (dom0 only) of a domain one of its
 * processes holds in a state nobody else would leave it in, so that a later
 * process can put it right after that one died (kill -9, a crash):
 *   /xmig/incoming/D  state "incoming": a destination domain xmig created,
 *                     paused and not yet started
 *   /xmig/outgoing/D  state "live": a source with log-dirty on (and, if Xen
 *                     says it is paused or suspended, stopped for
 *                     stop-and-copy: read from Xen, not written in the
 *                     downtime)
 * The owner is a pid and its start time (/proc/PID/stat, field 22), so a
 * reused pid is not taken for the owner; the uuid is the domain's handle, so
 * a reused domid is not taken for the domain. One line of text:
 *   "xmig-claim 1 pid=P start=T uuid=U state=S"
 */
#define XMIG__XEN_CLAIM_MAX 160

struct xmig__xen_claim {
	int pid;
	unsigned long long start;
	char uuid[37];
	char state[12]; /* "incoming", "live" */
};

static inline int xmig__xen_claim_format(const struct xmig__xen_claim *c, char *out, size_t n)
{
	int k = snprintf(out, n, "xmig-claim 1 pid=%d start=%llu uuid=%s state=%s", c->pid,
			 c->start, c->uuid, c->state);

	return k < 0 || (size_t)k >= n ? -1 : k;
}

/* 0 if `s` (len bytes, not NUL-terminated) is a claim this version writes. */
static inline int xmig__xen_claim_parse(const char *s, size_t len, struct xmig__xen_claim *c)
{
	char buf[XMIG__XEN_CLAIM_MAX + 1], *tok, *next;
	int seen = 0, field = 0;

	if (len == 0 || len > XMIG__XEN_CLAIM_MAX || memchr(s, 0, len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	memset(c, 0, sizeof(*c));
	for (tok = buf; tok; tok = next, field++) {
		char *v, *end;
		unsigned long long u;
		int text;

		next = strchr(tok, ' ');
		if (next)
			*next++ = 0;
		if (field < 2) {
			if (strcmp(tok, field ? "1" : "xmig-claim") != 0)
				return -1;
			continue;
		}
		v = strchr(tok, '=');
		if (!v)
			return -1;
		*v++ = 0;
		text = !strcmp(tok, "uuid") ? 4 : !strcmp(tok, "state") ? 8 : 0;
		if (text) {
			char *dst = text == 4 ? c->uuid : c->state;
			size_t vl = strlen(v), cap = text == 4 ? sizeof(c->uuid) : sizeof(c->state);

			if (vl == 0 || vl >= cap || (seen & text))
				return -1;
			for (size_t i = 0; i < vl; i++)
				if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
				      v[i] == '-'))
					return -1;
			memcpy(dst, v, vl + 1);
			seen |= text;
			continue;
		}
		if (*v < '0' || *v > '9')
			return -1;
		errno = 0;
		u = strtoull(v, &end, 10);
		if (*end || errno)
			return -1;
		if (!strcmp(tok, "pid") && u > 0 && u <= 0x3fffffff && !(seen & 1)) {
			c->pid = (int)u;
			seen |= 1;
		} else if (!strcmp(tok, "start") && !(seen & 2)) {
			c->start = u;
			seen |= 2;
		} else {
			return -1;
		}
	}
	if (seen != 15 || (strcmp(c->state, "incoming") && strcmp(c->state, "live")))
		return -1;
	return 0;
}

#endif

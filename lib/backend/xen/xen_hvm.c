/* SPDX-License-Identifier: MIT */
/*
 * The HVM/PVH guest type: which state travels and how it is put back.
 * What libxenguest's HVM save sends (xg_sr_save_x86_hvm.c: HVM context,
 * HVM params, TSC info, the CPUID/MSR policy) plus two blobs of our own:
 * DOMAIN (the shape and limits, so a destination can size itself) and
 * POPULATED (frames that exist but were never sent, see xen_mem.c).
 * Layouts: xmig/backend/xen.h.
 *
 * The CPU policy goes through XEN_DOMCTL_get/set_cpu_policy directly (the
 * xc_cpu_policy_* helpers live in libxenguest, which xmig does not link).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xen_internal.h"

#include <xen/hvm/params.h>
#include <xen/hvm/save.h>

_Static_assert(XMIG__HVMP_CALLBACK_IRQ == HVM_PARAM_CALLBACK_IRQ, "params.h");
_Static_assert(XMIG__HVMP_STORE_PFN == HVM_PARAM_STORE_PFN, "params.h");
_Static_assert(XMIG__HVMP_STORE_EVTCHN == HVM_PARAM_STORE_EVTCHN, "params.h");
_Static_assert(XMIG__HVMP_IOREQ_PFN == HVM_PARAM_IOREQ_PFN, "params.h");
_Static_assert(XMIG__HVMP_BUFIOREQ_PFN == HVM_PARAM_BUFIOREQ_PFN, "params.h");
_Static_assert(XMIG__HVMP_VIRIDIAN == HVM_PARAM_VIRIDIAN, "params.h");
_Static_assert(XMIG__HVMP_IDENT_PT == HVM_PARAM_IDENT_PT, "params.h");
_Static_assert(XMIG__HVMP_CONSOLE_PFN == HVM_PARAM_CONSOLE_PFN, "params.h");
_Static_assert(XMIG__HVMP_CONSOLE_EVTCHN == HVM_PARAM_CONSOLE_EVTCHN, "params.h");
_Static_assert(XMIG__HVMP_ACPI_IOPORTS_LOCATION == HVM_PARAM_ACPI_IOPORTS_LOCATION, "p");
_Static_assert(XMIG__HVMP_PAGING_RING_PFN == HVM_PARAM_PAGING_RING_PFN, "params.h");
_Static_assert(XMIG__HVMP_MONITOR_RING_PFN == HVM_PARAM_MONITOR_RING_PFN, "params.h");
_Static_assert(XMIG__HVMP_SHARING_RING_PFN == HVM_PARAM_SHARING_RING_PFN, "params.h");
_Static_assert(XMIG__HVMP_VM_GENERATION_ID_ADDR == HVM_PARAM_VM_GENERATION_ID_ADDR, "p");
_Static_assert(XMIG__HVMP_IOREQ_SERVER_PFN == HVM_PARAM_IOREQ_SERVER_PFN, "params.h");
_Static_assert(XMIG__HVMP_NR_IOREQ_SERVER_PAGES == HVM_PARAM_NR_IOREQ_SERVER_PAGES, "p");
_Static_assert(XMIG__HVMP_X87_FIP_WIDTH == HVM_PARAM_X87_FIP_WIDTH, "params.h");
_Static_assert(XMIG__HVMP_VM86_TSS_SIZED == HVM_PARAM_VM86_TSS_SIZED, "params.h");
_Static_assert(XMIG__HVMP_MCA_CAP == HVM_PARAM_MCA_CAP, "params.h");
_Static_assert(XMIG__HVM_FILE_MAGIC == HVM_FILE_MAGIC, "save.h");
_Static_assert(XMIG__HVM_SAVE_CPU == HVM_SAVE_CODE(CPU), "save.h");
_Static_assert(XMIG__HVM_SAVE_HEADER == HVM_SAVE_CODE(HEADER), "save.h");
_Static_assert(XMIG__HVM_SAVE_END == HVM_SAVE_CODE(END), "save.h");
_Static_assert(XMIG__HVM_HEADER_LEN == sizeof(struct hvm_save_header), "save.h");
_Static_assert(XMIG__HVM_DESC_LEN == sizeof(struct hvm_save_descriptor), "save.h");

_Static_assert(XMIG__XEN_CPUID_LEAF_LEN == sizeof(xen_cpuid_leaf_t), "arch-x86/xen.h");
_Static_assert(XMIG__XEN_MSR_ENTRY_LEN == sizeof(xen_msr_entry_t), "arch-x86/xen.h");

/* Emit hdr + body as one blob. */
int xmig__xen_emit_blob(xmig_state_emit_fn emit, void *ctx, uint32_t type, const void *body,
			size_t len)
{
	struct xmig_xen_state_hdr *h;
	uint8_t *buf = malloc(sizeof(*h) + len);
	int rc;

	if (!buf)
		return xmig__fail(XMIG_ENOMEM, "xen: state blob of %zu bytes", len);
	h = (struct xmig_xen_state_hdr *)buf;
	xmig__xen_blob_hdr(h, type, len);
	if (len)
		memcpy(buf + sizeof(*h), body, len);
	rc = emit(ctx, XMIG_STATE_PLATFORM, type, buf, sizeof(*h) + len);
	free(buf);
	return rc;
}

/* The source's balloon target (xenstore memory/target), 0 if unknown. */
static uint32_t target_kib(struct xmig__xen *x)
{
	char path[96], *v, *end;
	unsigned int len;
	unsigned long long kib = 0;

	if (xmig__xen_store_open(x) ||
	    xmig__xen_dom_path(path, sizeof(path), x->domid, "memory/target"))
		return 0;
	v = xs_read(x->xsh, XBT_NULL, path, &len);
	if (v && len)
		kib = strtoull(v, &end, 10);
	if (!v || !len || *end || kib > UINT32_MAX)
		kib = 0;
	free(v);
	return (uint32_t)kib;
}

static int save_domain(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	struct xmig_xen_domain_state ds = { 0 };
	xc_domaininfo_t di;
	xen_pfn_t max_gfn = 0;
	uint64_t pool = 0;
	int err = xmig__xen_dominfo(x, &di);

	if (err)
		return err;
	if (x->guest_kind == XMIG_GUEST_XEN_PV) {
		/* frames are the guest's p2m; no paging pool once log-dirty is off */
		max_gfn = x->nr_pages - 1;
	} else {
		if (xc_domain_maximum_gpfn(x->xch, x->domid, &max_gfn) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: maximum gpfn",
						x->domid);
		if (xc_get_paging_mempool_size(x->xch, x->domid, &pool) < 0)
			pool = 0;
	}
	ds.guest_kind = x->guest_kind;
	ds.nr_vcpus = x->nr_vcpus;
	ds.max_pages = di.max_pages;
	ds.tot_pages = di.tot_pages;
	ds.max_gfn = max_gfn;
	ds.paging_pool = pool;
	ds.emulation_flags = di.arch_config.emulation_flags;
	ds.dominfo_flags = di.flags & (XEN_DOMINF_hvm_guest | XEN_DOMINF_hap);
	ds.suspend = (uint32_t)x->paused;
	ds.target_kib = target_kib(x);
	return xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_DOMAIN, &ds, sizeof(ds));
}

/*
 * Read a domain's CPU policy into a malloc'd CPU_POLICY body (xen.h): ask
 * Xen for its largest serialised size (null buffers), then for the policy;
 * Xen writes back the counts used. *body NULL and 0 returned when this Xen
 * has no such call.
 */
static int policy_read(struct xmig__xen *x, uint8_t **body, size_t *len)
{
	struct xen_domctl d = { .cmd = XEN_DOMCTL_get_cpu_policy, .domain = x->domid };
	DECLARE_HYPERCALL_BUFFER(xen_cpuid_leaf_t, leaves);
	DECLARE_HYPERCALL_BUFFER(xen_msr_entry_t, msrs);
	uint32_t nl, nm;
	int rc = 0;

	*body = NULL;
	*len = 0;
	if (xc_domctl(x->xch, &d) < 0) {
		if (errno == EOPNOTSUPP || errno == ENOSYS)
			return 0;
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: CPU policy size", x->domid);
	}
	nl = d.u.cpu_policy.nr_leaves;
	nm = d.u.cpu_policy.nr_msrs;
	if (nl > XMIG__XEN_POLICY_MAX || nm > XMIG__XEN_POLICY_MAX)
		return xmig__fail(XMIG_EBACKEND, "xen: d%u: CPU policy of up to %u leaves, %u MSRs",
				  x->domid, nl, nm);
	leaves = xc_hypercall_buffer_alloc(x->xch, leaves, (nl ? nl : 1) * sizeof(*leaves));
	msrs = xc_hypercall_buffer_alloc(x->xch, msrs, (nm ? nm : 1) * sizeof(*msrs));
	if (!leaves || !msrs) {
		rc = xmig__fail(XMIG_ENOMEM, "xen: CPU policy buffers");
		goto out;
	}
	memset(&d, 0, sizeof(d));
	d.cmd = XEN_DOMCTL_get_cpu_policy;
	d.domain = x->domid;
	d.u.cpu_policy.nr_leaves = nl;
	d.u.cpu_policy.nr_msrs = nm;
	set_xen_guest_handle(d.u.cpu_policy.leaves, leaves);
	set_xen_guest_handle(d.u.cpu_policy.msrs, msrs);
	if (xc_domctl(x->xch, &d) < 0) {
		rc = xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: CPU policy", x->domid);
		goto out;
	}
	nl = d.u.cpu_policy.nr_leaves;
	nm = d.u.cpu_policy.nr_msrs;
	*len = 8 + (size_t)nl * sizeof(*leaves) + (size_t)nm * sizeof(*msrs);
	*body = malloc(*len);
	if (!*body) {
		rc = xmig__fail(XMIG_ENOMEM, "xen: CPU policy blob of %zu bytes", *len);
		goto out;
	}
	xmig__put_le32(*body, nl);
	xmig__put_le32(*body + 4, nm);
	memcpy(*body + 8, leaves, (size_t)nl * sizeof(*leaves));
	memcpy(*body + 8 + (size_t)nl * sizeof(*leaves), msrs, (size_t)nm * sizeof(*msrs));
out:
	xc_hypercall_buffer_free(x->xch, leaves);
	xc_hypercall_buffer_free(x->xch, msrs);
	return rc;
}

static int save_cpu_policy(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	uint8_t *body;
	size_t len;
	int rc = policy_read(x, &body, &len);

	if (rc)
		return rc;
	if (!body) {
		xmig__xen_note(x, "no CPU policy sent (Xen has no XEN_DOMCTL_get_cpu_policy)");
		return 0;
	}
	rc = xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_CPU_POLICY, body, len);
	free(body);
	return rc;
}

static int save_tsc(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	struct xmig_xen_tsc_state ts = { 0 };

	if (xc_domain_get_tsc_info(x->xch, x->domid, &ts.mode, &ts.elapsed_nsec, &ts.khz,
				   &ts.incarnation) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: TSC info", x->domid);
	return xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_TSC, &ts, sizeof(ts));
}

static int save_params(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	uint8_t body[8 + 16 * XMIG__XEN_NR_HVM_PARAMS];
	uint32_t n = 0;

	for (size_t i = 0; i < XMIG__XEN_NR_HVM_PARAMS; i++) {
		uint64_t v = 0;
		uint32_t idx = xmig__xen_hvm_params[i];

		if (xc_hvm_param_get(x->xch, x->domid, idx, &v) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: HVM param %u", x->domid,
						idx);
		if (!v)
			continue;
		xmig__put_le32(body + 8 + 16 * n, idx);
		xmig__put_le32(body + 12 + 16 * n, 0);
		xmig__put_le64(body + 16 + 16 * n, v);
		n++;
	}
	xmig__put_le32(body, n);
	xmig__put_le32(body + 4, 0);
	return xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_HVM_PARAMS, body, 8 + 16ull * n);
}

static int save_populated(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	uint32_t n = xmig__xen_bitmap_ranges(x->populated, x->nr_pages, NULL);
	size_t len = 8 + 16ull * n;
	uint8_t *body;
	int rc;

	if (len > (15u << 20))
		return xmig__fail(XMIG_ENOTSUP, "xen: d%u: memory in %u pieces: too fragmented "
				  "for one POPULATED blob", x->domid, n);
	body = malloc(len);
	if (!body)
		return xmig__fail(XMIG_ENOMEM, "xen: POPULATED blob of %zu bytes", len);
	xmig__put_le32(body, n);
	xmig__put_le32(body + 4, 0);
	xmig__xen_bitmap_ranges(x->populated, x->nr_pages, (uint64_t *)(void *)(body + 8));
	rc = xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_POPULATED, body, len);
	free(body);
	return rc;
}

static int save_context(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	int size = xc_domain_hvm_getcontext(x->xch, x->domid, NULL, 0);
	uint8_t *buf;
	int rc;

	if (size <= 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: HVM context size", x->domid);
	buf = malloc((size_t)size);
	if (!buf)
		return xmig__fail(XMIG_ENOMEM, "xen: HVM context of %d bytes", size);
	size = xc_domain_hvm_getcontext(x->xch, x->domid, buf, (uint32_t)size);
	if (size <= 0) {
		free(buf);
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: HVM context", x->domid);
	}
	rc = xmig__xen_emit_blob(emit, ctx, XMIG_XEN_STATE_HVM_CONTEXT, buf, (size_t)size);
	free(buf);
	return rc;
}

/* DOMAIN, CPU_POLICY, TSC, POPULATED: what every guest type sends first. */
int xmig__xen_save_common(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	int rc;

	if ((rc = save_domain(x, emit, ctx)) || (rc = save_cpu_policy(x, emit, ctx)) ||
	    (rc = save_tsc(x, emit, ctx)))
		return rc;
	return save_populated(x, emit, ctx);
}

static int hvm_save(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx)
{
	int rc;

	if ((rc = xmig__xen_save_common(x, emit, ctx)) || (rc = save_params(x, emit, ctx)))
		return rc;
	return save_context(x, emit, ctx);
}

static int load_domain(struct xmig__xen *x, const void *body, size_t len)
{
	struct xmig_xen_domain_state ds;

	if (len != sizeof(ds))
		return xmig__fail(XMIG_EINVAL, "xen: DOMAIN blob of %zu bytes, expected %zu", len,
				  sizeof(ds));
	memcpy(&ds, body, sizeof(ds));
	if (ds.guest_kind != x->guest_kind || ds.nr_vcpus != x->nr_vcpus ||
	    ds.max_gfn >= x->nr_pages || ds.target_kib > ds.max_pages * 4)
		return xmig__fail(XMIG_EINVAL,
				  "xen: DOMAIN blob disagrees with the stream: kind %u/%u, vCPUs "
				  "%u/%u, max gfn 0x%llx of 0x%llx, target %u KiB of %llu pages",
				  ds.guest_kind, x->guest_kind, ds.nr_vcpus, x->nr_vcpus,
				  (unsigned long long)ds.max_gfn, (unsigned long long)x->nr_pages,
				  ds.target_kib, (unsigned long long)ds.max_pages);
	/*
	 * The stream is untrusted: a memory limit beyond the guest's frame
	 * range, or a paging pool beyond what this receiver would give the
	 * guest itself, would let a sender take host memory (Xen allocates the
	 * pool outside the domain's limit).
	 */
	if (ds.max_pages > x->nr_pages + 256)
		return xmig__fail(XMIG_EINVAL, "xen: DOMAIN blob: a memory limit of %llu pages "
				  "for a guest of %llu frames", (unsigned long long)ds.max_pages,
				  (unsigned long long)x->nr_pages);
	if (ds.paging_pool > (256ull << 20))
		return xmig__fail(XMIG_EINVAL, "xen: DOMAIN blob: a paging pool of %llu bytes "
				  "(this receiver allows 256 MiB)",
				  (unsigned long long)ds.paging_pool);
	x->dom_state = ds;
	x->have_domain = 1;
	if (x->own_domain) {
		/* The source's limit as it is (it holds libxl's 1 MiB of slack
		 * already: adding it again would grow the guest every hop). */
		uint64_t kb = ds.max_pages * 4;

		if (xc_domain_setmaxmem(x->xch, x->domid, kb) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: setmaxmem %llu KiB",
						x->domid, (unsigned long long)kb);
		if (ds.paging_pool) {
			uint64_t cur = 0;

			if (xc_get_paging_mempool_size(x->xch, x->domid, &cur) == 0 &&
			    cur < ds.paging_pool &&
			    xc_set_paging_mempool_size(x->xch, x->domid, ds.paging_pool) < 0)
				return xmig__fail_errno(XMIG_EBACKEND,
							"xen: d%u: paging pool of %llu bytes",
							x->domid,
							(unsigned long long)ds.paging_pool);
		}
	}
	return 0;
}

static int load_tsc(struct xmig__xen *x, const void *body, size_t len)
{
	struct xmig_xen_tsc_state ts;

	if (len != sizeof(ts))
		return xmig__fail(XMIG_EINVAL, "xen: TSC blob of %zu bytes", len);
	memcpy(&ts, body, sizeof(ts));
	if (xc_domain_set_tsc_info(x->xch, x->domid, ts.mode, ts.elapsed_nsec, ts.khz,
				   ts.incarnation) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: set TSC info (mode %u, %u kHz)",
					x->domid, ts.mode, ts.khz);
	x->have_tsc = 1;
	return 0;
}

/*
 * Xen 4.17 accepts a policy and quietly clears the features this host
 * lacks; the guest, which read CPUID at boot, would then meet #UD. Read the
 * policy back and refuse (before COMMIT) if any feature flag of the
 * source's `nl` leaves went missing.
 */
static int policy_kept(struct xmig__xen *x, const uint8_t *src, uint32_t nl)
{
	uint8_t *now;
	size_t now_len;
	char why[160];
	int rc = policy_read(x, &now, &now_len);

	if (rc || !now)
		return rc;
	if (xmig__xen_cpu_features_lost(src, nl, now, xmig__le32(now), why, sizeof(why)))
		rc = xmig__fail(XMIG_EBACKEND, "xen: d%u: the destination host lacks CPU features "
				"the guest was started with (%s)", x->domid, why);
	free(now);
	return rc;
}

/* Set the source's CPU policy on the new domain (before it ever runs). */
static int load_cpu_policy(struct xmig__xen *x, const void *body, size_t len)
{
	struct xen_domctl d = { .cmd = XEN_DOMCTL_set_cpu_policy, .domain = x->domid };
	DECLARE_HYPERCALL_BUFFER(xen_cpuid_leaf_t, leaves);
	DECLARE_HYPERCALL_BUFFER(xen_msr_entry_t, msrs);
	uint32_t nl, nm;
	char why[160];
	int rc = 0;

	if (xmig__xen_cpu_policy_check(body, len, &nl, &nm, why, sizeof(why)))
		return xmig__fail(XMIG_EINVAL, "xen: CPU_POLICY blob: %s", why);
	leaves = xc_hypercall_buffer_alloc(x->xch, leaves, (nl ? nl : 1) * sizeof(*leaves));
	msrs = xc_hypercall_buffer_alloc(x->xch, msrs, (nm ? nm : 1) * sizeof(*msrs));
	if (!leaves || !msrs) {
		rc = xmig__fail(XMIG_ENOMEM, "xen: CPU policy buffers");
		goto out;
	}
	memcpy(leaves, (const uint8_t *)body + 8, (size_t)nl * sizeof(*leaves));
	memcpy(msrs, (const uint8_t *)body + 8 + (size_t)nl * sizeof(*leaves),
	       (size_t)nm * sizeof(*msrs));
	d.u.cpu_policy.nr_leaves = nl;
	d.u.cpu_policy.nr_msrs = nm;
	d.u.cpu_policy.err_leaf = d.u.cpu_policy.err_subleaf = d.u.cpu_policy.err_msr = ~0u;
	set_xen_guest_handle(d.u.cpu_policy.leaves, leaves);
	set_xen_guest_handle(d.u.cpu_policy.msrs, msrs);
	if (xc_domctl(x->xch, &d) < 0) {
		int e = errno;
		char where[96] = "";

		if (d.u.cpu_policy.err_leaf != ~0u)
			snprintf(where, sizeof(where), "; Xen objects to leaf 0x%x/0x%x",
				 d.u.cpu_policy.err_leaf, d.u.cpu_policy.err_subleaf);
		else if (d.u.cpu_policy.err_msr != ~0u)
			snprintf(where, sizeof(where), "; Xen objects to MSR 0x%x",
				 d.u.cpu_policy.err_msr);
		errno = e;
		rc = xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: setting the source's CPU policy "
				      "(%u leaves, %u MSRs%s)%s", x->domid, nl, nm, where,
				      e == EINVAL || e == EOPNOTSUPP
				      ? ": this host cannot offer the CPU the guest runs on" : "");
		goto out;
	}
	rc = policy_kept(x, body, nl);
	if (rc)
		goto out;
	x->have_policy = 1;
out:
	xc_hypercall_buffer_free(x->xch, leaves);
	xc_hypercall_buffer_free(x->xch, msrs);
	return rc;
}

/* Ring pages start clean: the other end reconnects from nothing. */
static int fresh_page(struct xmig__xen *x, uint64_t gfn)
{
	int err;

	if (gfn >= x->nr_pages)
		return xmig__fail(XMIG_EINVAL, "xen: special page gfn 0x%llx beyond the guest",
				  (unsigned long long)gfn);
	err = xmig__xen_populate(x, &gfn, 1);
	return err ? err : xmig__xen_clear_page(x, gfn);
}

static int load_params(struct xmig__xen *x, const void *body, size_t len)
{
	const uint8_t *p = body;
	uint32_t n;
	char why[160];
	int err;

	if (xmig__xen_list_check(body, len, 16, &n, why, sizeof(why)))
		return xmig__fail(XMIG_EINVAL, "xen: HVM_PARAMS blob: %s", why);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = xmig__le32(p + 8 + 16 * i);
		uint64_t v = xmig__le64(p + 16 + 16 * i);

		if (!xmig__xen_hvm_param_allowed(idx) || xmig__le32(p + 12 + 16 * i))
			return xmig__fail(XMIG_EINVAL, "xen: HVM_PARAMS blob: parameter %u may "
					  "not be set from a stream", idx);
		switch (idx) {
		case XMIG__HVMP_STORE_PFN:
			x->ri.store_gfn = v;
			err = fresh_page(x, v);
			break;
		case XMIG__HVMP_CONSOLE_PFN:
			x->ri.console_gfn = v;
			err = fresh_page(x, v);
			break;
		case XMIG__HVMP_IOREQ_PFN:
		case XMIG__HVMP_BUFIOREQ_PFN:
			err = fresh_page(x, v);
			break;
		default:
			err = 0;
		}
		if (err)
			return err;
		if (xc_hvm_param_set(x->xch, x->domid, idx, v) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: set HVM param %u = 0x%llx",
						x->domid, idx, (unsigned long long)v);
	}
	x->have_params = 1;
	return 0;
}

static int load_populated(struct xmig__xen *x, const void *body, size_t len)
{
	uint64_t *r, frames, buf[XMIG__XEN_BATCH];
	uint32_t n;
	char why[160];
	int err = 0;

	if (xmig__xen_list_check(body, len, 16, &n, why, sizeof(why)))
		return xmig__fail(XMIG_EINVAL, "xen: POPULATED blob: %s", why);
	r = malloc(16ull * n + 1);
	if (!r)
		return xmig__fail(XMIG_ENOMEM, "xen: POPULATED blob of %u ranges", n);
	for (uint32_t i = 0; i < 2 * n; i++)
		r[i] = xmig__le64((const uint8_t *)body + 8 + 8ull * i);
	if (xmig__xen_ranges_check(r, n, x->nr_pages, &frames, why, sizeof(why))) {
		free(r);
		return xmig__fail(XMIG_EINVAL, "xen: POPULATED blob: %s", why);
	}
	for (uint32_t i = 0; i < n && !err; i++) {
		uint64_t g = r[2 * i], end = r[2 * i] + r[2 * i + 1];

		while (g < end && !err) {
			size_t k = 0;

			while (g < end && k < XMIG__XEN_BATCH)
				buf[k++] = g++;
			err = xmig__xen_populate_zero(x, buf, k);
		}
	}
	free(r);
	if (!err)
		x->have_populated = 1;
	return err;
}

static int load_context(struct xmig__xen *x, const void *body, size_t len)
{
	struct xmig__hvm_ctx_summary sum;
	char why[160];

	if (len > UINT32_MAX ||
	    xmig__xen_hvm_ctx_check(body, len, &sum, why, sizeof(why)))
		return xmig__fail(XMIG_EINVAL, "xen: HVM_CONTEXT blob: %s",
				  len > UINT32_MAX ? "too large" : why);
	if (sum.max_cpu > x->nr_vcpus)
		return xmig__fail(XMIG_EINVAL, "xen: HVM_CONTEXT has CPU record %u of %u vCPUs",
				  sum.max_cpu - 1, x->nr_vcpus);
	if (xc_domain_hvm_setcontext(x->xch, x->domid, (uint8_t *)(uintptr_t)body,
				     (uint32_t)len) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: loading the HVM context "
					"(%zu bytes, %u records)", x->domid, len, sum.records);
	x->have_ctx = 1;
	return 0;
}

/* The blobs of xmig__xen_save_common; 1 for a type that is not one of them. */
int xmig__xen_load_common(struct xmig__xen *x, uint32_t type, const void *body, size_t len)
{
	if (type != XMIG_XEN_STATE_DOMAIN && !x->have_domain)
		return xmig__fail(XMIG_EINVAL, "xen: state blob %u before DOMAIN", type);
	switch (type) {
	case XMIG_XEN_STATE_DOMAIN:
		if (x->have_domain)
			return xmig__fail(XMIG_EINVAL, "xen: second DOMAIN blob");
		return load_domain(x, body, len);
	case XMIG_XEN_STATE_TSC:
		if (x->have_tsc)
			return xmig__fail(XMIG_EINVAL, "xen: second TSC blob");
		return load_tsc(x, body, len);
	case XMIG_XEN_STATE_POPULATED:
		if (x->have_populated)
			return xmig__fail(XMIG_EINVAL, "xen: second POPULATED blob");
		return load_populated(x, body, len);
	case XMIG_XEN_STATE_CPU_POLICY:
		if (x->have_policy)
			return xmig__fail(XMIG_EINVAL, "xen: second CPU_POLICY blob");
		return load_cpu_policy(x, body, len);
	default:
		return 1;
	}
}

static int hvm_load(struct xmig__xen *x, uint32_t type, const void *body, size_t len)
{
	int rc;

	if (x->have_ctx)
		return xmig__fail(XMIG_EINVAL, "xen: state blob %u after HVM_CONTEXT", type);
	rc = xmig__xen_load_common(x, type, body, len);
	if (rc != 1)
		return rc;
	switch (type) {
	case XMIG_XEN_STATE_HVM_PARAMS:
		if (x->have_params)
			return xmig__fail(XMIG_EINVAL, "xen: second HVM_PARAMS blob");
		return load_params(x, body, len);
	case XMIG_XEN_STATE_HVM_CONTEXT:
		if (!x->have_policy)
			xmig__xen_note(x, "no CPU policy in the stream: Xen's default for the "
				       "domain type");
		return load_context(x, body, len);
	default:
		return xmig__fail(XMIG_EINVAL, "xen: unknown state blob type %u", type);
	}
}

static int hvm_complete(struct xmig__xen *x)
{
	if (!x->have_domain || !x->have_tsc || !x->have_ctx)
		return xmig__fail(XMIG_EPROTO, "xen: state incomplete: DOMAIN %s, TSC %s, "
				  "HVM_CONTEXT %s", x->have_domain ? "yes" : "missing",
				  x->have_tsc ? "yes" : "missing", x->have_ctx ? "yes" : "missing");
	return 0;
}

const struct xmig__xen_type xmig__xen_type_hvm = {
	.name = "hvm",
	.guest_kind = XMIG_GUEST_XEN_HVM,
	.save = hvm_save,
	.load = hvm_load,
	.complete = hvm_complete,
};

/* SPDX-License-Identifier: MIT */
/* The xen backend's ops table, handles and public calls (xmig/backend/xen.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xen_internal.h"

void xmig__xen_note(struct xmig__xen *x, const char *fmt, ...)
{
	size_t used = strlen(x->notes);
	va_list ap;

	if (used + 2 >= sizeof(x->notes))
		return;
	if (used)
		x->notes[used++] = '\n';
	va_start(ap, fmt);
	vsnprintf(x->notes + used, sizeof(x->notes) - used, fmt, ap);
	va_end(ap);
	xmig__sanitize(x->notes + used); /* the '\n' between notes stays */
}

int xmig__xen_store_open(struct xmig__xen *x)
{
	if (x->xsh)
		return 0;
	x->xsh = xs_open(0);
	if (!x->xsh)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: cannot connect to xenstored");
	return 0;
}

int xmig__xen_dominfo(struct xmig__xen *x, xc_domaininfo_t *info)
{
	int n = xc_domain_getinfolist(x->xch, x->domid, 1, info);

	if (n < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: domain info of d%u", x->domid);
	if (n != 1 || info->domain != x->domid)
		return xmig__fail(XMIG_EINVAL, "xen: no domain %u", x->domid);
	return 0;
}

/* The one place a guest type is chosen (and, for PV, its p2m found). */
static int pick_type(struct xmig__xen *x, const xc_domaininfo_t *di)
{
	if (!(di->flags & XEN_DOMINF_hvm_guest)) {
		int err = xmig__xen_pv_open(x, di);

		if (!err)
			x->nr_pages = x->pv.max_pfn;
		return err;
	}
	x->type = &xmig__xen_type_hvm;
	/* PVH: no emulated platform devices beyond the local APIC. */
	x->guest_kind = (di->arch_config.emulation_flags & ~XEN_X86_EMU_LAPIC) == 0
				? XMIG_GUEST_XEN_PVH
				: XMIG_GUEST_XEN_HVM;
	return 0;
}

static int xen_describe(struct xmig_backend *b, struct xmig_guest_info *out)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (x->side == XMIG__XEN_DEST && x->dstate == XMIG__XEN_D_EMPTY)
		return xmig__fail(XMIG_EINVAL, "xen: describe: no guest");
	memset(out, 0, sizeof(*out));
	out->nr_pages = x->nr_pages;
	out->page_size = XMIG__XEN_PAGE;
	out->nr_vcpus = x->nr_vcpus;
	out->guest_kind = x->guest_kind;
	strcpy(out->backend, "xen");
	return 0;
}

static int source_only(struct xmig__xen *x, const char *hook)
{
	if (x->side != XMIG__XEN_SOURCE)
		return xmig__fail(XMIG_EINVAL, "xen: %s on a destination", hook);
	if (x->gone)
		return xmig__fail(XMIG_EINVAL, "xen: %s: d%u was destroyed", hook, x->domid);
	return 0;
}

static int xen_log_dirty_start(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);

	int err = source_only(x, "log_dirty_start");

	if (err)
		return err;
	/* noted before it goes on: a leftover (log-dirty on) if this process dies */
	xmig__xen_claim_source(x);
	err = xmig__xen_log_start(x);
	if (err)
		xmig__xen_unclaim_source(x);
	return err;
}

static int xen_log_dirty_stop(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);
	int err = xmig__xen_log_stop(x);

	if (!err && !x->paused)
		xmig__xen_unclaim_source(x);
	return err;
}

static int xen_dirty_fetch(struct xmig_backend *b, uint64_t *bitmap, int final)
{
	struct xmig__xen *x = xmig__xen_of(b);

	return source_only(x, "dirty_fetch") ?: xmig__xen_log_fetch(x, bitmap, final);
}

static int xen_map_pages(struct xmig_backend *b, const uint64_t *pfns, unsigned int n,
			 void **ptrs, unsigned int flags)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (x->side == XMIG__XEN_DEST ? x->dstate == XMIG__XEN_D_EMPTY : x->gone)
		return xmig__fail(XMIG_EINVAL, "xen: map_pages: no guest");
	return xmig__xen_map(x, pfns, n, ptrs, flags);
}

static void xen_unmap_pages(struct xmig_backend *b, void **ptrs, unsigned int n)
{
	xmig__xen_unmap(xmig__xen_of(b), ptrs, n);
}

static int xen_pause(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);

	return source_only(x, "pause") ?: xmig__xen_suspend(x);
}

static int xen_resume(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);

	int err = source_only(x, "resume") ?: xmig__xen_resume(x);

	if (!err && !x->logging)
		xmig__xen_unclaim_source(x);
	return err;
}

static int xen_save_state(struct xmig_backend *b, xmig_state_emit_fn emit, void *ctx)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (source_only(x, "save_state"))
		return XMIG_EINVAL;
	if (!x->paused)
		return xmig__fail(XMIG_EINVAL, "xen: save_state: d%u is running", x->domid);
	return x->type->save(x, emit, ctx);
}

/* Zero frames the engine does not write still have to exist, as zeros. */
static int xen_populate(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (x->side != XMIG__XEN_DEST || x->dstate != XMIG__XEN_D_CREATED)
		return xmig__fail(XMIG_EINVAL, "xen: populate before create");
	return xmig__xen_populate_zero(x, pfns, n);
}

/* Frames the source gave back after they were sent leave this domain too. */
static int xen_release(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (x->side != XMIG__XEN_DEST || x->dstate != XMIG__XEN_D_CREATED)
		return xmig__fail(XMIG_EINVAL, "xen: release before create");
	return xmig__xen_release(x, pfns, n);
}

static int xen_create(struct xmig_backend *b, const struct xmig_guest_info *info)
{
	struct xmig__xen *x = xmig__xen_of(b);
	int err;

	if (x->side != XMIG__XEN_DEST)
		return xmig__fail(XMIG_EINVAL, "xen: create on a source");
	if (x->dstate != XMIG__XEN_D_EMPTY)
		return xmig__fail(XMIG_EINVAL, "xen: create: d%u exists", x->domid);
	if (info->guest_kind != XMIG_GUEST_XEN_PVH && info->guest_kind != XMIG_GUEST_XEN_HVM &&
	    info->guest_kind != XMIG_GUEST_XEN_PV)
		return xmig__fail(XMIG_ENOTSUP, "xen: cannot restore a guest of kind %u "
				  "(Xen HVM, PVH and PV only)", info->guest_kind);
	if (info->page_size != XMIG__XEN_PAGE)
		return xmig__fail(XMIG_EINVAL, "xen: page size %u, expected 4096",
				  info->page_size);
	if (info->nr_pages > (1ull << 36))
		return xmig__fail(XMIG_EINVAL, "xen: %llu frames: more than this backend maps",
				  (unsigned long long)info->nr_pages);
	x->nr_pages = info->nr_pages;
	x->nr_vcpus = info->nr_vcpus;
	x->guest_kind = info->guest_kind;
	x->type = info->guest_kind == XMIG_GUEST_XEN_PV ? &xmig__xen_type_pv
							 : &xmig__xen_type_hvm;
	err = xmig__xen_mem_init(x);
	if (!err && info->guest_kind == XMIG_GUEST_XEN_PV)
		err = xmig__xen_pv_dest_init(x);
	if (!err)
		err = x->p.domid ? xmig__xen_domain_adopt(x, info)
				 : xmig__xen_domain_create(x, info);
	if (err) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", xmig__last_message());
		if (xmig__xen_domain_destroy(x) < 0)
			xmig__xen_note(x, "the half-made d%u could not be destroyed: %s", x->domid,
				       xmig__last_message());
		xmig__xen_mem_fini(x);
		return xmig__fail(err, "%s", msg);
	}
	return 0;
}

static int xen_load_state(struct xmig_backend *b, uint32_t vcpu, uint32_t type,
			  const void *data, size_t len)
{
	struct xmig__xen *x = xmig__xen_of(b);
	const void *body;
	size_t body_len;
	char why[200];

	if (x->side != XMIG__XEN_DEST || x->dstate != XMIG__XEN_D_CREATED)
		return xmig__fail(XMIG_EINVAL, "xen: load_state: no guest being restored");
	if (vcpu != XMIG_STATE_PLATFORM)
		return xmig__fail(XMIG_EINVAL, "xen: state blob type %u for vCPU %u: this "
				  "backend has platform blobs only", type, vcpu);
	if (xmig__xen_blob_check(data, len, type, &body, &body_len, why, sizeof(why)))
		return xmig__fail(XMIG_EINVAL, "xen: %s", why);
	return x->type->load(x, type, body, body_len);
}

static int xen_restore_complete(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (x->side != XMIG__XEN_DEST)
		return xmig__fail(XMIG_EINVAL, "xen: restore_complete on a source");
	if (x->released)
		xmig__xen_note(x, "gave back %llu frames the source announced absent after "
			       "sending them (ballooned out)", (unsigned long long)x->released);
	return xmig__xen_domain_prepare(x);
}

static int xen_unpause(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (x->side != XMIG__XEN_DEST)
		return xmig__fail(XMIG_EINVAL, "xen: unpause on a source");
	return xmig__xen_domain_start(x, 1);
}

static int xen_commit(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);
	int rc;

	if (x->side != XMIG__XEN_DEST)
		return xmig__fail(XMIG_EINVAL, "xen: commit on a source");
	rc = xmig__xen_domain_start(x, 0);
	return rc < 0 ? rc : 0;
}

/*
 * The source domain, after a confirmed commit. If Xen refuses, the domain is
 * still there: keep its domid and report it, so the caller can retry. Once it
 * is destroyed nothing of its memory is read again, so every mapping goes.
 */
static int source_destroy(struct xmig__xen *x)
{
	char dom[64], *vm = NULL;
	unsigned int len;

	if (x->gone)
		return 0;
	xmig__xen_log_stop(x);
	if (xmig__xen_store_open(x) == 0) {
		char path[96];

		xmig__xen_dom_path(path, sizeof(path), x->domid, "vm");
		vm = xs_read(x->xsh, XBT_NULL, path, &len);
	}
	if (xc_domain_destroy(x->xch, x->domid) < 0 && errno != ESRCH) {
		free(vm);
		return xmig__fail_errno(XMIG_EBACKEND, "xen: destroying the source d%u (it is "
					"still there)", x->domid);
	}
	x->gone = 1;
	x->paused = 0;
	/* Xen frees a destroyed domain's memory only when the last foreign
	 * mapping of it goes: drop ours now, not when the caller frees the
	 * backend, or the domain stays listed as dying for as long as it lives. */
	for (unsigned int i = 0; i < XMIG__XEN_MAX_MAPS; i++)
		if (x->maps[i].ptrs)
			xmig__xen_unmap(x, x->maps[i].ptrs, 0);
	xmig__xen_mem_fini(x);
	xmig__xen_unclaim_source(x);
	/* What `xl destroy` removes, so the name is free for the migrated guest. */
	if (x->xsh) {
		char path[64];

		xmig__xen_dom_path(dom, sizeof(dom), x->domid, NULL);
		xs_rm(x->xsh, XBT_NULL, dom);
		snprintf(path, sizeof(path), "/libxl/%u", x->domid);
		xs_rm(x->xsh, XBT_NULL, path);
		if (vm && strncmp(vm, "/vm/", 4) == 0)
			xs_rm(x->xsh, XBT_NULL, vm);
	}
	free(vm);
	return 0;
}

static int xen_destroy(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);
	int err;

	if (x->side == XMIG__XEN_SOURCE)
		return source_destroy(x);
	for (unsigned int i = 0; i < XMIG__XEN_MAX_MAPS; i++)
		if (x->maps[i].ptrs)
			xmig__xen_unmap(x, x->maps[i].ptrs, 0);
	err = xmig__xen_domain_destroy(x);
	if (err)
		return err; /* the domain and what names it stay, for a retry */
	xmig__xen_mem_fini(x);
	return 0;
}

static void xen_free(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (!b)
		return;
	/* A destination never started is partial: destroy it. A running one,
	 * or a source, belongs to the host: keep it. */
	if (x->side == XMIG__XEN_DEST && x->dstate == XMIG__XEN_D_CREATED &&
	    xmig__xen_domain_destroy(x) < 0)
		xmig__xen_note(x, "freed with the partial d%u still there (%s): destroy it by hand",
			       x->domid, xmig__last_message());
	if (x->side == XMIG__XEN_SOURCE && !x->gone) {
		xmig__xen_log_stop(x);
		xmig__xen_suspend_release(x);
		/* a source left stopped keeps its claim: xmig_xen_cleanup finds it */
		if (x->paused)
			xmig__xen_note(x, "freed with d%u still stopped", x->domid);
		else
			xmig__xen_unclaim_source(x);
	}
	xmig__xen_mem_fini(x);
	if (x->xce) {
		if (x->evtchn_port > 0)
			xenevtchn_unbind(x->xce, (evtchn_port_t)x->evtchn_port);
		xenevtchn_close(x->xce);
	}
	if (x->xsh)
		xs_close(x->xsh);
	if (x->fmem)
		xenforeignmemory_close(x->fmem);
	if (x->xch)
		xc_interface_close(x->xch);
	free(x);
}

static const struct xmig_backend_ops xen_ops = {
	.version = XMIG_BACKEND_OPS_VERSION,
	.name = "xen",
	.describe = xen_describe,
	.log_dirty_start = xen_log_dirty_start,
	.log_dirty_stop = xen_log_dirty_stop,
	.dirty_fetch = xen_dirty_fetch,
	.map_pages = xen_map_pages,
	.unmap_pages = xen_unmap_pages,
	.pause = xen_pause,
	.resume = xen_resume,
	.save_state = xen_save_state,
	.create = xen_create,
	.populate = xen_populate,
	.release = xen_release,
	.load_state = xen_load_state,
	.restore_complete = xen_restore_complete,
	.unpause = xen_unpause,
	.destroy = xen_destroy,
	.free = xen_free,
	.commit = xen_commit,
};

static int is_xen(struct xmig_backend *b)
{
	return b && b->ops == &xen_ops;
}

static int xen_alloc(struct xmig__xen **out, enum xmig__xen_side side,
		     const struct xmig_xen_params *p)
{
	struct xmig__xen *x;
	struct xmig_xen_params def = XMIG_XEN_PARAMS_INIT;

	if (!p)
		p = &def;
	if (p->version != XMIG_XEN_PARAMS_VERSION)
		return xmig__fail(XMIG_EINVAL, "xen: params version %u, expected %u", p->version,
				  XMIG_XEN_PARAMS_VERSION);
	if (p->suspend < XMIG_XEN_SUSPEND_AUTO || p->suspend > XMIG_XEN_SUSPEND_TOOLSTACK)
		return xmig__fail(XMIG_EINVAL, "xen: unknown suspend mode %d", p->suspend);
	if (p->suspend == XMIG_XEN_SUSPEND_TOOLSTACK && !p->suspend_fn)
		return xmig__fail(XMIG_EINVAL, "xen: suspend mode TOOLSTACK needs a suspend_fn");
	if (p->name && !xmig__xen_name_ok(p->name))
		return xmig__fail(XMIG_EINVAL, "xen: bad domain name '%s'", p->name);
	x = calloc(1, sizeof(*x));
	if (!x)
		return xmig__fail(XMIG_ENOMEM, "xen: out of memory");
	x->base.ops = &xen_ops;
	x->side = side;
	x->p = *p;
	if (!x->p.suspend_timeout_ms)
		x->p.suspend_timeout_ms = 60000;
	if (!x->p.suspend_ack_timeout_ms)
		x->p.suspend_ack_timeout_ms = 60000;
	if (p->name)
		snprintf(x->name, sizeof(x->name), "%s", p->name);
	x->p.name = NULL; /* not kept: the caller's string */
	x->xch = xc_interface_open(&xmig__xen_quiet_logger, &xmig__xen_quiet_logger, 0);
	if (!x->xch) {
		free(x);
		return xmig__fail_errno(XMIG_ENOTSUP, "xen: cannot open the Xen control interface "
					"(not in a Xen control domain, or not root)");
	}
	x->fmem = xenforeignmemory_open(&xmig__xen_quiet_logger, 0);
	if (!x->fmem) {
		xc_interface_close(x->xch);
		free(x);
		return xmig__fail_errno(XMIG_ENOTSUP, "xen: cannot open foreign memory");
	}
	*out = x;
	return 0;
}

/*
 * The Xen libraries log through a xentoollog logger, by default onto
 * stderr; the library never prints. This one keeps an error's text as the
 * per-thread message (the backend's own message then says what failed) and
 * drops the rest.
 */
static void XMIG__PRINTF(5, 0) quiet_vmessage(struct xentoollog_logger *logger,
					      xentoollog_level level, int errnoval,
					      const char *context, const char *format,
					      va_list al)
{
	char msg[256];

	(void)logger;
	if (level < XTL_ERROR)
		return;
	vsnprintf(msg, sizeof(msg), format, al);
	if (errnoval >= 0)
		xmig__fail(XMIG_EBACKEND, "%s: %s: %s", context ? context : "xen", msg,
			   strerror(errnoval));
	else
		xmig__fail(XMIG_EBACKEND, "%s: %s", context ? context : "xen", msg);
}

static void quiet_progress(struct xentoollog_logger *logger, const char *context,
			   const char *doing_what, int percent, unsigned long done,
			   unsigned long total)
{
	(void)logger, (void)context, (void)doing_what, (void)percent, (void)done, (void)total;
}

static void quiet_destroy(struct xentoollog_logger *logger)
{
	(void)logger;
}

xentoollog_logger xmig__xen_quiet_logger = {
	.vmessage = quiet_vmessage,
	.progress = quiet_progress,
	.destroy = quiet_destroy,
};

XMIG__API void xmig_xen_params_init(struct xmig_xen_params *p)
{
	struct xmig_xen_params d = XMIG_XEN_PARAMS_INIT;

	*p = d;
}

XMIG__API int xmig_xen_available(void)
{
	struct xmig__xen *x;
	xc_domaininfo_t di;
	int err = xen_alloc(&x, XMIG__XEN_DEST, NULL);

	if (err)
		return XMIG_ENOTSUP;
	x->domid = 0;
	err = xmig__xen_dominfo(x, &di);
	xen_free(&x->base);
	return err ? xmig__fail(XMIG_ENOTSUP, "xen: cannot query domain 0: not privileged?")
		   : 0;
}

XMIG__API int xmig_xen_open(struct xmig_backend **out, uint32_t domid,
			    const struct xmig_xen_params *p)
{
	struct xmig__xen *x;
	xc_domaininfo_t di;
	xen_pfn_t max_gfn = 0;
	int err;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xen: NULL argument");
	*out = NULL;
	if (domid == 0 || domid >= 0x7ff0)
		return xmig__fail(XMIG_EINVAL, "xen: cannot migrate domain %u", domid);
	err = xen_alloc(&x, XMIG__XEN_SOURCE, p);
	if (err)
		return err;
	x->domid = domid;
	err = xmig__xen_dominfo(x, &di);
	if (!err && (di.flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown)))
		err = xmig__fail(XMIG_EINVAL, "xen: d%u is %s", domid,
				 (di.flags & XEN_DOMINF_dying) ? "dying" : "shut down");
	if (!err)
		err = pick_type(x, &di);
	if (!err && x->guest_kind != XMIG_GUEST_XEN_PV) {
		if (xc_domain_maximum_gpfn(x->xch, domid, &max_gfn) < 0)
			err = xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: maximum gpfn", domid);
		else
			x->nr_pages = (uint64_t)max_gfn + 1;
	}
	if (!err) {
		x->nr_vcpus = di.max_vcpu_id + 1;
		err = xmig__xen_mem_init(x);
	}
	if (err) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", xmig__last_message());
		xen_free(&x->base);
		return xmig__fail(err, "%s", msg);
	}
	*out = &x->base;
	return 0;
}

XMIG__API int xmig_xen_new_dest(struct xmig_backend **out, const struct xmig_xen_params *p)
{
	struct xmig__xen *x;
	int err;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xen: NULL argument");
	*out = NULL;
	if (p && p->domid && p->name)
		return xmig__fail(XMIG_EINVAL, "xen: a name is for the built-in toolstack; the "
				  "caller's domain d%u has its own", p->domid);
	err = xen_alloc(&x, XMIG__XEN_DEST, p);
	if (err)
		return err;
	*out = &x->base;
	return 0;
}

XMIG__API uint32_t xmig_xen_domid(struct xmig_backend *b)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (!is_xen(b))
		return 0;
	if (x->side == XMIG__XEN_DEST && x->dstate == XMIG__XEN_D_EMPTY)
		return 0;
	return x->domid;
}

XMIG__API int xmig_xen_restore_info(struct xmig_backend *b, struct xmig_xen_restore_info *out)
{
	struct xmig__xen *x = xmig__xen_of(b);

	if (!is_xen(b) || !out)
		return xmig__fail(XMIG_EINVAL, "xen: not a xen backend handle");
	if (!x->ri_valid)
		return xmig__fail(XMIG_EINVAL, "xen: no restored guest (yet)");
	*out = x->ri;
	return 0;
}

XMIG__API const char *xmig_xen_notes(struct xmig_backend *b)
{
	if (!is_xen(b))
		return "";
	return xmig__xen_of(b)->notes;
}

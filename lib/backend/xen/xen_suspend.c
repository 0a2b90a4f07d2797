/* SPDX-License-Identifier: MIT */
/*
 * Stopping a source for stop-and-copy, and letting it run again after a
 * failed migration. The ways, and how AUTO picks one, are in
 * xmig/backend/xen.h; they follow libxl (libxl_dom_suspend.c) except for a
 * PVH guest without PV drivers, which libxl asks through xenstore (and it
 * never answers): a guest that has no PV drivers cannot tell a suspend from
 * a pause, so a pause it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xen_internal.h"

static const char *mode_name(int mode)
{
	switch (mode) {
	case XMIG_XEN_SUSPEND_PAUSE: return "pause";
	case XMIG_XEN_SUSPEND_SHUTDOWN: return "shutdown";
	case XMIG_XEN_SUSPEND_XENSTORE: return "xenstore";
	case XMIG_XEN_SUSPEND_EVTCHN: return "evtchn";
	case XMIG_XEN_SUSPEND_TOOLSTACK: return "the toolstack";
	default: return "auto";
	}
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The guest's suspend event channel, from xenstore; -1 if none. */
static int suspend_port(struct xmig__xen *x)
{
	char path[96], *v;
	unsigned int len;
	int port = -1;

	if (xmig__xen_store_open(x) < 0)
		return -1;
	if (xmig__xen_dom_path(path, sizeof(path), x->domid, "device/suspend/event-channel"))
		return -1;
	v = xs_read(x->xsh, XBT_NULL, path, &len);
	if (v && len) {
		char *end;
		long l = strtol(v, &end, 10);

		if (*end == '\0' && l > 0 && l < (1 << 20))
			port = (int)l;
	}
	free(v);
	return port;
}

static int choose(struct xmig__xen *x)
{
	uint64_t cb = 0;

	if (x->guest_kind == XMIG_GUEST_XEN_PV) {
		/* Only its own suspend path makes a PV guest's memory movable. */
		if (x->p.suspend == XMIG_XEN_SUSPEND_TOOLSTACK)
			return x->p.suspend; /* and its suspend is the guest's own */
		if (x->p.suspend == XMIG_XEN_SUSPEND_PAUSE ||
		    x->p.suspend == XMIG_XEN_SUSPEND_SHUTDOWN)
			return xmig__fail(XMIG_EINVAL, "xen: d%u is a PV guest: it must suspend "
					  "itself (xenstore or evtchn), not be paused or shut "
					  "down", x->domid);
		if (x->p.suspend != XMIG_XEN_SUSPEND_AUTO)
			return x->p.suspend;
		return suspend_port(x) > 0 ? XMIG_XEN_SUSPEND_EVTCHN : XMIG_XEN_SUSPEND_XENSTORE;
	}
	if (x->p.suspend != XMIG_XEN_SUSPEND_AUTO)
		return x->p.suspend;
	if (suspend_port(x) > 0)
		return XMIG_XEN_SUSPEND_EVTCHN;
	if (xc_hvm_param_get(x->xch, x->domid, XMIG__HVMP_CALLBACK_IRQ, &cb) == 0 && cb)
		return XMIG_XEN_SUSPEND_XENSTORE;
	return XMIG_XEN_SUSPEND_PAUSE;
}

/* 1 once the domain reports shutdown reason suspend, 0 not yet, <0 error. */
static int is_suspended(struct xmig__xen *x)
{
	xc_domaininfo_t di;
	int err = xmig__xen_dominfo(x, &di);

	if (err)
		return err;
	if (!(di.flags & XEN_DOMINF_shutdown))
		return 0;
	if (((di.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask) != SHUTDOWN_suspend)
		return xmig__fail(XMIG_EGUEST, "xen: d%u shut down (reason %u) instead of "
				  "suspending", x->domid,
				  (di.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask);
	return 1;
}

/* Poll, backing off to 5 ms, until the domain suspended (0), `acked`
 * returns 1 (1), or `deadline` passes (XMIG_ETIMEDOUT, no message). */
static int poll_until(struct xmig__xen *x, uint64_t deadline,
		      int (*acked)(struct xmig__xen *x, const char *path), const char *path)
{
	long delay = 200;

	for (;;) {
		int r = is_suspended(x);

		if (r)
			return r < 0 ? r : 0;
		if (acked && acked(x, path))
			return 1;
		if (xmig__now_ns() > deadline)
			return XMIG_ETIMEDOUT;
		sleep_us(delay);
		if (delay < 5000)
			delay *= 2;
	}
}

/*
 * The guest took the request (or was sent an event, which cannot be taken
 * back): it is on its way to suspend. Wait for it, bounded by its own
 * limit; a late suspend is still a pause. Giving up leaves it marked
 * pending, so that a later pause or free finds it if it suspends after all.
 */
static int wait_after_ack(struct xmig__xen *x, int mode, const char *how, uint64_t t0)
{
	uint64_t deadline = xmig__now_ns() + (uint64_t)x->p.suspend_ack_timeout_ms * 1000000ull;
	int r = poll_until(x, deadline, NULL, NULL);

	if (r == 0) {
		if (xmig__now_ns() - t0 > (uint64_t)x->p.suspend_timeout_ms * 1000000ull)
			xmig__xen_note(x, "d%u took the suspend request (%s) in time and suspended "
				       "%.0f ms after it", x->domid, how,
				       (double)(xmig__now_ns() - t0) / 1e6);
		return 0;
	}
	if (r == XMIG_ETIMEDOUT) {
		x->suspend_pending = mode;
		return xmig__fail(XMIG_ETIMEDOUT,
				  "xen: d%u took the suspend request (%s) but had not suspended "
				  "%u ms later: the migration stops here; the guest is still "
				  "running, and if it suspends later this handle resumes it",
				  x->domid, how, x->p.suspend_ack_timeout_ms);
	}
	return r;
}

/* 1 once control/shutdown no longer says "suspend": the guest took it. */
static int request_taken(struct xmig__xen *x, const char *path)
{
	unsigned int len;
	char *v = xs_read(x->xsh, XBT_NULL, path, &len);
	int taken = !v || strcmp(v, "suspend") != 0;

	free(v);
	return taken;
}

/*
 * Withdraw a request the guest has not taken, as libxl does: in one
 * transaction, clear control/shutdown if it still says "suspend". 1: the
 * request was withdrawn (the guest never saw it as taken); 0: the guest took
 * it (at the last moment, or the value changed); < 0: xenstore failed.
 */
static int withdraw_request(struct xmig__xen *x, const char *path)
{
	for (int tries = 0; tries < 20; tries++) {
		xs_transaction_t t = xs_transaction_start(x->xsh);
		unsigned int len;
		char *v;
		int still;

		if (!t)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: xenstore transaction",
						x->domid);
		v = xs_read(x->xsh, t, path, &len);
		still = v && strcmp(v, "suspend") == 0;
		free(v);
		if (still && !xs_write(x->xsh, t, path, "", 0)) {
			xs_transaction_end(x->xsh, t, true);
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: withdrawing %s",
						x->domid, path);
		}
		if (xs_transaction_end(x->xsh, t, false))
			return still;
		if (errno != EAGAIN)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: withdrawing %s",
						x->domid, path);
	}
	return xmig__fail(XMIG_EBACKEND, "xen: d%u: withdrawing %s: the transaction kept "
			  "conflicting", x->domid, path);
}

static int suspend_xenstore(struct xmig__xen *x, uint64_t t0)
{
	uint64_t deadline = t0 + (uint64_t)x->p.suspend_timeout_ms * 1000000ull;
	char path[96];
	int err;

	err = xmig__xen_store_open(x);
	if (err)
		return err;
	xmig__xen_dom_path(path, sizeof(path), x->domid, "control/shutdown");
	if (!xs_write(x->xsh, XBT_NULL, path, "suspend", 7))
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: writing %s", x->domid, path);
	err = poll_until(x, deadline, request_taken, path);
	if (err == XMIG_ETIMEDOUT) {
		err = withdraw_request(x, path);
		if (err < 0)
			return err;
		if (err == 1)
			return xmig__fail(XMIG_ETIMEDOUT,
					  "xen: d%u did not take the suspend request within %u ms "
					  "(request withdrawn; the guest keeps running)",
					  x->domid, x->p.suspend_timeout_ms);
		err = 1; /* taken at the last moment */
	}
	if (err == 1)
		return wait_after_ack(x, XMIG_XEN_SUSPEND_XENSTORE, "xenstore control/shutdown",
				      t0);
	return err;
}

static int suspend_evtchn(struct xmig__xen *x, uint64_t t0)
{
	uint64_t deadline = t0 + (uint64_t)x->p.suspend_timeout_ms * 1000000ull;
	int port = suspend_port(x), err;

	if (port <= 0)
		return xmig__fail(XMIG_ENOTSUP, "xen: d%u has no suspend event channel",
				  x->domid);
	if (!x->xce) {
		x->xce = xenevtchn_open(&xmig__xen_quiet_logger, 0);
		if (!x->xce)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: xenevtchn_open");
	}
	/* one binding per handle: a second pause reuses it */
	if (x->evtchn_port <= 0) {
		int local = xenevtchn_bind_interdomain(x->xce, x->domid, (evtchn_port_t)port);

		if (local < 0)
			return xmig__fail_errno(XMIG_EBACKEND,
						"xen: d%u: binding suspend channel %d", x->domid,
						port);
		x->evtchn_port = local;
	}
	if (xenevtchn_notify(x->xce, (evtchn_port_t)x->evtchn_port) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: notifying suspend channel",
					x->domid);
	err = poll_until(x, deadline, NULL, NULL);
	/* an event cannot be withdrawn: the guest may be suspending */
	if (err == XMIG_ETIMEDOUT)
		return wait_after_ack(x, XMIG_XEN_SUSPEND_EVTCHN, "the suspend event channel", t0);
	return err;
}

static int wait_suspended(struct xmig__xen *x, const char *how)
{
	uint64_t deadline = xmig__now_ns() + (uint64_t)x->p.suspend_timeout_ms * 1000000ull;
	int r = poll_until(x, deadline, NULL, NULL);

	if (r == XMIG_ETIMEDOUT)
		return xmig__fail(XMIG_ETIMEDOUT, "xen: d%u did not suspend within %u ms (asked "
				  "by %s)", x->domid, x->p.suspend_timeout_ms, how);
	return r;
}

/* A request taken earlier, on which pause gave up: did the guest suspend
 * since? 1 yes (it is now stopped by that request's mode), 0 no. */
static int pending_suspended(struct xmig__xen *x)
{
	if (!x->suspend_pending || is_suspended(x) != 1)
		return 0;
	x->paused = x->suspend_pending;
	x->suspend_pending = 0;
	xmig__xen_note(x, "d%u suspended after an earlier pause had given up on it", x->domid);
	return 1;
}

void xmig__xen_suspend_release(struct xmig__xen *x)
{
	if (!pending_suspended(x)) {
		if (x->suspend_pending)
			xmig__xen_note(x, "d%u took a suspend request and has not suspended: if "
				       "it does, it needs resuming (XEN_DOMCTL_resumedomain)",
				       x->domid);
		return;
	}
	if (xmig__xen_resume(x) < 0)
		xmig__xen_note(x, "d%u suspended late and could not be resumed: %s", x->domid,
			       xmig__last_message());
	else
		xmig__xen_note(x, "d%u suspended late, after the migration gave up: resumed",
			       x->domid);
}

int xmig__xen_suspend(struct xmig__xen *x)
{
	int mode, err;
	uint64_t t0 = xmig__now_ns();

	if (x->paused || pending_suspended(x))
		return 0;
	mode = choose(x);
	if (mode < 0)
		return mode;
	switch (mode) {
	case XMIG_XEN_SUSPEND_PAUSE:
		err = xc_domain_pause(x->xch, x->domid) < 0
			      ? xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: pause", x->domid)
			      : 0;
		break;
	case XMIG_XEN_SUSPEND_SHUTDOWN:
		err = xc_domain_shutdown(x->xch, x->domid, SHUTDOWN_suspend) < 0
			      ? xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: shutdown(suspend)",
						 x->domid)
			      : wait_suspended(x, "xc_domain_shutdown");
		break;
	case XMIG_XEN_SUSPEND_XENSTORE:
		err = suspend_xenstore(x, t0);
		break;
	case XMIG_XEN_SUSPEND_EVTCHN:
		err = suspend_evtchn(x, t0);
		break;
	case XMIG_XEN_SUSPEND_TOOLSTACK:
		if (x->p.suspend_fn(x->domid, x->p.payload))
			err = xmig__fail(XMIG_EBACKEND, "xen: the toolstack could not suspend d%u",
					 x->domid);
		else if ((err = is_suspended(x)) == 0)
			err = xmig__fail(XMIG_EBACKEND, "xen: the toolstack says d%u is suspended, "
					 "but Xen does not", x->domid);
		else if (err > 0)
			err = 0;
		break;
	default:
		err = xmig__fail(XMIG_EINVAL, "xen: unknown suspend mode %d", mode);
	}
	if (err)
		return err;
	x->paused = mode;
	xmig__xen_note(x, "stopped by %s in %.3f ms", mode_name(mode),
		       (double)(xmig__now_ns() - t0) / 1e6);
	return 0;
}

/* A guest that suspended itself sees its suspend hypercall return 1:
 * "cancelled, you are still where you were" (libxenguest's fast resume). */
static int set_cancelled(struct xmig__xen *x)
{
	vcpu_guest_context_any_t ctx;
	uint64_t cb = 0;

	if (x->guest_kind != XMIG_GUEST_XEN_PV &&
	    xc_hvm_param_get(x->xch, x->domid, XMIG__HVMP_CALLBACK_IRQ, &cb) == 0 && !cb)
		return 0; /* no PV drivers: nobody made a hypercall */
	if (xc_vcpu_getcontext(x->xch, x->domid, 0, &ctx) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: vCPU 0 context", x->domid);
	ctx.x64.user_regs.rax = 1;
	if (xc_vcpu_setcontext(x->xch, x->domid, 0, &ctx) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: setting vCPU 0 context",
					x->domid);
	return 0;
}

int xmig__xen_resume(struct xmig__xen *x)
{
	struct xen_domctl dc;
	int err;

	if (!x->paused)
		return 0;
	if (x->paused == XMIG_XEN_SUSPEND_TOOLSTACK) {
		if (!x->p.resume_fn)
			return xmig__fail(XMIG_ENOTSUP, "xen: d%u was suspended by the toolstack, "
					  "which has no resume here: resume it there", x->domid);
		if (x->p.resume_fn(x->domid, x->p.payload))
			return xmig__fail(XMIG_EBACKEND, "xen: the toolstack could not resume d%u",
					  x->domid);
		x->paused = 0;
		return 0;
	}
	if (x->paused == XMIG_XEN_SUSPEND_PAUSE) {
		if (xc_domain_unpause(x->xch, x->domid) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: unpause", x->domid);
		x->paused = 0;
		return 0;
	}
	err = set_cancelled(x);
	if (err)
		return err;
	memset(&dc, 0, sizeof(dc));
	dc.cmd = XEN_DOMCTL_resumedomain;
	dc.domain = (domid_t)x->domid;
	if (xc_domctl(x->xch, &dc) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: resumedomain", x->domid);
	x->paused = 0;
	if (xmig__xen_store_open(x) == 0 && !xs_resume_domain(x->xsh, x->domid))
		xmig__xen_note(x, "xenstore resume of d%u failed: %s", x->domid, strerror(errno));
	if (x->xce && x->evtchn_port > 0) {
		xenevtchn_unbind(x->xce, (evtchn_port_t)x->evtchn_port);
		x->evtchn_port = 0;
	}
	return 0;
}

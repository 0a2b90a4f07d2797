/* SPDX-License-Identifier: MIT */
/*
 * Claims (xen_format.h) and the leftovers of dead xmig processes
 * (xmig_xen_cleanup in xmig/backend/xen.h): a destination domain created and
 * never started, a source left in log-dirty mode or stopped.
 *
 * A claim is written where nothing waits on it (a destination's at creation,
 * in the same xenstore transaction as its skeleton; a source's when
 * log-dirty goes on) and removed once the domain is in a state that needs no
 * owner (started, destroyed, log-dirty off and running). Never in the
 * downtime: whether a source was stopped is read from Xen afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "xen_internal.h"

#define CLAIM_IN "/xmig/incoming"
#define CLAIM_OUT "/xmig/outgoing"

/* /proc/PID/stat field 22 (start time in clock ticks); 0 if PID is gone. */
static unsigned long long proc_start(int pid)
{
	char path[48], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* the command name may hold spaces and ')': fields follow the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (int field = 3; field <= 22 && p; field++) {
		while (*p == ' ')
			p++;
		if (field == 22)
			start = strtoull(p, NULL, 10);
		p = strchr(p, ' ');
	}
	return start;
}

static void claim_path(char *out, size_t n, int outgoing, uint32_t domid)
{
	snprintf(out, n, "%s/%u", outgoing ? CLAIM_OUT : CLAIM_IN, domid);
}

int xmig__xen_claim_put(struct xmig__xen *x, xs_transaction_t t, int outgoing,
			const uint8_t uuid[16], const char *state)
{
	struct xmig__xen_claim c;
	char path[64], val[XMIG__XEN_CLAIM_MAX + 1];
	int n;

	memset(&c, 0, sizeof(c));
	c.pid = (int)getpid();
	c.start = proc_start(c.pid);
	xmig__xen_uuid_str(uuid, c.uuid);
	snprintf(c.state, sizeof(c.state), "%s", state);
	n = xmig__xen_claim_format(&c, val, sizeof(val));
	if (n < 0 || xmig__xen_store_open(x))
		return -1;
	claim_path(path, sizeof(path), outgoing, x->domid);
	if (!xs_write(x->xsh, t, path, val, (unsigned int)n))
		return -1;
	return 0;
}

void xmig__xen_claim_drop(struct xmig__xen *x, int outgoing, uint32_t domid)
{
	char path[64];

	if (!x->xsh)
		return; /* no claim was written without xenstore */
	claim_path(path, sizeof(path), outgoing, domid);
	xs_rm(x->xsh, XBT_NULL, path);
}

/* A source about to go into log-dirty mode: claim it (its handle from Xen). */
void xmig__xen_claim_source(struct xmig__xen *x)
{
	xc_domaininfo_t di;

	if (x->p.suspend == XMIG_XEN_SUSPEND_TOOLSTACK || x->claimed)
		return; /* the toolstack's domain: it puts it right itself */
	if (xmig__xen_dominfo(x, &di) ||
	    xmig__xen_claim_put(x, XBT_NULL, 1, di.handle, "live") < 0) {
		xmig__xen_note(x, "no leftover note for d%u (%s): if this process dies, "
			       "xmig_xen_cleanup will not know of it", x->domid,
			       strerror(errno));
		return;
	}
	x->claimed = 1;
}

void xmig__xen_unclaim_source(struct xmig__xen *x)
{
	if (!x->claimed)
		return;
	xmig__xen_claim_drop(x, 1, x->domid);
	x->claimed = 0;
}

/* ---- cleanup ---------------------------------------------------------- */

struct walk {
	struct xmig__xen *x; /* a handle for the calls (no domain of its own) */
	unsigned int flags;
	uint32_t resume_domid;
	int resume_found;
	int count;
	int failed;
	xmig_xen_leftover_fn fn;
	void *payload;
};

static void report(struct walk *w, struct xmig_xen_leftover *l)
{
	if (l->action != XMIG_XEN_LEFT_OWNER_ALIVE)
		w->count++;
	if (l->action == XMIG_XEN_LEFT_FAILED)
		w->failed = 1;
	xmig__sanitize(l->name);
	xmig__sanitize(l->why);
	if (w->fn)
		w->fn(l, w->payload);
}

static void failed(struct xmig_xen_leftover *l, const char *what)
{
	l->action = XMIG_XEN_LEFT_FAILED;
	snprintf(l->why, sizeof(l->why), "%s: %s", what, strerror(errno));
}

static void read_name(struct walk *w, uint32_t domid, struct xmig_xen_leftover *l)
{
	char path[64];
	unsigned int len = 0;
	char *v;

	xmig__xen_dom_path(path, sizeof(path), domid, "name");
	v = xs_read(w->x->xsh, XBT_NULL, path, &len);
	if (v) {
		snprintf(l->name, sizeof(l->name), "%.*s", (int)len, v);
		free(v);
	}
}

/* What `xl destroy` removes besides the domain: its xenstore trees. */
static void forget_domain(struct walk *w, uint32_t domid)
{
	char path[96], *vm;
	unsigned int len = 0;

	xmig__xen_dom_path(path, sizeof(path), domid, "vm");
	vm = xs_read(w->x->xsh, XBT_NULL, path, &len);
	xmig__xen_dom_path(path, sizeof(path), domid, NULL);
	xs_rm(w->x->xsh, XBT_NULL, path);
	snprintf(path, sizeof(path), "/libxl/%u", domid);
	xs_rm(w->x->xsh, XBT_NULL, path);
	if (vm && len > 4 && strncmp(vm, "/vm/", 4) == 0 && !memchr(vm, 0, len)) {
		snprintf(path, sizeof(path), "%.*s", (int)len, vm);
		xs_rm(w->x->xsh, XBT_NULL, path);
	}
	free(vm);
}

/* Resume a stopped source this process did not stop (xmig__xen_resume's way). */
static int resume_stopped(struct walk *w, uint32_t domid, const xc_domaininfo_t *di)
{
	struct xmig__xen *x = w->x;
	int err;

	x->domid = domid;
	x->guest_kind = (di->flags & XEN_DOMINF_hvm_guest) ? XMIG_GUEST_XEN_PVH
							    : XMIG_GUEST_XEN_PV;
	x->paused = (di->flags & XEN_DOMINF_shutdown) ? XMIG_XEN_SUSPEND_SHUTDOWN
						      : XMIG_XEN_SUSPEND_PAUSE;
	x->gone = 0;
	err = xmig__xen_resume(x);
	x->paused = 0;
	x->domid = 0;
	return err;
}

static void one(struct walk *w, int outgoing, const char *entry)
{
	struct xmig_xen_leftover l;
	struct xmig__xen_claim c;
	xc_domaininfo_t di;
	char path[64], *end, uuid[37];
	unsigned int len = 0;
	unsigned long d;
	char *v;
	int n, stopped, dry = !!(w->flags & XMIG_XEN_CLEANUP_DRY_RUN);

	memset(&l, 0, sizeof(l));
	errno = 0;
	d = strtoul(entry, &end, 10);
	snprintf(path, sizeof(path), "%s/%.20s", outgoing ? CLAIM_OUT : CLAIM_IN, entry);
	v = xs_read(w->x->xsh, XBT_NULL, path, &len);
	if (*end || errno || d == 0 || d >= 0x7ff0 || !v || xmig__xen_claim_parse(v, len, &c) ||
	    strcmp(c.state, outgoing ? "live" : "incoming") != 0) {
		free(v);
		l.domid = *end || d >= 0x7ff0 ? 0 : (uint32_t)d;
		l.action = dry ? XMIG_XEN_LEFT_REPORTED : XMIG_XEN_LEFT_GONE;
		snprintf(l.why, sizeof(l.why), "an unreadable note at %s%s", path,
			 dry ? "" : ": removed");
		if (!dry)
			xs_rm(w->x->xsh, XBT_NULL, path);
		report(w, &l);
		return;
	}
	free(v);
	l.domid = (uint32_t)d;
	l.owner_pid = c.pid;
	l.kind = outgoing ? XMIG_XEN_LEFTOVER_LIVE : XMIG_XEN_LEFTOVER_INCOMING;
	read_name(w, l.domid, &l);

	n = xc_domain_getinfolist(w->x->xch, l.domid, 1, &di);
	if (n < 0) {
		failed(&l, "reading the domain's info");
		report(w, &l);
		return;
	}
	xmig__xen_uuid_str(di.handle, uuid);
	if (n != 1 || di.domain != l.domid || strcmp(uuid, c.uuid) != 0 ||
	    (di.flags & XEN_DOMINF_dying)) {
		l.action = dry ? XMIG_XEN_LEFT_REPORTED : XMIG_XEN_LEFT_GONE;
		snprintf(l.why, sizeof(l.why), "the domain is gone%s", dry ? "" : ": note removed");
		if (!dry)
			xs_rm(w->x->xsh, XBT_NULL, path);
		report(w, &l);
		return;
	}
	stopped = (di.flags & XEN_DOMINF_paused) ||
		  ((di.flags & XEN_DOMINF_shutdown) &&
		   ((di.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask) ==
			   SHUTDOWN_suspend);
	if (outgoing && stopped)
		l.kind = XMIG_XEN_LEFTOVER_STOPPED;
	/* without a start time (unreadable then), a live pid is taken for it */
	if (c.start ? proc_start(c.pid) == c.start : (kill(c.pid, 0) == 0 || errno == EPERM)) {
		l.action = XMIG_XEN_LEFT_OWNER_ALIVE;
		report(w, &l);
		return;
	}
	if (l.kind == XMIG_XEN_LEFTOVER_STOPPED && l.domid == w->resume_domid)
		w->resume_found = 1;
	if (dry) {
		l.action = XMIG_XEN_LEFT_REPORTED;
		report(w, &l);
		return;
	}
	switch (l.kind) {
	case XMIG_XEN_LEFTOVER_INCOMING:
		/* Never unpaused: its vCPUs never ran, so none has CPU time. */
		if ((di.flags & XEN_DOMINF_paused) && di.cpu_time == 0) {
			if (xc_domain_destroy(w->x->xch, l.domid) < 0 && errno != ESRCH) {
				failed(&l, "destroying it");
				break;
			}
			forget_domain(w, l.domid);
			l.action = XMIG_XEN_LEFT_DESTROYED;
		} else {
			l.action = XMIG_XEN_LEFT_KEPT_RUNNING;
		}
		xs_rm(w->x->xsh, XBT_NULL, path);
		break;
	case XMIG_XEN_LEFTOVER_LIVE:
		if (xc_shadow_control(w->x->xch, l.domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0) {
			failed(&l, "turning log-dirty off");
			break;
		}
		l.action = XMIG_XEN_LEFT_LOGDIRTY_OFF;
		xs_rm(w->x->xsh, XBT_NULL, path);
		break;
	case XMIG_XEN_LEFTOVER_STOPPED:
		if (l.domid != w->resume_domid) {
			l.action = XMIG_XEN_LEFT_REPORTED;
			break;
		}
		if (resume_stopped(w, l.domid, &di)) {
			l.action = XMIG_XEN_LEFT_FAILED;
			snprintf(l.why, sizeof(l.why), "resuming it: %s", xmig__last_message());
			break;
		}
		/* log-dirty was on: it goes off with the note */
		xc_shadow_control(w->x->xch, l.domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0);
		xs_rm(w->x->xsh, XBT_NULL, path);
		l.action = XMIG_XEN_LEFT_RESUMED;
		break;
	}
	report(w, &l);
}

static int walk_dir(struct walk *w, int outgoing)
{
	unsigned int n = 0;
	char **e = xs_directory(w->x->xsh, XBT_NULL, outgoing ? CLAIM_OUT : CLAIM_IN, &n);

	if (!e)
		return errno == ENOENT ? 0 : -1;
	for (unsigned int i = 0; i < n; i++)
		one(w, outgoing, e[i]);
	free(e);
	return 0;
}

int xmig_xen_cleanup(unsigned int flags, uint32_t resume_domid, xmig_xen_leftover_fn fn,
		     void *payload)
{
	struct xmig_backend *b;
	struct walk w;
	int err;

	if (flags & ~XMIG_XEN_CLEANUP_DRY_RUN)
		return xmig__fail(XMIG_EINVAL, "xen: cleanup: unknown flags 0x%x", flags);
	err = xmig_xen_new_dest(&b, NULL); /* the handles only: no domain */
	if (err)
		return err;
	memset(&w, 0, sizeof(w));
	w.x = xmig__xen_of(b);
	w.flags = flags;
	w.resume_domid = resume_domid;
	w.fn = fn;
	w.payload = payload;
	if ((err = xmig__xen_store_open(w.x)) == 0 &&
	    (walk_dir(&w, 0) < 0 || walk_dir(&w, 1) < 0))
		err = xmig__fail_errno(XMIG_EBACKEND, "xen: reading xmig's notes in xenstore");
	b->ops->free(b);
	if (err)
		return err;
	if (resume_domid && !w.resume_found)
		return xmig__fail(XMIG_EINVAL, "xen: d%u is not a source a dead xmig process left "
				  "stopped (nothing resumed)", resume_domid);
	if (w.failed)
		return xmig__fail(XMIG_EBACKEND, "xen: cleanup: an action failed (reported)");
	return w.count;
}

/* SPDX-License-Identifier: MIT */
/*
 * The lab's driver: migrate a running Xen domain to a new domain on the same
 * host, sender and receiver in one process over a socketpair, through the
 * public API (xmig_send_new / xmig_recv_new with two xen backends). Prints
 * one JSON object on stdout; the log goes to stderr.
 *
 *   xen-lab-migrate DOMID [--verify] [--name NAME] [--suspend MODE]
 *                   [--downtime MS] [--policy downtime|xen-classic] [--fail-load]
 *                   [--adopt] [--fault KIND] [--balloon-to MIB] [--dirty-heap MIB]
 *
 * --fail-load makes the destination refuse the first state blob (after the
 * source was paused): the migration must fail and the source run again.
 * --adopt plays a toolstack: it creates the empty paused domain itself,
 * shaped like the source, has xmig restore into it (params.domid), and in
 * before_unpause writes the domain's xenstore directory and introduces it,
 * as xl would; --name is then the name it writes.
 *
 * --fault makes Xen itself appear to fail, once, at a chosen point: this
 * program defines xenforeignmemory_map, xc_logdirty_control and
 * xc_domain_destroy, which the statically linked libxmig then calls; they
 * call Xen's (dlsym RTLD_NEXT) and change the answer. Test-only: nothing of
 * it is in the library. KIND, each after the final log-dirty CLEAN (the
 * guest is paused) unless said otherwise:
 *   map-eio      the first read mapping of the source says EIO for its first
 *                frame (a frame Xen calls RAM): the round must fail, the
 *                source must run on
 *   map-enoent   the same with ENOENT (a paged frame): one retry, then the
 *                migration must succeed with memory verified
 *   clean-short  the final CLEAN reports one frame fewer than the p2m: fail,
 *                the source runs on
 *   destroy-src  the source domain's destroy fails once (EBUSY) after the
 *                commit: XMIG_ESRCLEFT, the guest runs on the destination;
 *                the driver then destroys the source with a second call
 *   cut-setup, cut-round0, cut-round-end, cut-state, cut-ready
 *                the connection is cut as the sender writes, in that order:
 *                MIGRATION_ID (right after HEADER: the destination domain
 *                exists), the second PAGE_BATCH of round 0, the first
 *                ROUND_END (before its ACK), the first PLATFORM_STATE (the
 *                guest paused; a Xen guest's state is all platform blobs) or COMMIT (after READY; the write fails, so
 *                COMMIT never left): the sender must fail with the source
 *                running, the receiver destroy its domain (the JSON's
 *                "domains_before"/"domains_after" count the host's live
 *                domains; "dying_after" those destroyed but still held
 *                once XLM_SETTLE_MS, default 20000, has passed)
 *   commit-lost  the sender's COMMIT is dropped (reported written) and the
 *                connection cut: the receiver never starts its guest; the
 *                sender, left ambiguous, asks it over a second connection
 *                (xmig_session_resolve / xmig_outcome_answer) and must
 *                resume the source
 *   done-lost    COMMIT arrives, the receiver's DONE is lost with the
 *                connection: asked, the receiver says the guest runs there
 *                and the sender must destroy its paused copy
 *   suspend-late (a guest with PV drivers, xenstore suspend) the guest's
 *                suspend is hidden from xmig until 1.5 s after the first
 *                limit (--suspend-timeout MS): it took the request in time,
 *                so the wait goes on (--suspend-ack-timeout MS) and the
 *                migration must succeed; before the fix it was reported as
 *                "keeps running" and left suspended
 * The JSON gets "fault" and "fault_hits" (how often it fired: 0 means the
 * scenario tested nothing) and, for destroy-src, "src_retry_rc".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define __XEN_TOOLS__ 1
#include <xenctrl.h>
#include <xenforeignmemory.h>
#include <xenstore.h>

#include "xmig/backend/xen.h"
#include "xmig/session.h"
#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"
#include "xmig/transport.h"
#include "xmig/xmig.h"

/* --fault: see the head of this file. */
enum fault {
	F_NONE, F_MAP_EIO, F_MAP_ENOENT, F_CLEAN_SHORT, F_DESTROY_SRC, F_SUSPEND_LATE,
	F_COMMIT_LOST, F_DONE_LOST, F_CUT,
};
static enum fault fault_kind;
static uint32_t fault_dom;       /* the source domain */
static int fault_after_final;    /* the final CLEAN has been made */
static int fault_hits;
static uint64_t fault_req_ns, fault_hide_ns; /* suspend-late: request time, hide for */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *real_fn(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		fprintf(stderr, "xen-lab-migrate: no %s to wrap: %s\n", name, dlerror());
		abort();
	}
	return f;
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
			   const xen_pfn_t arr[], int err[])
{
	static void *(*real)(xenforeignmemory_handle *, uint32_t, int, size_t, const xen_pfn_t[],
			     int[]);
	void *p;

	if (!real)
		real = (void *(*)(xenforeignmemory_handle *, uint32_t, int, size_t,
				  const xen_pfn_t[], int[]))real_fn("xenforeignmemory_map");
	p = real(fmem, dom, prot, pages, arr, err);
	if (p && err && pages && dom == fault_dom && prot == PROT_READ && fault_after_final &&
	    !fault_hits && !err[0] && (fault_kind == F_MAP_EIO || fault_kind == F_MAP_ENOENT)) {
		err[0] = fault_kind == F_MAP_EIO ? -EIO : -ENOENT;
		fault_hits++;
		fprintf(stderr, "xen-lab-migrate: fault: mapping of frame 0x%llx made to fail "
			"(%s)\n", (unsigned long long)arr[0],
			fault_kind == F_MAP_EIO ? "EIO" : "ENOENT");
	}
	return p;
}

long long xc_logdirty_control(xc_interface *xch, uint32_t domid, unsigned int sop,
			      xc_hypercall_buffer_t *dirty_bitmap, unsigned long pages,
			      unsigned int mode, xc_shadow_op_stats_t *stats)
{
	static long long (*real)(xc_interface *, uint32_t, unsigned int, xc_hypercall_buffer_t *,
				 unsigned long, unsigned int, xc_shadow_op_stats_t *);
	long long rc;

	if (!real)
		real = (long long (*)(xc_interface *, uint32_t, unsigned int,
				      xc_hypercall_buffer_t *, unsigned long, unsigned int,
				      xc_shadow_op_stats_t *))real_fn("xc_logdirty_control");
	rc = real(xch, domid, sop, dirty_bitmap, pages, mode, stats);
	if (domid != fault_dom || sop != XEN_DOMCTL_SHADOW_OP_CLEAN ||
	    !(mode & XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL))
		return rc;
	fault_after_final = 1;
	if (fault_kind == F_CLEAN_SHORT && rc > 0 && !fault_hits) {
		fault_hits++;
		fprintf(stderr, "xen-lab-migrate: fault: final CLEAN made to say %lld of %lld\n",
			rc - 1, rc);
		rc--;
	}
	return rc;
}

int xc_domain_destroy(xc_interface *xch, uint32_t domid)
{
	static int (*real)(xc_interface *, uint32_t);

	if (!real)
		real = (int (*)(xc_interface *, uint32_t))real_fn("xc_domain_destroy");
	if (fault_kind == F_DESTROY_SRC && domid == fault_dom && !fault_hits) {
		fault_hits++;
		fprintf(stderr, "xen-lab-migrate: fault: destroy of d%u made to fail\n", domid);
		errno = EBUSY;
		return -1;
	}
	return real(xch, domid);
}

bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path, const void *data,
	      unsigned int len)
{
	static bool (*real)(struct xs_handle *, xs_transaction_t, const char *, const void *,
			    unsigned int);
	char want[64];

	if (!real)
		real = (bool (*)(struct xs_handle *, xs_transaction_t, const char *, const void *,
				 unsigned int))real_fn("xs_write");
	snprintf(want, sizeof(want), "/local/domain/%u/control/shutdown", fault_dom);
	if (fault_kind == F_SUSPEND_LATE && !fault_req_ns && len == 7 &&
	    !memcmp(data, "suspend", 7) && !strcmp(path, want))
		fault_req_ns = mono_ns();
	return real(h, t, path, data, len);
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first, unsigned int max,
			  xc_domaininfo_t *info)
{
	static int (*real)(xc_interface *, uint32_t, unsigned int, xc_domaininfo_t *);
	int n;

	if (!real)
		real = (int (*)(xc_interface *, uint32_t, unsigned int, xc_domaininfo_t *))real_fn(
			"xc_domain_getinfolist");
	n = real(xch, first, max, info);
	/* the guest suspends when it does; xmig is told only later */
	if (n == 1 && info->domain == fault_dom && fault_req_ns &&
	    mono_ns() - fault_req_ns < fault_hide_ns && (info->flags & XEN_DOMINF_shutdown)) {
		if (!fault_hits)
			fprintf(stderr, "xen-lab-migrate: fault: d%u suspended %.0f ms after the "
				"request; hidden until %.0f ms\n", fault_dom,
				(double)(mono_ns() - fault_req_ns) / 1e6, (double)fault_hide_ns / 1e6);
		fault_hits = 1;
		info->flags &= ~(uint32_t)XEN_DOMINF_shutdown;
	}
	return n;
}

/* A destination that fails load_state: the failure-after-pause test. */
struct failing {
	struct xmig_backend base;
	struct xmig_backend *in;
	struct xmig_backend_ops ops;
};

/* A step of the timeline in ms; 0 when either end was never reached. */
static double span_ms(uint64_t from, uint64_t to)
{
	return from && to >= from ? (double)(to - from) / 1e6 : 0.0;
}

static int fail_load(struct xmig_backend *b, uint32_t vcpu, uint32_t type, const void *d,
		     size_t l)
{
	(void)b; (void)vcpu; (void)type; (void)d; (void)l;
	return XMIG_EBACKEND;
}

#define FWD(name, ret, args, call)                                                 \
	static ret f_##name args { return ((struct failing *)b)->in->ops->name call; }
FWD(describe, int, (struct xmig_backend *b, struct xmig_guest_info *o),
    (((struct failing *)b)->in, o))
FWD(map_pages, int, (struct xmig_backend *b, const uint64_t *p, unsigned int n, void **q,
		     unsigned int f), (((struct failing *)b)->in, p, n, q, f))
FWD(unmap_pages, void, (struct xmig_backend *b, void **p, unsigned int n),
    (((struct failing *)b)->in, p, n))
FWD(create, int, (struct xmig_backend *b, const struct xmig_guest_info *i),
    (((struct failing *)b)->in, i))
FWD(populate, int, (struct xmig_backend *b, const uint64_t *p, unsigned int n),
    (((struct failing *)b)->in, p, n))
FWD(release, int, (struct xmig_backend *b, const uint64_t *p, unsigned int n),
    (((struct failing *)b)->in, p, n))
FWD(restore_complete, int, (struct xmig_backend *b), (((struct failing *)b)->in))
FWD(unpause, int, (struct xmig_backend *b), (((struct failing *)b)->in))
FWD(destroy, int, (struct xmig_backend *b), (((struct failing *)b)->in))
static int f_nop(struct xmig_backend *b) { (void)b; return 0; }
static int f_fetch(struct xmig_backend *b, uint64_t *m, int f) { (void)b; (void)m; (void)f; return 0; }
static int f_save(struct xmig_backend *b, xmig_state_emit_fn e, void *c) { (void)b; (void)e; (void)c; return 0; }
static void f_free(struct xmig_backend *b) { (void)b; }

/* --adopt: the toolstack's side. */
struct toolstack {
	xc_interface *xch;
	struct xs_handle *xs;
	uint32_t domid;
	uint64_t max_pages;
	const char *name;
};

/* An empty, paused domain like the source `src` (same host): what a toolstack
 * creates before it hands the domain to a restore. */
static int adopt_create(struct toolstack *ts, uint32_t src)
{
	struct xen_domctl_createdomain c;
	xc_domaininfo_t di;
	int hvm;

	ts->xch = xc_interface_open(NULL, NULL, 0);
	ts->xs = xs_open(0);
	if (!ts->xch || !ts->xs || xc_domain_getinfolist(ts->xch, src, 1, &di) != 1 ||
	    di.domain != src)
		return -1;
	hvm = (di.flags & XEN_DOMINF_hvm_guest) != 0;
	memset(&c, 0, sizeof(c));
	c.flags = hvm ? XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap : 0;
	c.max_vcpus = di.max_vcpu_id + 1;
	c.max_evtchn_port = 1023;
	c.max_grant_frames = 64;
	c.max_maptrack_frames = 1024;
	c.grant_opts = XEN_DOMCTL_GRANT_version(2);
	c.arch.emulation_flags = hvm ? XEN_X86_EMU_LAPIC : 0;
	ts->max_pages = di.max_pages;
	if (xc_domain_create(ts->xch, &ts->domid, &c) < 0 ||
	    xc_domain_max_vcpus(ts->xch, ts->domid, c.max_vcpus) < 0 ||
	    xc_domain_setmaxmem(ts->xch, ts->domid, di.max_pages * 4) < 0 ||
	    (hvm && xc_set_paging_mempool_size(ts->xch, ts->domid, 32u << 20) < 0)) {
		perror("adopt: creating the domain");
		return -1;
	}
	fprintf(stderr, "adopt: created d%u for the restore\n", ts->domid);
	return 0;
}

/* before_unpause: the guest's xenstore directory, then introduce it. */
static int adopt_connect(const struct xmig_xen_restore_info *ri, void *payload)
{
	struct toolstack *ts = payload;
	struct xs_permissions ro[2] = { { 0, XS_PERM_NONE }, { ri->domid, XS_PERM_READ } };
	struct xs_permissions rw[1] = { { ri->domid, XS_PERM_NONE } };
	static const char *const rw_dirs[] = { "control/shutdown", "control/feature-suspend",
					       "device", "data", "drivers", "feature", "attr",
					       "error", "device/suspend/event-channel" };
	char base[64], path[128], val[64];
	xs_transaction_t t = xs_transaction_start(ts->xs);
	int ok = t != XBT_NULL;

#define W(rel, fmt, v)                                                              \
	do {                                                                        \
		snprintf(path, sizeof(path), "%s/%s", base, rel);                   \
		snprintf(val, sizeof(val), fmt, v);                                 \
		ok = ok && xs_write(ts->xs, t, path, val, (unsigned int)strlen(val)); \
	} while (0)
	snprintf(base, sizeof(base), "/local/domain/%u", ri->domid);
	ok = ok && xs_write(ts->xs, t, base, "", 0) && xs_set_permissions(ts->xs, t, base, ro, 2);
	W("name", "%s", ts->name);
	W("domid", "%u", ri->domid);
	W("memory/static-max", "%llu", (unsigned long long)ts->max_pages * 4 - 1024);
	W("memory/target", "%llu", (unsigned long long)ts->max_pages * 4 - 1024);
	W("store/port", "%u", ri->store_port);
	W("store/ring-ref", "%llu", (unsigned long long)ri->store_gfn);
	W("console/port", "%u", ri->console_port);
	W("console/ring-ref", "%llu", (unsigned long long)ri->console_gfn);
	W("console/type", "%s", "xenconsoled");
	W("console/output", "%s", "pty");
	W("console/limit", "%s", "1048576");
	W("cpu/0/availability", "%s", "online");
	snprintf(path, sizeof(path), "%s/control", base);
	ok = ok && xs_write(ts->xs, t, path, "", 0) && xs_set_permissions(ts->xs, t, path, ro, 2);
	for (size_t i = 0; ok && i < sizeof(rw_dirs) / sizeof(rw_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", base, rw_dirs[i]);
		ok = xs_write(ts->xs, t, path, "", 0) && xs_set_permissions(ts->xs, t, path, rw, 1);
	}
#undef W
	if (t != XBT_NULL && !xs_transaction_end(ts->xs, t, !ok))
		ok = 0;
	ok = ok && xs_introduce_domain(ts->xs, ri->domid, ri->store_gfn, ri->store_port);
	fprintf(stderr, "adopt: d%u connected (store gfn 0x%llx port %u, console gfn 0x%llx "
		"port %u): %s\n", ri->domid, (unsigned long long)ri->store_gfn, ri->store_port,
		(unsigned long long)ri->console_gfn, ri->console_port, ok ? "ok" : "FAILED");
	return ok ? 0 : -1;
}

struct side {
	struct xmig_backend *b;
	struct xmig_transport *t;
	struct xmig_session *s;
	int rc;
	char err[1024];
};

/*
 * commit-lost / done-lost: the sender's transport, wrapping the socket, loses
 * COMMIT or what comes after it, then cuts the connection (both ways, so
 * the receiver sees it end).
 */
struct lossy {
	struct xmig_transport base;
	struct xmig_transport *in;
	int fd;  /* the socket, to cut */
	uint32_t type;      /* the record to cut at (stream types, little-endian) */
	unsigned int nth;   /* its nth write, 1-based */
	unsigned int seen;
	int cut; /* reads fail from now on */
};

static int lossy_writev(struct xmig_transport *t, const struct iovec *iov, int iovcnt)
{
	struct lossy *l = (struct lossy *)t;
	uint32_t type = 0;
	int rc;

	if (l->cut)
		return XMIG_EIO;
	if (iovcnt > 0 && iov[0].iov_len >= 4)
		memcpy(&type, iov[0].iov_base, 4); /* little-endian, as x86 */
	if (type != l->type || ++l->seen != l->nth)
		return l->in->ops->writev(l->in, iov, iovcnt);
	fault_hits++;
	l->cut = 1;
	/* done-lost delivers it; commit-lost says it went; a cut fails the write */
	rc = fault_kind == F_DONE_LOST ? l->in->ops->writev(l->in, iov, iovcnt)
	     : fault_kind == F_COMMIT_LOST ? 0
					   : XMIG_EIO;
	shutdown(l->fd, SHUT_RDWR);
	fprintf(stderr, "xen-lab-migrate: fault: record type 0x%x (write %u) %s, then the "
		"connection cut\n", type, l->nth,
		fault_kind == F_DONE_LOST ? "delivered" : fault_kind == F_COMMIT_LOST
			? "dropped" : "made to fail");
	return rc;
}

static int lossy_read(struct xmig_transport *t, void *buf, size_t len, int timeout_ms)
{
	struct lossy *l = (struct lossy *)t;

	if (l->cut)
		return XMIG_EIO;
	return l->in->ops->read(l->in, buf, len, timeout_ms);
}

static void lossy_shutdown(struct xmig_transport *t)
{
	struct lossy *l = (struct lossy *)t;

	l->in->ops->shutdown(l->in);
}

static void lossy_close(struct xmig_transport *t)
{
	(void)t; /* the inner transport is closed by its owner */
}

static const struct xmig_transport_ops lossy_ops = {
	.version = XMIG_TRANSPORT_OPS_VERSION, .name = "lossy", .writev = lossy_writev,
	.read = lossy_read, .shutdown = lossy_shutdown, .close = lossy_close,
};

/* cut-*: where (see the head of this file). */
static int cut_point(const char *k, uint32_t *type, unsigned int *nth)
{
	static const struct { const char *name; uint32_t type; unsigned int nth; } pts[] = {
		{ "cut-setup", 0x80000009u, 1 },  /* MIGRATION_ID */
		{ "cut-round0", 2, 2 },           /* PAGE_BATCH */
		{ "cut-round-end", 3, 1 },        /* ROUND_END */
		{ "cut-state", 5, 1 },            /* PLATFORM_STATE (Xen's are all platform) */
		{ "cut-ready", 18, 1 },           /* COMMIT */
	};

	for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
		if (!strcmp(k, pts[i].name)) {
			*type = pts[i].type;
			*nth = pts[i].nth;
			return 0;
		}
	return -1;
}

/*
 * The host's live domains (dom0 included), or -1; *dying gets those Xen is
 * still tearing down. A destroyed domain stays listed, dying, until the last
 * mapping of its memory goes (xenconsoled lets go of the console ring when
 * its watch fires), so a count taken right after a destroy can see it:
 * wait for the dying to go, at most settle_ms, and report those that stay
 * (a domain something never lets go of is a leak, not a copy of the guest).
 */
static int count_domains(int *dying, int settle_ms)
{
	static xc_domaininfo_t di[256];
	xc_interface *xch = xc_interface_open(NULL, NULL, 0);
	int n = -1, live = 0, waited = 0;

	*dying = 0;
	if (!xch)
		return -1;
	for (;;) {
		n = xc_domain_getinfolist(xch, 0, 256, di);
		if (n < 0)
			break;
		live = *dying = 0;
		for (int i = 0; i < n; i++)
			if (di[i].flags & XEN_DOMINF_dying)
				++*dying;
			else
				live++;
		if (!*dying || waited >= settle_ms)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000L }, NULL);
		waited += 50;
	}
	xc_interface_close(xch);
	return n < 0 ? -1 : live;
}

/*
 * How long a destroyed domain may stay dying before it counts as held: the
 * scenarios pass XLM_SETTLE_MS scaled by the host's measured speed; 20 s
 * when run by hand.
 */
static int settle_ms(void)
{
	const char *e = getenv("XLM_SETTLE_MS");
	char *end;
	long v;

	if (!e || !*e)
		return 20000;
	errno = 0;
	v = strtol(e, &end, 10);
	if (errno || *end || v < 0 || v > 600000) {
		fprintf(stderr, "XLM_SETTLE_MS=%s: not a number of ms in 0..600000\n", e);
		exit(2);
	}
	return (int)v;
}

struct answer {
	struct xmig_transport *t;
	struct xmig_outcome_record rec;
	int rc;
};

static void *answer_main(void *arg)
{
	struct answer *a = arg;

	a->rc = xmig_outcome_answer(a->t, &a->rec, 30000);
	return NULL;
}

/*
 * After XMIG_EAMBIGUOUS: the receiver's session keeps the outcome; ask it
 * over a new socketpair, as xmig-send asks xmig-recv over a new connection.
 * Returns what xmig_session_resolve returned.
 */
static int ask_receiver(struct xmig_session *snd, struct xmig_session *rcv, int *unsettled,
			int *outcome, int *answered)
{
	struct answer a = { 0 };
	struct xmig_transport *q = NULL;
	pthread_t th;
	int qv[2], rc;

	*unsettled = xmig_session_unsettled(rcv, &a.rec);
	*outcome = *unsettled ? a.rec.outcome : 0;
	*answered = -100;
	if (!*unsettled)
		return XMIG_EAMBIGUOUS;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, qv) < 0 ||
	    xmig_transport_fd(&q, qv[0], qv[0], XMIG_FD_OWN) < 0 ||
	    xmig_transport_fd(&a.t, qv[1], qv[1], XMIG_FD_OWN) < 0) {
		perror("xen-lab-migrate: query socketpair");
		return XMIG_EAMBIGUOUS;
	}
	pthread_create(&th, NULL, answer_main, &a);
	rc = xmig_session_resolve(snd, q, 30000);
	pthread_join(th, NULL);
	*answered = a.rc;
	xmig_transport_close(q);
	xmig_transport_close(a.t);
	return rc;
}

static void log_cb(int level, const char *msg, void *payload)
{
	fprintf(stderr, "[%s %d] %s\n", (const char *)payload, level, msg);
}

/*
 * --balloon-to MIB: once round 0 has sent every frame, ask the guest (its
 * memory/target, as xl mem-set does) to give memory back, and hold the
 * next round (the guest runs on) until it has given back a quarter of the
 * difference or 30 s have passed: frames already sent then go away while
 * the migration runs on, whatever the speed of the machine.
 */
struct balloon {
	uint32_t domid;
	unsigned long mib;
	int asked;
	double at_ms, waited_ms;
	uint64_t pages_before, pages_after;
};

static uint64_t tot_pages(xc_interface *xch, uint32_t domid)
{
	xc_domaininfo_t di;

	return xc_domain_getinfolist(xch, domid, 1, &di) == 1 && di.domain == domid
		       ? di.tot_pages
		       : 0;
}

static void balloon_progress(const struct xmig_progress *pr, void *payload)
{
	struct balloon *bl = payload;
	uint64_t want, t0 = mono_ns();
	struct xs_handle *h;
	xc_interface *xch;
	char path[64], val[32];

	if (bl->asked || pr->phase != XMIG_PHASE_LIVE || pr->round != 0 ||
	    pr->round_pages_done < pr->round_pages)
		return;
	bl->asked = -1;
	bl->at_ms = (double)pr->elapsed_ns / 1e6;
	xch = xc_interface_open(NULL, NULL, 0);
	h = xs_open(0);
	snprintf(path, sizeof(path), "/local/domain/%u/memory/target", bl->domid);
	snprintf(val, sizeof(val), "%lu", bl->mib * 1024);
	if (!xch || !h || !(bl->pages_before = tot_pages(xch, bl->domid)) ||
	    !xs_write(h, XBT_NULL, path, val, (unsigned int)strlen(val))) {
		fprintf(stderr, "xen-lab-migrate: balloon: cannot read d%u or write %s\n",
			bl->domid, path);
		goto out;
	}
	want = bl->mib * 256 < bl->pages_before ? (bl->pages_before - bl->mib * 256) / 4 : 0;
	do {
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
		bl->pages_after = tot_pages(xch, bl->domid);
	} while (bl->pages_after + want > bl->pages_before && mono_ns() - t0 < 30000000000ull);
	bl->waited_ms = (double)(mono_ns() - t0) / 1e6;
	bl->asked = 1;
	fprintf(stderr, "xen-lab-migrate: balloon: %s = %s after round 0 (%.0f ms); %llu -> "
		"%llu pages in %.0f ms\n", path, val, bl->at_ms,
		(unsigned long long)bl->pages_before, (unsigned long long)bl->pages_after,
		bl->waited_ms);
out:
	if (h)
		xs_close(h);
	if (xch)
		xc_interface_close(xch);
}

/*
 * How many of 64 frames populated now into scratch domain d (from pfn
 * base) hold the pattern: whether frames given back come out of Xen as
 * they were, and, after the migration, whether the destination left any.
 */
static int heap_probe(xc_interface *xch, xenforeignmemory_handle *fm, uint32_t d,
		      xen_pfn_t base)
{
	xen_pfn_t fr[64];
	int errs[64], pat = 0;
	void *p;

	for (unsigned int j = 0; j < 64; j++)
		fr[j] = base + j;
	if (xc_domain_populate_physmap_exact(xch, d, 64, 0, 0, fr) < 0 ||
	    !(p = xenforeignmemory_map(fm, d, PROT_READ, 64, fr, errs)))
		return -1;
	for (unsigned int j = 0; j < 64; j++)
		pat += !errs[j] && ((const uint8_t *)p)[(size_t)j * 4096 + 100] == 0xa5;
	xenforeignmemory_unmap(fm, p, 64);
	return pat;
}

static int heap_probed = -1, heap_left = -1;

/*
 * --dirty-heap MIB: leave frames holding a pattern in Xen's free heap. A
 * scratch PV domain (never run) is given 2 x MIB MiB in batches of 2 MiB;
 * it writes the pattern into each batch and gives back the frames of even
 * machine number while it lives. Xen scrubs only what a dying domain
 * frees, and a freed frame whose buddy is still in use cannot merge into a
 * larger chunk: it waits at the head of the order-0 free list, where the
 * next batch (which takes most of them again) and, after the last one, the
 * destination's populate_physmap calls take their frames from. A receiver
 * that took a new frame to read as zero then holds the pattern where the
 * source has zeros, and --verify says so (in the lab, without the clearing,
 * 448 pages of the pattern on the destination). The scratch domain (*dom)
 * lives on until dirty_heap_end. Returns the frames given back, or -1.
 */
static long dirty_heap(unsigned long mib, uint32_t *dom)
{
	struct xen_domctl_createdomain cfg = { 0 };
	xc_interface *xch = xc_interface_open(NULL, NULL, 0);
	xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
	xen_pfn_t fr[512], back[512];
	int errs[512];
	uint32_t d = 0;
	long given = -1, want = (long)mib * 512;

	if (!xch || !fm)
		goto out;
	cfg.max_vcpus = 1;
	cfg.max_evtchn_port = 1023;
	cfg.max_grant_frames = 1;
	cfg.max_maptrack_frames = 0;
	cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
	if (xc_domain_create(xch, &d, &cfg) < 0 ||
	    xc_domain_setmaxmem(xch, d, mib * 2048 + 4096) < 0) {
		perror("xen-lab-migrate: dirty-heap: scratch domain");
		goto out;
	}
	given = 0;
	for (long done = 0; done < want; done += 512) {
		unsigned int k = 512, nb = 0;
		void *p;

		for (unsigned int j = 0; j < k; j++)
			fr[j] = (xen_pfn_t)(done + j);
		if (xc_domain_populate_physmap_exact(xch, d, k, 0, 0, fr) < 0) {
			perror("xen-lab-migrate: dirty-heap: populate");
			given = -1;
			break;
		}
		p = xenforeignmemory_map(fm, d, PROT_READ | PROT_WRITE, k, fr, errs);
		if (!p) {
			perror("xen-lab-migrate: dirty-heap: map");
			given = -1;
			break;
		}
		memset(p, 0xa5, (size_t)k * 4096);
		xenforeignmemory_unmap(fm, p, k);
		for (unsigned int j = 0; j < k; j++)
			if (!(fr[j] & 1))
				back[nb++] = fr[j];
		if (nb && xc_domain_decrease_reservation_exact(xch, d, nb, 0, back) < 0) {
			perror("xen-lab-migrate: dirty-heap: decrease_reservation");
			given = -1;
			break;
		}
		given += nb;
	}
	fprintf(stderr, "xen-lab-migrate: dirty-heap: %ld frames of 0xa5 given back by scratch "
		"d%u while it lives\n", given, d);
	if (given > 0)
		heap_probed = heap_probe(xch, fm, d, (xen_pfn_t)want);
out:
	if (given < 0 && d) {
		xc_domain_destroy(xch, d);
		d = 0;
	}
	*dom = d;
	if (fm)
		xenforeignmemory_close(fm);
	if (xch)
		xc_interface_close(xch);
	return given;
}

static void dirty_heap_end(uint32_t dom, unsigned long mib)
{
	xc_interface *xch = xc_interface_open(NULL, NULL, 0);
	xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);

	if (xch && fm)
		heap_left = heap_probe(xch, fm, dom, (xen_pfn_t)mib * 512 + 64);
	if (fm)
		xenforeignmemory_close(fm);

	if (xch && xc_domain_destroy(xch, dom) < 0)
		perror("xen-lab-migrate: dirty-heap: destroying the scratch domain");
	if (xch)
		xc_interface_close(xch);
}

/* The --dirty-heap work, done during round 0 (the destination exists). */
static struct {
	unsigned long mib;
	long frames;
	uint32_t dom;
	int done;
} heap;

static void heap_progress(const struct xmig_progress *pr, void *payload)
{
	(void)payload;
	if (heap.done || pr->phase != XMIG_PHASE_LIVE || pr->round != 0 ||
	    pr->round_pages_done >= pr->round_pages)
		return;
	heap.done = 1;
	heap.frames = dirty_heap(heap.mib, &heap.dom);
	fprintf(stderr, "xen-lab-migrate: dirty-heap: during round 0, at %llu of %llu pages\n",
		(unsigned long long)pr->round_pages_done, (unsigned long long)pr->round_pages);
}

static void *recv_main(void *arg)
{
	struct side *r = arg;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;

	rp.log_fn = log_cb;
	rp.log_payload = "recv";
	rp.log_level = XMIG_LOG_DEBUG;
	rp.timeout_ms = 120000;
	r->rc = xmig_recv_new(&r->s, r->b, r->t, &rp);
	if (r->rc == 0)
		r->rc = xmig_session_run(r->s);
	snprintf(r->err, sizeof(r->err), "%s", r->s ? xmig_session_error(r->s) : xmig_error_last());
	return NULL;
}

static void json_str(const char *k, const char *v, int last)
{
	printf("\"%s\":\"", k);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			printf("\\%c", *v);
		else if (*v == '\n')
			printf("\\n");
		else if ((unsigned char)*v >= 0x20)
			putchar(*v);
	}
	printf("\"%s", last ? "" : ",");
}

int main(int argc, char **argv)
{
	struct xmig_xen_params sp = XMIG_XEN_PARAMS_INIT, dp = XMIG_XEN_PARAMS_INIT;
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct side s = { 0 }, r = { 0 };
	struct failing fb;
	pthread_t th;
	struct toolstack ts = { 0 };
	int sv[2], fail = 0, adopt = 0, src_retry_rc = 1;
	const char *fault_name = NULL;
	uint32_t domid, new_domid = 0;
	const struct xmig_stats *st, *rst;
	struct balloon bl = { 0 };
	unsigned long heap_mib = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DOMID [--verify] [--name N] [--suspend MODE] "
			"[--suspend-timeout MS] [--suspend-ack-timeout MS] [--downtime MS] "
			"[--policy P] [--fail-load] [--adopt] [--fault KIND] [--balloon-to MIB] "
			"[--dirty-heap MIB]\n",
			argv[0]);
		return 2;
	}
	domid = (uint32_t)strtoul(argv[1], NULL, 10);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--verify"))
			p.verify = 1;
		else if (!strcmp(argv[i], "--name") && i + 1 < argc)
			dp.name = argv[++i];
		else if (!strcmp(argv[i], "--downtime") && i + 1 < argc)
			p.target_downtime_ms = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--policy") && i + 1 < argc)
			p.policy = argv[++i];
		else if (!strcmp(argv[i], "--fail-load"))
			fail = 1;
		else if (!strcmp(argv[i], "--balloon-to") && i + 1 < argc)
			bl.mib = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dirty-heap") && i + 1 < argc)
			heap_mib = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--adopt"))
			adopt = 1;
		else if (!strcmp(argv[i], "--suspend") && i + 1 < argc) {
			const char *m = argv[++i];

			sp.suspend = !strcmp(m, "pause")      ? XMIG_XEN_SUSPEND_PAUSE
				     : !strcmp(m, "shutdown") ? XMIG_XEN_SUSPEND_SHUTDOWN
				     : !strcmp(m, "xenstore") ? XMIG_XEN_SUSPEND_XENSTORE
				     : !strcmp(m, "evtchn")   ? XMIG_XEN_SUSPEND_EVTCHN
							      : XMIG_XEN_SUSPEND_AUTO;
		} else if (!strcmp(argv[i], "--suspend-timeout") && i + 1 < argc) {
			sp.suspend_timeout_ms = (uint32_t)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--suspend-ack-timeout") && i + 1 < argc) {
			sp.suspend_ack_timeout_ms = (uint32_t)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--fault") && i + 1 < argc) {
			const char *k = argv[++i];

			fault_kind = !strcmp(k, "map-eio")       ? F_MAP_EIO
				     : !strcmp(k, "map-enoent")  ? F_MAP_ENOENT
				     : !strcmp(k, "clean-short") ? F_CLEAN_SHORT
				     : !strcmp(k, "destroy-src") ? F_DESTROY_SRC
				     : !strcmp(k, "suspend-late") ? F_SUSPEND_LATE
				     : !strcmp(k, "commit-lost") ? F_COMMIT_LOST
				     : !strcmp(k, "done-lost")   ? F_DONE_LOST
				     : !strncmp(k, "cut-", 4)    ? F_CUT
								 : F_NONE;
			if (fault_kind == F_NONE) {
				fprintf(stderr, "unknown fault %s\n", k);
				return 2;
			}
			fault_name = k;
		} else {
			fprintf(stderr, "unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	fault_dom = domid;
	if (bl.mib) {
		bl.domid = domid;
		p.progress_fn = balloon_progress;
		p.progress_payload = &bl;
	}
	/* suspend-late: the suspend shows only after the first limit has passed */
	fault_hide_ns = ((uint64_t)sp.suspend_timeout_ms + 1500) * 1000000ull;
	p.log_fn = log_cb;
	p.log_payload = "send";
	p.log_level = XMIG_LOG_DEBUG;
	p.timeout_ms = 120000;

	if (xmig_xen_open(&s.b, domid, &sp) < 0) {
		printf("{\"rc\":-1,");
		json_str("error", xmig_error_last(), 1);
		printf("}\n");
		return 1;
	}
	if (adopt) {
		ts.name = dp.name ? dp.name : "adopted";
		dp.name = NULL; /* the toolstack names its domain */
		if (adopt_create(&ts, domid) < 0) {
			printf("{\"rc\":-1,\"error\":\"adopt: cannot create the domain\"}\n");
			return 1;
		}
		dp.domid = ts.domid;
		dp.before_unpause = adopt_connect;
		dp.payload = &ts;
	}
	if (xmig_xen_new_dest(&r.b, &dp) < 0) {
		printf("{\"rc\":-1,");
		json_str("error", xmig_error_last(), 1);
		printf("}\n");
		return 1;
	}
	if (fail) {
		fb.in = r.b;
		fb.ops = (struct xmig_backend_ops){
			.version = XMIG_BACKEND_OPS_VERSION, .name = "xen",
			.describe = f_describe, .log_dirty_start = f_nop, .log_dirty_stop = f_nop,
			.dirty_fetch = f_fetch, .map_pages = f_map_pages,
			.unmap_pages = f_unmap_pages, .pause = f_nop, .resume = f_nop,
			.save_state = f_save, .create = f_create, .populate = f_populate,
			.release = f_release,
			.load_state = fail_load, .restore_complete = f_restore_complete,
			.unpause = f_unpause, .destroy = f_destroy, .free = f_free,
		};
		fb.base.ops = &fb.ops;
	}
	if (heap_mib) {
		heap.mib = heap_mib;
		p.progress_fn = heap_progress;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    xmig_transport_fd(&s.t, sv[0], sv[0], XMIG_FD_OWN) < 0 ||
	    xmig_transport_fd(&r.t, sv[1], sv[1], XMIG_FD_OWN) < 0) {
		perror("socketpair/transport");
		return 1;
	}
	struct side rr = r;
	struct lossy lossy = { .base = { .ops = &lossy_ops, .flags = s.t->flags },
			       .in = s.t, .fd = sv[0], .type = 18, .nth = 1 };
	int ambiguous = 0, unsettled = 0, outcome = 0, answered = 0;
	int lossy_on = fault_kind == F_COMMIT_LOST || fault_kind == F_DONE_LOST ||
		       fault_kind == F_CUT;
	int dying_before, dying_after;
	int domains_before = count_domains(&dying_before, 0), domains_after;

	if (fault_kind == F_CUT && cut_point(fault_name, &lossy.type, &lossy.nth) < 0) {
		fprintf(stderr, "unknown fault %s\n", fault_name);
		return 2;
	}

	if (fail)
		rr.b = &fb.base;
	pthread_create(&th, NULL, recv_main, &rr);
	s.rc = xmig_send_new(&s.s, s.b, lossy_on ? &lossy.base : s.t, &p);
	if (s.rc == 0)
		s.rc = xmig_session_run(s.s);
	snprintf(s.err, sizeof(s.err), "%s", s.s ? xmig_session_error(s.s) : xmig_error_last());
	pthread_join(th, NULL);
	if (s.rc == XMIG_EAMBIGUOUS && rr.s) {
		fprintf(stderr, "xen-lab-migrate: ambiguous (%s); asking the receiver\n", s.err);
		ambiguous = 1;
		s.rc = ask_receiver(s.s, rr.s, &unsettled, &outcome, &answered);
		snprintf(s.err, sizeof(s.err), "%s", xmig_session_error(s.s));
	}
	new_domid = xmig_xen_domid(r.b);
	/* the guest runs on the destination; the source copy is still ours */
	if (s.rc == XMIG_ESRCLEFT)
		src_retry_rc = s.b->ops->destroy(s.b);

	st = s.s ? xmig_session_stats(s.s) : NULL;
	/* the receiver compares the digests: its stats say whether they matched */
	rst = rr.s ? xmig_session_stats(rr.s) : NULL;
	printf("{\"rc\":%d,\"recv_rc\":%d,\"src_domid\":%u,\"dst_domid\":%u,", s.rc, rr.rc, domid,
	       rr.rc == 0 ? new_domid : 0);
	if (st) {
		const struct xmig_downtime *tl = &st->timeline;

		printf("\"downtime_ms\":%.3f,\"total_ms\":%.3f,\"rounds\":%u,\"bytes\":%llu,"
		       "\"pages\":%llu,\"verified\":%d,\"digest_ms\":%.3f,"
		       "\"pause_ms\":%.3f,\"final_round_ms\":%.3f,\"state_ms\":%.3f,"
		       "\"ready_ms\":%.3f,\"commit_to_done_ms\":%.3f,",
		       (double)st->downtime_ns / 1e6, (double)st->total_ns / 1e6, st->nr_rounds,
		       (unsigned long long)st->bytes, (unsigned long long)st->pages_total,
		       rst ? rst->verified : 0, (double)st->digest_ns / 1e6,
		       span_ms(tl->pause_requested, tl->paused),
		       span_ms(tl->paused, tl->last_page_sent),
		       span_ms(tl->last_page_sent, tl->state_sent),
		       span_ms(tl->state_sent, tl->receiver_ready),
		       span_ms(tl->commit_sent, tl->dest_running));
		printf("\"round_pages\":[");
		for (uint32_t i = 0; i < st->nr_rounds; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)st->rounds[i].pages_dirty);
		printf("],\"round_absent\":[");
		for (uint32_t i = 0; i < st->nr_rounds; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)st->rounds[i].pages_absent);
		printf("],");
	}
	if (bl.mib)
		printf("\"balloon_to\":%lu,\"balloon_asked\":%d,\"balloon_at_ms\":%.1f,"
		       "\"balloon_wait_ms\":%.1f,\"balloon_pages\":[%llu,%llu],", bl.mib, bl.asked,
		       bl.at_ms, bl.waited_ms, (unsigned long long)bl.pages_before,
		       (unsigned long long)bl.pages_after);
	if (heap.dom)
		dirty_heap_end(heap.dom, heap.mib);
	if (heap_mib)
		printf("\"dirty_heap_frames\":%ld,\"dirty_heap_probe\":%d,"
		       "\"dirty_heap_left\":%d,", heap.done ? heap.frames : 0, heap_probed,
		       heap_left);
	if (fault_name) {
		json_str("fault", fault_name, 0);
		printf("\"fault_hits\":%d,", fault_hits);
		if (fault_kind == F_DESTROY_SRC)
			printf("\"src_retry_rc\":%d,", src_retry_rc);
		if (fault_kind == F_COMMIT_LOST || fault_kind == F_DONE_LOST)
			printf("\"ambiguous\":%d,\"unsettled\":%d,\"outcome\":%d,"
			       "\"answered\":%d,\"resolved\":%d,", ambiguous, unsettled, outcome,
			       answered, st ? st->resolved : 0);
		if (lossy_on) {
			domains_after = count_domains(&dying_after, settle_ms());
			printf("\"domains_before\":%d,\"domains_after\":%d,"
			       "\"dying_before\":%d,\"dying_after\":%d,", domains_before,
			       domains_after, dying_before, dying_after);
		}
	}
	json_str("policy", p.policy, 0);
	json_str("error", s.err, 0);
	json_str("recv_error", rr.err, 0);
	json_str("notes_src", xmig_xen_notes(s.b), 0);
	json_str("notes_dst", xmig_xen_notes(r.b), 1);
	printf("}\n");
	fflush(stdout);
	xmig_session_free(s.s);
	xmig_session_free(rr.s);
	xmig_transport_close(s.t);
	xmig_transport_close(r.t);
	s.b->ops->free(s.b);
	r.b->ops->free(r.b);
	return s.rc == 0 ? 0 : 1;
}

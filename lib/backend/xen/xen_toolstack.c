/* SPDX-License-Identifier: MIT */
/*
 * The destination domain: the minimal toolstack behind xmig-recv (create a
 * PVH domain, connect it to xenstore and the console, start it), and the
 * same finishing steps for a domain a real toolstack created.
 *
 * What libxl does that this does not: devices (vif, vbd: there are none to
 * reconnect in a PVH guest without them), the CPUID policy (Xen's default for
 * the type is used), the E820 map (a PVH guest reads it at boot only), and
 * /libxl/N records.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "xen_internal.h"

#include <xen/grant_table.h>
#include <xen/hvm/params.h>
#include <xen/memory.h>

static void uuid_make(uint8_t u[16])
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, u, 16) : -1;

	if (fd >= 0)
		close(fd);
	if (got != 16) {
		uint64_t t = xmig__now_ns() ^ ((uint64_t)getpid() << 32);

		memcpy(u, &t, 8);
		t *= 0x9e3779b97f4a7c15ull;
		memcpy(u + 8, &t, 8);
	}
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

void xmig__xen_uuid_str(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}

static int xs_skeleton_early(struct xmig__xen *x, xs_transaction_t t);
static int xs_write_part(struct xmig__xen *x, int (*part)(struct xmig__xen *, xs_transaction_t),
			 const char *what);

/* An HVM/PVH domain's paging pool and platform params, as libxl sets them. */
static int hvm_setup(struct xmig__xen *x, const struct xmig_guest_info *info)
{
	/* libxl's shadow_memkb for a guest this size, capped at 256 MiB. */
	uint64_t pool_kb = 4 * (256ull * info->nr_vcpus + 2 * (info->nr_pages * 4 / 1024));

	if (pool_kb > 256 * 1024)
		pool_kb = 256 * 1024;
	if (xc_set_paging_mempool_size(x->xch, x->domid, pool_kb * 1024) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: paging pool of %llu KiB",
					x->domid, (unsigned long long)pool_kb);
	if (xc_hvm_param_set(x->xch, x->domid, HVM_PARAM_TIMER_MODE, 1) < 0 ||
	    xc_hvm_param_set(x->xch, x->domid, HVM_PARAM_ALTP2M, 0) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: timer mode / altp2m", x->domid);
	return 0;
}

int xmig__xen_domain_create(struct xmig__xen *x, const struct xmig_guest_info *info)
{
	struct xen_domctl_createdomain cfg;
	uint32_t domid = 0;
	int err, pv;

	if (info->guest_kind == XMIG_GUEST_XEN_HVM)
		return xmig__fail(XMIG_ENOTSUP, "xen: the built-in toolstack builds PVH domains; "
				  "an HVM guest needs a device model (restore it into a domain "
				  "your toolstack created)");
	memset(&cfg, 0, sizeof(cfg));
	uuid_make(cfg.handle);
	pv = info->guest_kind == XMIG_GUEST_XEN_PV;
	cfg.flags = pv ? 0 : XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
	cfg.max_vcpus = info->nr_vcpus;
	cfg.max_evtchn_port = 1023;     /* libxl's default event_channels */
	cfg.max_grant_frames = 64;      /* libxl's defaults */
	cfg.max_maptrack_frames = 1024;
	cfg.grant_opts = XEN_DOMCTL_GRANT_version(2);
	cfg.arch.emulation_flags = pv ? 0 : XEN_X86_EMU_LAPIC; /* as libxl */
	if (xc_domain_create(x->xch, &domid, &cfg) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: creating a %s domain with %u vCPUs",
					pv ? "PV" : "PVH", info->nr_vcpus);
	x->domid = domid;
	x->own_domain = 1;
	x->dstate = XMIG__XEN_D_CREATED;
	x->prepared = 0;
	memcpy(x->uuid, cfg.handle, 16);
	if (!x->name[0])
		snprintf(x->name, sizeof(x->name), "xmig-%u", domid);

	/* createdomain sets the limit; this creates the vCPUs (libxl does the same). */
	if (xc_domain_max_vcpus(x->xch, domid, info->nr_vcpus) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: creating %u vCPUs", domid,
					info->nr_vcpus);
	/* Until the DOMAIN blob gives the source's limit: the whole frame range. */
	if (xc_domain_setmaxmem(x->xch, domid, info->nr_pages * 4) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: setmaxmem", domid);
	/* A PV domain has no paging pool (Xen checks its own page tables) and no HVM params. */
	if (!pv && (err = hvm_setup(x, info)))
		return err;
	/* what needs no guest state, now rather than in the downtime */
	if ((err = xmig__xen_ports_connect(x)) ||
	    (err = xs_write_part(x, xs_skeleton_early, "at creation")))
		return err;
	xmig__xen_note(x, "created d%u (%s)", domid, x->name);
	return 0;
}

int xmig__xen_domain_adopt(struct xmig__xen *x, const struct xmig_guest_info *info)
{
	xc_domaininfo_t di;
	int err;

	x->domid = x->p.domid;
	err = xmig__xen_dominfo(x, &di);
	if (err)
		return err;
	if (!(di.flags & XEN_DOMINF_hvm_guest) != (info->guest_kind == XMIG_GUEST_XEN_PV))
		return xmig__fail(XMIG_EINVAL, "xen: d%u is %s; the stream carries a%s guest",
				  x->domid, (di.flags & XEN_DOMINF_hvm_guest) ? "HVM/PVH" : "PV",
				  info->guest_kind == XMIG_GUEST_XEN_PV ? " PV" : "n HVM/PVH");
	if (!(di.flags & XEN_DOMINF_paused))
		return xmig__fail(XMIG_EINVAL, "xen: d%u must be paused to be restored into",
				  x->domid);
	if (di.max_vcpu_id + 1 != info->nr_vcpus)
		return xmig__fail(XMIG_EINVAL, "xen: d%u has %u vCPUs, the guest %u", x->domid,
				  di.max_vcpu_id + 1, info->nr_vcpus);
	if (di.tot_pages)
		xmig__xen_note(x, "d%u already has %llu pages; they are kept", x->domid,
			       (unsigned long long)di.tot_pages);
	x->own_domain = 0;
	x->dstate = XMIG__XEN_D_CREATED;
	x->prepared = 0;
	return 0;
}

/*
 * Grant entries 0 (console) and 1 (xenstore) let the back ends map the rings
 * by grant, as xenstored does. Like libxenguest's xc_dom_gnttab_seed: map
 * grant frame 0 as a resource, or, where the kernel cannot, through a scratch
 * gfn above the guest's last one (which leaves Xen's idea of the highest gfn
 * one higher: every later migration would carry one more frame).
 */
static void seed(struct xmig__xen *x, grant_entry_v1_t *g)
{
	if (x->ri.console_gfn) {
		g[GNTTAB_RESERVED_CONSOLE].domid = (domid_t)x->p.console_domid;
		g[GNTTAB_RESERVED_CONSOLE].frame = (uint32_t)x->ri.console_gfn;
		__atomic_store_n(&g[GNTTAB_RESERVED_CONSOLE].flags, (uint16_t)GTF_permit_access,
				 __ATOMIC_RELEASE);
	}
	if (x->ri.store_gfn) {
		g[GNTTAB_RESERVED_XENSTORE].domid = (domid_t)x->p.store_domid;
		g[GNTTAB_RESERVED_XENSTORE].frame = (uint32_t)x->ri.store_gfn;
		__atomic_store_n(&g[GNTTAB_RESERVED_XENSTORE].flags, (uint16_t)GTF_permit_access,
				 __ATOMIC_RELEASE);
	}
}

static int gnttab_seed(struct xmig__xen *x)
{
	xen_pfn_t scratch = x->nr_pages;
	xenforeignmemory_resource_handle *res;
	void *addr = NULL;
	grant_entry_v1_t *g;
	int e = 0, err = 0;

	res = xenforeignmemory_map_resource(x->fmem, (domid_t)x->domid,
					    XENMEM_resource_grant_table,
					    XENMEM_resource_grant_table_id_shared, 0, 1, &addr,
					    PROT_READ | PROT_WRITE, 0);
	if (res) {
		seed(x, addr);
		xenforeignmemory_unmap_resource(x->fmem, res);
		return 0;
	}
	if (errno != EOPNOTSUPP)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: mapping the grant table",
					x->domid);
	if (xc_domain_add_to_physmap(x->xch, x->domid, XENMAPSPACE_grant_table, 0, scratch) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: mapping grant frame 0 at gfn "
					"0x%llx", x->domid, (unsigned long long)scratch);
	g = xenforeignmemory_map(x->fmem, x->domid, PROT_READ | PROT_WRITE, 1, &scratch, &e);
	if (!g || e)
		err = xmig__fail(XMIG_EBACKEND, "xen: d%u: cannot map the grant table: %s",
				 x->domid, strerror(g ? -e : errno));
	else
		seed(x, g);
	if (g)
		xenforeignmemory_unmap(x->fmem, g, 1);
	if (xc_domain_remove_from_physmap(x->xch, x->domid, scratch) < 0 && !err)
		err = xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: unmapping the grant frame",
				       x->domid);
	return err;
}

static int xs_put(struct xmig__xen *x, xs_transaction_t t, const char *path, const char *val,
		  const struct xs_permissions *perms, unsigned int nperms)
{
	if (!xs_write(x->xsh, t, path, val, (unsigned int)strlen(val)))
		return -1;
	if (perms && !xs_set_permissions(x->xsh, t, path, (struct xs_permissions *)perms,
					 nperms))
		return -1;
	return 0;
}

#define PUT(rel, v, perms, n)                                                        \
	do {                                                                         \
		snprintf(path, sizeof(path), "%s/%s", dom, rel);                     \
		if (xs_put(x, t, path, v, perms, n))                                 \
			return -1;                                                   \
	} while (0)

/*
 * /local/domain/N and /vm/UUID, as libxl lays them out (the parts that xl
 * list, xl console, xenconsoled and a PV guest read). Written in two goes,
 * so that little is left for the downtime: everything known at creation
 * (xs_skeleton_early, during the live phase, under the name NAME--incoming
 * as libxl does while the source still holds NAME), then what only the
 * guest's state says and the real name (xs_skeleton_final, at COMMIT).
 */
static int xs_skeleton_early(struct xmig__xen *x, xs_transaction_t t)
{
	const unsigned int d = x->domid;
	struct xs_permissions ro[2] = { { 0, XS_PERM_NONE }, { d, XS_PERM_READ } };
	struct xs_permissions rw[1] = { { d, XS_PERM_NONE } };
	static const char *const rw_dirs[] = { "device", "device/suspend/event-channel", "data",
					       "drivers", "feature", "attr", "error",
					       "control/shutdown", "control/sysrq",
					       "control/feature-poweroff",
					       "control/feature-reboot",
					       "control/feature-suspend", "control/feature-s3",
					       "control/feature-s4", "console/tty" };
	char dom[64], path[160], val[96], uuid[37], vm[64];

	xmig__xen_uuid_str(x->uuid, uuid);
	snprintf(vm, sizeof(vm), "/vm/%s", uuid);
	xmig__xen_dom_path(dom, sizeof(dom), d, NULL);
	xs_rm(x->xsh, t, dom);
	if (xs_put(x, t, dom, "", ro, 2) || xs_put(x, t, vm, "", ro, 2))
		return -1;
	snprintf(val, sizeof(val), "%s--incoming", x->name);
	PUT("name", val, NULL, 0);
	snprintf(val, sizeof(val), "%u", d);
	PUT("domid", val, NULL, 0);
	PUT("vm", vm, NULL, 0);
	PUT("control", "", ro, 2);
	for (size_t i = 0; i < XMIG__ARRAY_SIZE(rw_dirs); i++)
		PUT(rw_dirs[i], "", rw, 1);
	snprintf(val, sizeof(val), "%u", x->ri.store_port);
	PUT("store/port", val, NULL, 0);
	snprintf(val, sizeof(val), "%u", x->ri.console_port);
	PUT("console/port", val, NULL, 0);
	PUT("console/limit", "1048576", NULL, 0);
	PUT("console/type", "xenconsoled", NULL, 0);
	PUT("console/output", "pty", NULL, 0);
	for (unsigned int i = 0; i < x->nr_vcpus; i++) {
		char rel[48];

		snprintf(rel, sizeof(rel), "cpu/%u/availability", i);
		PUT(rel, "online", NULL, 0);
	}
	snprintf(path, sizeof(path), "%s/uuid", vm);
	if (xs_put(x, t, path, uuid, NULL, 0))
		return -1;
	snprintf(path, sizeof(path), "%s/start_time", vm);
	snprintf(val, sizeof(val), "%lld", (long long)time(NULL));
	if (xs_put(x, t, path, val, NULL, 0))
		return -1;
	/* until it starts or is destroyed: a leftover if this process dies */
	if (xmig__xen_claim_put(x, t, 0, x->uuid, "incoming"))
		return -1;
	x->claimed = 1;
	return 0;
}

static int xs_skeleton_final(struct xmig__xen *x, xs_transaction_t t)
{
	char dom[64], path[160], val[64], uuid[37];
	uint64_t max_kib, target_kib;

	xmig__xen_dom_path(dom, sizeof(dom), x->domid, NULL);
	PUT("name", x->name, NULL, 0);
	/* as libxl: static-max is the limit without its 1 MiB of slack; the
	 * target is the source's (else static-max), so the balloon stays put */
	max_kib = x->dom_state.max_pages * 4;
	if (max_kib > 2048)
		max_kib -= 1024;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)max_kib);
	PUT("memory/static-max", val, NULL, 0);
	if (x->dom_state.target_kib && x->dom_state.target_kib < max_kib)
		target_kib = x->dom_state.target_kib;
	else
		target_kib = max_kib;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)target_kib);
	PUT("memory/target", val, NULL, 0);
	snprintf(val, sizeof(val), "%llu", (unsigned long long)x->ri.store_gfn);
	PUT("store/ring-ref", val, NULL, 0);
	if (x->ri.console_gfn) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)x->ri.console_gfn);
		PUT("console/ring-ref", val, NULL, 0);
	}
	xmig__xen_uuid_str(x->uuid, uuid);
	snprintf(path, sizeof(path), "/vm/%s/name", uuid);
	return xs_put(x, t, path, x->name, NULL, 0);
}
#undef PUT

/* Write one part of the skeleton in a transaction (retried on EAGAIN). */
static int xs_write_part(struct xmig__xen *x, int (*part)(struct xmig__xen *, xs_transaction_t),
			 const char *what)
{
	int err = xmig__xen_store_open(x);

	if (err)
		return err;
	for (int tries = 0;; tries++) {
		xs_transaction_t t = xs_transaction_start(x->xsh);

		if (!t)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: xenstore transaction");
		if (part(x, t)) {
			int e = errno;

			xs_transaction_end(x->xsh, t, true);
			errno = e;
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: writing xenstore (%s)",
						x->domid, what);
		}
		if (xs_transaction_end(x->xsh, t, false))
			return 0;
		if (errno != EAGAIN || tries > 10)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: xenstore commit (%s)",
						x->domid, what);
	}
}

static int xenstore_connect(struct xmig__xen *x)
{
	int err = xs_write_part(x, xs_skeleton_final, "at commit");

	if (err)
		return err;
	if (x->ri.store_gfn &&
	    !xs_introduce_domain(x->xsh, x->domid, x->ri.store_gfn, x->ri.store_port))
		return xmig__fail_errno(XMIG_EBACKEND,
					"xen: d%u: introducing it to xenstored (ring gfn 0x%llx, "
					"port %u)", x->domid, (unsigned long long)x->ri.store_gfn,
					x->ri.store_port);
	return 0;
}

static int alloc_port(struct xmig__xen *x, uint32_t given, uint32_t remote, uint32_t *out)
{
	int p;

	if (given) {
		*out = given;
		return 0;
	}
	p = xc_evtchn_alloc_unbound(x->xch, x->domid, remote);
	if (p < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: event channel for d%u",
					x->domid, remote);
	*out = (uint32_t)p;
	return 0;
}

/*
 * The xenstore and console event channels, once, and the HVM params naming
 * them (a PV guest learns them from its start info: xen_pv.c).
 */
int xmig__xen_ports_connect(struct xmig__xen *x)
{
	int err;

	if (x->ri.store_port && x->ri.console_port)
		return 0;
	if ((err = alloc_port(x, x->p.store_port, x->p.store_domid, &x->ri.store_port)) ||
	    (err = alloc_port(x, x->p.console_port, x->p.console_domid, &x->ri.console_port)))
		return err;
	if (x->guest_kind == XMIG_GUEST_XEN_PV)
		return 0;
	if (xc_hvm_param_set(x->xch, x->domid, HVM_PARAM_STORE_EVTCHN, x->ri.store_port) < 0 ||
	    xc_hvm_param_set(x->xch, x->domid, HVM_PARAM_CONSOLE_EVTCHN, x->ri.console_port) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: setting the event channel "
					"params", x->domid);
	return 0;
}

int xmig__xen_domain_prepare(struct xmig__xen *x)
{
	int err;

	if (x->dstate == XMIG__XEN_D_RUNNING || x->prepared)
		return 0;
	if (x->dstate != XMIG__XEN_D_CREATED)
		return xmig__fail(XMIG_EINVAL, "xen: restore_complete: no domain");
	err = x->type->complete(x);
	if (err)
		return err;
	/* a domain of our own has its ports and most of xenstore from create */
	if (!x->own_domain && (err = xmig__xen_ports_connect(x)))
		return err;
	err = gnttab_seed(x);
	if (err)
		return err;
	x->ri.domid = x->domid;
	if (x->own_domain)
		err = xenstore_connect(x);
	else if (x->p.before_unpause && x->p.before_unpause(&x->ri, x->p.payload))
		err = xmig__fail(XMIG_EBACKEND, "xen: d%u: the toolstack's before_unpause "
				 "failed", x->domid);
	if (err)
		return err;
	x->prepared = 1;
	return 0;
}

int xmig__xen_domain_start(struct xmig__xen *x, int run)
{
	int err, left = 0;

	if (x->dstate == XMIG__XEN_D_RUNNING && x->held && run) {
		if (xc_domain_unpause(x->xch, x->domid) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: unpause", x->domid);
		x->held = 0;
		return 0;
	}
	if (x->dstate == XMIG__XEN_D_RUNNING)
		return 0;
	if (x->dstate != XMIG__XEN_D_CREATED)
		return xmig__fail(XMIG_EINVAL, "xen: unpause: no domain");
	if (!x->prepared && (err = xmig__xen_domain_prepare(x)))
		return err;
	if (x->p.toolstack_owns && !x->own_domain) {
		xmig__xen_note(x, "d%u restored and left paused: the toolstack unpauses it",
			       x->domid);
		left = 1;
	} else if (!run) {
		xmig__xen_note(x, "d%u restored and committed, left paused", x->domid);
		x->held = 1;
	} else if (xc_domain_unpause(x->xch, x->domid) < 0) {
		return xmig__fail_errno(XMIG_EBACKEND, "xen: d%u: unpause", x->domid);
	}
	/* committed: from here the domain is the host's, not a partial one */
	x->dstate = XMIG__XEN_D_RUNNING;
	x->ri_valid = 1;
	if (x->claimed) { /* it ran: nobody may take it for a leftover */
		xmig__xen_claim_drop(x, 0, x->domid);
		x->claimed = 0;
	}
	return left;
}

int xmig__xen_domain_destroy(struct xmig__xen *x)
{
	char dom[64], path[160], uuid[37];

	if (x->dstate == XMIG__XEN_D_EMPTY)
		return 0;
	if (x->p.toolstack_owns && !x->own_domain) {
		xmig__xen_note(x, "d%u left to the toolstack, whose domain it is", x->domid);
		goto forget;
	}
	/* ESRCH: gone already. Anything else: it is still there; keep its domid
	 * and state so that the caller can retry (and does not leak it). */
	if (xc_domain_destroy(x->xch, x->domid) < 0 && errno != ESRCH)
		return xmig__fail_errno(XMIG_EBACKEND, "xen: destroying d%u (it is still there)",
					x->domid);
	if (x->own_domain && xmig__xen_store_open(x) == 0) {
		xmig__xen_dom_path(dom, sizeof(dom), x->domid, NULL);
		xs_rm(x->xsh, XBT_NULL, dom);
		xmig__xen_uuid_str(x->uuid, uuid);
		snprintf(path, sizeof(path), "/vm/%s", uuid);
		xs_rm(x->xsh, XBT_NULL, path);
	}
	if (x->claimed) {
		xmig__xen_claim_drop(x, 0, x->domid);
		x->claimed = 0;
	}
forget:
	x->dstate = XMIG__XEN_D_EMPTY;
	x->prepared = x->held = 0;
	x->have_domain = x->have_tsc = x->have_ctx = x->have_params = x->have_populated = 0;
	x->have_policy = 0;
	x->ri_valid = 0;
	memset(&x->ri, 0, sizeof(x->ri));
	x->domid = 0;
	return 0;
}

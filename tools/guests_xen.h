/* SPDX-License-Identifier: MIT */
/*
 * The tools' glue for the xen backend (for tools/guests.c to dispatch to).
 *
 *   xmig-send --backend xen --domain DOMID ...   -> xen_guest_start(DOMID)
 *   xmig-recv --backend xen [--name NAME] ...    -> xen_guest_dest(NAME)
 *
 * Both print the reason of a failure on stderr and return < 0 (an XMIG_E*
 * code); on success *out is a backend handle to free with its ops->free.
 * Only compiled where the build has Xen (XMIG_HAVE_XEN).
 */
#ifndef XMIG_TOOLS_GUESTS_XEN_H
#define XMIG_TOOLS_GUESTS_XEN_H

#ifdef XMIG_HAVE_XEN
#include <stdint.h>
#include <stdio.h>

struct xmig_backend;

#define GUESTS_XEN_SEND_USAGE                                                          \
	"  xen:  --domain DOMID    the running domain to migrate, PVH, HVM or 64-bit PV\n" \
	"                          (run in dom0)\n"                                 \
	"        --xen-suspend MODE  auto (default), pause, shutdown, xenstore, evtchn\n"   \
	"                          (see xmig/backend/xen.h)\n"
#define GUESTS_XEN_RECV_USAGE                                                          \
	"  xen:  --name NAME       name of the domain xmig-recv builds (default\n"        \
	"                          xmig-DOMID); it is unpaused on COMMIT\n"

/*
 * A source: the running domain DOMID (decimal). `suspend` is NULL or one of
 * the mode names above.
 */
int xen_guest_start(const char *domid_str, struct xmig_backend **out);
int xen_guest_start_mode(const char *domid_str, const char *suspend,
			 struct xmig_backend **out);

/* A destination that builds its own PVH domain named `name` (NULL: default). */
int xen_guest_dest(const char *name, struct xmig_backend **out);

/*
 * --cleanup: the leftovers of dead xmig processes on this host
 * (xmig_xen_cleanup), one line each on stdout and a summary; `resume_domid`
 * (--resume DOMID, or 0) names a stopped source to resume. 0, or < 0 after
 * printing why.
 */
int xen_guest_cleanup(int dry_run, uint32_t resume_domid);

/* Check a --xen-suspend value: 0, or < 0 after printing why. */
int xen_guest_check_suspend(const char *mode);

/*
 * After a migration into `b` (receiver): print where the guest runs now
 * ("xen: the guest runs as domain 7 (name xg), store gfn 0xfeffc port 1,
 * console gfn 0xfeffb port 2"), plus the backend's notes, to `f`.
 * After a migration out of `b` (sender): print how the guest was stopped.
 */
void xen_guest_report(struct xmig_backend *b, FILE *f);

#endif
#endif

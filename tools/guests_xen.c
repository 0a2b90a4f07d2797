/* SPDX-License-Identifier: MIT */
/* The tools' glue for the xen backend; see guests_xen.h. */
#ifdef XMIG_HAVE_XEN
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guests_xen.h"
#include "toolutil.h"
#include "xmig/backend/xen.h"
#include "xmig/errors.h"
#include "xmig/sys/backend.h"
#include "xmig/transport.h"

static const struct {
	const char *name;
	int mode;
} modes[] = {
	{ "auto", XMIG_XEN_SUSPEND_AUTO },         { "pause", XMIG_XEN_SUSPEND_PAUSE },
	{ "shutdown", XMIG_XEN_SUSPEND_SHUTDOWN }, { "xenstore", XMIG_XEN_SUSPEND_XENSTORE },
	{ "evtchn", XMIG_XEN_SUSPEND_EVTCHN },
};

static int parse_mode(const char *s)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(s, modes[i].name) == 0)
			return modes[i].mode;
	return -1;
}

int xen_guest_check_suspend(const char *mode)
{
	if (mode && parse_mode(mode) < 0) {
		fprintf(stderr, "%s: error: --xen-suspend: unknown mode '%s' (auto, pause, shutdown, "
			"xenstore, evtchn)\n", tool_name, mode);
		return XMIG_EINVAL;
	}
	return 0;
}

int xen_guest_start_mode(const char *domid_str, const char *suspend,
			 struct xmig_backend **out)
{
	struct xmig_xen_params p = XMIG_XEN_PARAMS_INIT;
	char *end;
	unsigned long d;
	int rc;

	*out = NULL;
	if (!domid_str || !domid_str[0]) {
		usage_error("--domain DOMID is required");
		return XMIG_EINVAL;
	}
	errno = 0;
	d = strtoul(domid_str, &end, 10);
	if (errno || *end || d == 0 || d >= 0x7ff0) {
		usage_error("--domain: '%s' is not the id of a guest domain", domid_str);
	}
	if (suspend) {
		if (xen_guest_check_suspend(suspend) < 0)
			return XMIG_EINVAL;
		p.suspend = parse_mode(suspend);
	}
	rc = xmig_xen_open(out, (uint32_t)d, &p);
	if (rc < 0)
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
	return rc;
}

int xen_guest_start(const char *domid_str, struct xmig_backend **out)
{
	return xen_guest_start_mode(domid_str, NULL, out);
}

int xen_guest_dest(const char *name, struct xmig_backend **out)
{
	struct xmig_xen_params p = XMIG_XEN_PARAMS_INIT;
	int rc;

	p.name = name;
	rc = xmig_xen_new_dest(out, &p);
	if (rc < 0)
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
	return rc;
}

void xen_guest_report(struct xmig_backend *b, FILE *f)
{
	struct xmig_xen_restore_info ri;
	const char *notes = xmig_xen_notes(b);

	if (xmig_xen_restore_info(b, &ri) == 0)
		fprintf(f, "xen: the guest runs as domain %u; xenstore gfn 0x%llx port %u, "
			"console gfn 0x%llx port %u\n", ri.domid,
			(unsigned long long)ri.store_gfn, ri.store_port,
			(unsigned long long)ri.console_gfn, ri.console_port);
	if (notes[0])
		fprintf(f, "xen: %s\n", notes);
}
#endif

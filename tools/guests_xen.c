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
struct cleanup_tally {
	unsigned int found, destroyed, resumed, stopped, failed;
};

static const char *owner_text(const struct xmig_xen_leftover *l, char *buf, size_t n)
{
	snprintf(buf, n, "d%u%s%s%s", l->domid, l->name[0] ? " (" : "", l->name,
		 l->name[0] ? ")" : "");
	return buf;
}

static void cleanup_line(const struct xmig_xen_leftover *l, void *payload)
{
	struct cleanup_tally *t = payload;
	char who[128];

	owner_text(l, who, sizeof(who));
	if (l->action == XMIG_XEN_LEFT_OWNER_ALIVE) {
		printf("%s: %s: in use by a running xmig process (pid %d): not a leftover\n",
		       tool_name, who, l->owner_pid);
		return;
	}
	t->found++;
	if (!l->kind) {
		printf("%s: %s\n", tool_name, l->why);
		return;
	}
	switch (l->action) {
	case XMIG_XEN_LEFT_GONE:
		printf("%s: %s: %s\n", tool_name, who, l->why);
		return;
	case XMIG_XEN_LEFT_DESTROYED:
		t->destroyed++;
		printf("%s: %s: a destination the dead pid %d created and never started: "
		       "destroyed (if its source is still stopped, it was never started here: "
		       "resume it there)\n", tool_name, who, l->owner_pid);
		return;
	case XMIG_XEN_LEFT_KEPT_RUNNING:
		printf("%s: %s: a destination the dead pid %d had started: it is the guest, "
		       "kept (its source must not be resumed)\n", tool_name, who, l->owner_pid);
		return;
	case XMIG_XEN_LEFT_LOGDIRTY_OFF:
		printf("%s: %s: a running source the dead pid %d left in log-dirty mode: "
		       "log-dirty off, the guest runs on\n", tool_name, who, l->owner_pid);
		return;
	case XMIG_XEN_LEFT_RESUMED:
		t->resumed++;
		printf("%s: %s: a source the dead pid %d left stopped: resumed\n", tool_name, who,
		       l->owner_pid);
		return;
	case XMIG_XEN_LEFT_FAILED:
		t->failed++;
		printf("%s: %s: left by the dead pid %d: %s\n", tool_name, who, l->owner_pid,
		       l->why);
		return;
	default:
		break;
	}
	/* REPORTED: a dry run, or a stopped source, which is never guessed about */
	if (l->kind == XMIG_XEN_LEFTOVER_STOPPED) {
		t->stopped++;
		printf("%s: %s: a source the dead pid %d left stopped for stop-and-copy: left "
		       "alone. Whether the destination runs it cannot be known here: look there "
		       "(xl list). If it does not, `%s --cleanup --resume %u` resumes it here; if "
		       "it does, `xl destroy %u`\n", tool_name, who, l->owner_pid, tool_name,
		       l->domid, l->domid);
	} else {
		printf("%s: %s: %s left by the dead pid %d (dry run: nothing done)\n", tool_name,
		       who, l->kind == XMIG_XEN_LEFTOVER_INCOMING
				    ? "a destination never started"
				    : "a source in log-dirty mode", l->owner_pid);
	}
}

int xen_guest_cleanup(int dry_run, uint32_t resume_domid)
{
	struct cleanup_tally t = { 0 };
	int rc;

	rc = xmig_xen_cleanup(dry_run ? XMIG_XEN_CLEANUP_DRY_RUN : 0, resume_domid, cleanup_line,
			      &t);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		return rc;
	}
	if (!t.found)
		printf("%s: no leftovers of dead xmig processes on this host\n", tool_name);
	else
		printf("%s: %u leftover%s%s: %u destroyed, %u resumed, %u stopped source%s left "
		       "alone\n", tool_name, t.found, t.found == 1 ? "" : "s",
		       dry_run ? " (dry run)" : "", t.destroyed, t.resumed, t.stopped,
		       t.stopped == 1 ? "" : "s");
	return 0;
}
#endif

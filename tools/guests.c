/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guests.h"
#include "xmig/backend/sim.h"
#include "xmig/sys/backend.h"

#ifdef XMIG_HAVE_KVM
#include "xmig/backend/kvm.h"
#endif

static int is(const struct guest_opts *go, const char *name)
{
	return strcmp(go->backend, name) == 0;
}

const char *guest_backends(void)
{
	return "sim"
#ifdef XMIG_HAVE_KVM
	       ", kvm"
#endif
#ifdef XMIG_HAVE_XEN
	       ", xen"
#endif
		;
}

static void check_backend_known(struct guest_opts *go)
{
	if (is(go, "sim"))
		return;
#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		return;
#endif
#ifdef XMIG_HAVE_XEN
	if (is(go, "xen"))
		return;
#endif
	usage_error("--backend: unknown backend '%s' (this build has: %s)", go->backend,
		    guest_backends());
}

void guest_opts_check_send(struct guest_opts *go)
{
	check_backend_known(go);
	if (!is(go, "xen") && (go->domain || go->xen_suspend))
		usage_error("--domain and --xen-suspend are for the xen backend");
#ifdef XMIG_HAVE_XEN
	if (is(go, "xen")) {
		if (!go->domain)
			usage_error("--domain DOMID is required with --backend xen");
		if (go->guest || go->append || go->mem_set || strcmp(go->dirty, "none"))
			usage_error("--guest, --append, --mem and --dirty do not apply to a Xen "
				    "domain");
		if (go->xen_suspend && xen_guest_check_suspend(go->xen_suspend) < 0)
			exit(EXIT_USAGE);
		return;
	}
#endif
	if (is(go, "sim")) {
		if (xmig_sim_parse_dirty(go->dirty) < 0)
			usage_error("--dirty: %s", xmig_error_last());
		if (go->guest || go->append)
			usage_error("--guest and --append are for the kvm backend");
		if (go->mem < 4096)
			usage_error("--mem must be at least one page");
		return;
	}
#ifdef XMIG_HAVE_KVM
	if (strcmp(go->dirty, "none") != 0)
		usage_error("--dirty is for the sim backend; the kvm guest's workload is "
			    "set with --append");
	if (!go->guest) {
		const char *def = XMIG_DEFAULT_GUEST;

		if (!def[0] || access(def, R_OK) != 0)
			def = XMIG_INSTALLED_GUEST;
		if (!def[0] || access(def, R_OK) != 0)
			usage_error("--guest PATH is required (this build has no test guest%s%s)",
				    def[0] ? ", and none is installed at " : "", def);
		go->guest = def;
	}
	if (access(go->guest, R_OK) != 0)
		usage_error("--guest: cannot read '%s'", go->guest);
	if (!go->mem_set)
		go->mem = 256ull << 20;
	if (go->mem < XMIG_KVM_MIN_MEM || go->mem > XMIG_KVM_MAX_MEM)
		usage_error("--mem: the kvm backend takes %llu MiB to %llu MiB",
			    XMIG_KVM_MIN_MEM >> 20, XMIG_KVM_MAX_MEM >> 20);
#endif
}

void guest_opts_check_recv(struct guest_opts *go)
{
	check_backend_known(go);
	if (go->name && !is(go, "xen"))
		usage_error("--name is for the xen backend");
}

int guest_start(struct guest_opts *go, struct xmig_backend **out)
{
	struct xmig_sim_params p = XMIG_SIM_PARAMS_INIT;
	int rc;

#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		return kvm_guest_start(go, out);
#endif
#ifdef XMIG_HAVE_XEN
	if (is(go, "xen"))
		return xen_guest_start_mode(go->domain, go->xen_suspend, out);
#endif
	p.mem_bytes = go->mem;
	p.nr_vcpus = go->vcpus;
	p.dirty = go->dirty;
	p.seed = go->seed;
	rc = xmig_sim_new(out, &p);
	if (rc < 0) {
		fprintf(stderr, "%s: error: cannot start the simulated guest: %s\n", tool_name,
			xmig_error_last());
		return rc;
	}
	if (tool_verbosity > 0)
		fprintf(stderr, "%s: started a SIMULATED guest (sim backend): %llu MiB, %u vCPU(s), "
			"dirty model '%s'\n", tool_name, (unsigned long long)(go->mem >> 20),
			go->vcpus, go->dirty);
	return 0;
}

int guest_cleanup(int dry_run, const char *resume_domid)
{
	unsigned long d = 0;

	if (resume_domid) {
		char *end;

		errno = 0;
		d = strtoul(resume_domid, &end, 10);
		if (errno || *end || d == 0 || d >= 0x7ff0)
			usage_error("--resume: '%s' is not the id of a guest domain", resume_domid);
	}
#ifdef XMIG_HAVE_XEN
	return xen_guest_cleanup(dry_run, (uint32_t)d) < 0 ? EXIT_FAILED : 0;
#else
	(void)dry_run;
	fprintf(stderr, "%s: error: --cleanup: this build has no xen backend (only Xen "
		"domains outlive a dead xmig process; sim and kvm guests die with it)\n",
		tool_name);
	return EXIT_FAILED;
#endif
}

int guest_dest(struct guest_opts *go, struct xmig_backend **out)
{
	int rc;

#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		return kvm_guest_dest(go, out);
#endif
#ifdef XMIG_HAVE_XEN
	if (is(go, "xen"))
		return xen_guest_dest(go->name, out);
#endif
	rc = xmig_sim_new_dest(out);
	if (rc < 0)
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
	return rc;
}

int guest_run_for(struct guest_opts *go, struct xmig_backend *b, uint64_t ms)
{
#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm")) {
		/* in slices, so that a signal ends the wait */
		while (ms && !tool_interrupted) {
			uint64_t n = ms < 100 ? ms : 100;
			int code, rc = kvm_guest_run_for(go, b, n, &code);

			if (rc != XMIG_ETIMEDOUT) {
				fprintf(stderr, "%s: error: the guest stopped: %s\n", tool_name,
					rc == 0 ? "it exited" : xmig_error_last());
				return -1;
			}
			ms -= n;
		}
		return tool_interrupted ? -1 : 0;
	}
#endif
	(void)b;
	return tool_sleep_ms(ms);
}

const char *guest_annotate(void *payload)
{
	struct guest_opts *go = payload;

#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		return kvm_guest_annotate(go);
#endif
	(void)go;
	return NULL;
}

void guest_report_send(struct guest_opts *go, struct xmig_backend *b, struct tool_report *r)
{
	(void)b;
#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		kvm_guest_report_send(go, r);
#endif
#ifdef XMIG_HAVE_XEN
	if (is(go, "xen") && tool_verbosity > 0)
		xen_guest_report(b, stderr);
#endif
	(void)go;
	(void)r;
}

int guest_after(struct guest_opts *go, struct xmig_backend *b, const char *annotations,
		uint64_t ms, int until_exit, struct tool_report *r)
{
	static char verdict[128];
	uint64_t bad, before;
	int rc;

#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		return kvm_guest_after(go, b, annotations, ms, until_exit, r);
#endif
#ifdef XMIG_HAVE_XEN
	if (is(go, "xen")) {
		/* The domain runs on; its own output goes to the Xen console. */
		if (until_exit)
			usage_error("--until-exit is for the kvm backend");
		xen_guest_report(b, stderr);
		snprintf(verdict, sizeof(verdict), "running (a Xen domain: its own checks "
			 "print on the Xen console)");
		r->guest_check = verdict;
		return 0;
	}
#endif
	(void)annotations;
	if (until_exit)
		usage_error("--until-exit is for the kvm backend");
	before = xmig_sim_writes(b);
	guest_run_for(go, b, ms);
	rc = xmig_sim_check(b, &bad);
	if (rc < 0)
		snprintf(verdict, sizeof(verdict), "CORRUPT: page 0x%llx fails the sim guest's check",
			 (unsigned long long)bad);
	else
		snprintf(verdict, sizeof(verdict), "clean (sim check of every page; %llu writes "
			 "since arrival)", (unsigned long long)(xmig_sim_writes(b) - before));
	r->guest_check = verdict;
	return rc;
}

void guest_forget(struct guest_opts *go)
{
#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		kvm_guest_forget_heartbeats(go);
#endif
	(void)go;
}

void guest_stop(struct guest_opts *go, struct xmig_backend *b)
{
	if (b)
		b->ops->free(b);
#ifdef XMIG_HAVE_KVM
	if (is(go, "kvm"))
		kvm_guest_free(go);
#endif
	(void)go;
}

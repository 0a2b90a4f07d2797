/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guests.h"
#include "xmig/backend/sim.h"
#include "xmig/sys/backend.h"

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0)
		;
}

void guest_opts_check_send(struct guest_opts *go)
{
	if (!strcmp(go->backend, "sim")) {
		if (xmig_sim_parse_dirty(go->dirty) < 0)
			usage_error("--dirty: %s", xmig_error_last());
		if (go->guest || go->append)
			usage_error("--guest and --append are for the kvm backend");
		if (go->mem < 4096)
			usage_error("--mem must be at least one page");
		return;
	}
	usage_error("--backend: unknown backend '%s' (sim%s)", go->backend,
#ifdef XMIG_HAVE_KVM
		    ", kvm"
#else
		    ""
#endif
	);
}

int guest_start(struct guest_opts *go, struct xmig_backend **out)
{
	struct xmig_sim_params p = XMIG_SIM_PARAMS_INIT;
	int rc;

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

int guest_dest(struct guest_opts *go, struct xmig_backend **out)
{
	int rc;

	if (strcmp(go->backend, "sim") != 0) {
		fprintf(stderr, "%s: error: unknown backend '%s'\n", tool_name, go->backend);
		return -1;
	}
	rc = xmig_sim_new_dest(out);
	if (rc < 0)
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
	return rc;
}

void guest_run_for(struct guest_opts *go, struct xmig_backend *b, uint64_t ms)
{
	(void)go;
	(void)b;
	if (ms)
		sleep_ms(ms);
}

void guest_report_send(struct guest_opts *go, struct xmig_backend *b, struct tool_report *r)
{
	(void)go;
	(void)b;
	(void)r;
}

void guest_report_recv(struct guest_opts *go, struct xmig_backend *b, struct tool_report *r)
{
	(void)go;
	(void)b;
	(void)r;
}

int guest_after(struct guest_opts *go, struct xmig_backend *b, uint64_t ms, int until_exit,
		struct tool_report *r)
{
	static char verdict[128];
	uint64_t bad, before;
	int rc;

	(void)go;
	(void)until_exit;
	before = xmig_sim_writes(b);
	guest_run_for(go, b, ms);
	rc = xmig_sim_check(b, &bad);
	if (rc < 0)
		snprintf(verdict, sizeof(verdict), "corrupt: page 0x%llx fails the sim guest's check",
			 (unsigned long long)bad);
	else
		snprintf(verdict, sizeof(verdict), "clean (sim check of every page; %llu writes "
			 "since arrival)", (unsigned long long)(xmig_sim_writes(b) - before));
	r->guest_check = verdict;
	return rc;
}

void guest_stop(struct guest_opts *go, struct xmig_backend *b)
{
	(void)go;
	if (b)
		b->ops->free(b);
}

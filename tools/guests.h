/* SPDX-License-Identifier: MIT */
/* The tools' side of each backend: starting, watching and checking guests. */
#ifndef XMIG_TOOLS_GUESTS_H
#define XMIG_TOOLS_GUESTS_H

#include <stdint.h>

#include "toolutil.h"

struct xmig_backend;

#ifdef XMIG_HAVE_KVM
#define GUESTS_KVM_SEND_USAGE                                                          \
	"  kvm:  --guest PATH      the PVH guest ELF (default: the xmig test guest)\n"    \
	"        --append CMDLINE  the guest's command line, e.g. \"ws=64M rate=max\"\n"
#else
#define GUESTS_KVM_SEND_USAGE "  (kvm: not built in)\n"
#endif

struct guest_opts {
	const char *backend;
	uint64_t mem;
	uint32_t vcpus;
	uint64_t run_before_ms;
	const char *dirty; /* sim */
	uint64_t seed;     /* sim */
	const char *guest; /* kvm */
	const char *append; /* kvm */
	void *priv;        /* backend-specific tool state */
};

#define GUEST_OPTS_INIT                                                                \
	{                                                                              \
		.backend = "sim", .mem = 256ull << 20, .vcpus = 1, .dirty = "none",    \
		.seed = 1,                                                             \
	}

/* Validate the options for a sender (exits with a usage error). */
void guest_opts_check_send(struct guest_opts *go);

/* Start the source guest. On failure prints the reason and returns < 0. */
int guest_start(struct guest_opts *go, struct xmig_backend **out);

/* An empty destination of go->backend. */
int guest_dest(struct guest_opts *go, struct xmig_backend **out);

/* Let the guest run for `ms` (printing what it says, for kvm). */
void guest_run_for(struct guest_opts *go, struct xmig_backend *b, uint64_t ms);

/* Fill the guest-observed parts of a report after a migration. */
void guest_report_send(struct guest_opts *go, struct xmig_backend *b, struct tool_report *r);
void guest_report_recv(struct guest_opts *go, struct xmig_backend *b, struct tool_report *r);

/*
 * After a migration into `b`: run it for `ms` (or until it exits, if
 * until_exit) and check it with the guest's own checker. Returns 0 if the
 * guest is sound, < 0 otherwise, with r->guest_check describing it.
 */
int guest_after(struct guest_opts *go, struct xmig_backend *b, uint64_t ms, int until_exit,
		struct tool_report *r);

/* Free the backend (destroying a guest still there). */
void guest_stop(struct guest_opts *go, struct xmig_backend *b);

#endif

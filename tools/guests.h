/* SPDX-License-Identifier: MIT */
/* The tools' side of each backend: starting, watching and checking guests. */
#ifndef XMIG_TOOLS_GUESTS_H
#define XMIG_TOOLS_GUESTS_H

#include <stdint.h>

#include "guests_xen.h"
#include "toolutil.h"

struct xmig_backend;

#ifdef XMIG_HAVE_KVM
#define GUESTS_KVM_SEND_USAGE                                                          \
	"  kvm:  --guest PATH      the PVH guest ELF (default: the xmig test guest of\n"  \
	"                          this build, if there is one)\n"                        \
	"        --append CMDLINE  the guest's command line, e.g. \"ws=4M rate=max\"\n"    \
	"                          (docs/test-guest.md); --run-before counts from the\n"  \
	"                          guest's READY line\n"
#else
#define GUESTS_KVM_SEND_USAGE "  (kvm: not built in)\n"
#endif
#ifndef XMIG_HAVE_XEN
#define GUESTS_XEN_SEND_USAGE "  (xen: not built in)\n"
#define GUESTS_XEN_RECV_USAGE ""
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
	const char *domain; /* xen: the source domain's id */
	const char *xen_suspend; /* xen: how to stop the source */
	const char *name;  /* xen: the destination domain's name */
	int mem_set;       /* --mem was given */
	void *priv;        /* backend-specific tool state */
};

#define GUEST_OPTS_INIT                                                                \
	{                                                                              \
		.backend = "sim", .mem = 256ull << 20, .vcpus = 1, .dirty = "none",    \
		.seed = 1,                                                             \
	}

/* The backends this build has, for messages: "sim, kvm". */
const char *guest_backends(void);

/* Validate the options for a sender / a receiver (exit with a usage error). */
void guest_opts_check_send(struct guest_opts *go);
void guest_opts_check_recv(struct guest_opts *go);

/* Start the source guest. On failure prints the reason and returns < 0. */
int guest_start(struct guest_opts *go, struct xmig_backend **out);

/* An empty destination of go->backend. */
int guest_dest(struct guest_opts *go, struct xmig_backend **out);

/*
 * --cleanup [--dry-run] [--resume DOMID]: the leftovers of dead xmig
 * processes (xen only; see xen_guest_cleanup). Returns the exit status.
 */
int guest_cleanup(int dry_run, const char *resume_domid);

/* Let the guest run for `ms`; < 0 if it stopped or failed meanwhile. */
int guest_run_for(struct guest_opts *go, struct xmig_backend *b, uint64_t ms);

/* Text to attach to the stream at pause time (annotate_fn), or NULL. */
const char *guest_annotate(void *go);

/* Fill the guest-observed parts of a sender's report after a migration. */
void guest_report_send(struct guest_opts *go, struct xmig_backend *b, struct tool_report *r);

/*
 * After a migration into `b`: run it for `ms` (or until it exits, if
 * until_exit; then `ms` is a limit, 0 for none), check it with the guest's
 * own checker, and fill r (guest-observed downtime, check verdict). Returns
 * 0 if the guest is sound, < 0 otherwise.
 */
int guest_after(struct guest_opts *go, struct xmig_backend *b, const char *annotations,
		uint64_t ms, int until_exit, struct tool_report *r);

/* Forget what was observed of the guest before it left (ping-pong). */
void guest_forget(struct guest_opts *go);

/* Free the backend (destroying a guest still there) and the tool state. */
void guest_stop(struct guest_opts *go, struct xmig_backend *b);

#ifdef XMIG_HAVE_KVM
int kvm_guest_start(struct guest_opts *go, struct xmig_backend **out);
int kvm_guest_dest(struct guest_opts *go, struct xmig_backend **out);
int kvm_guest_run_for(struct guest_opts *go, struct xmig_backend *b, uint64_t ms, int *code);
const char *kvm_guest_annotate(struct guest_opts *go);
void kvm_guest_report_send(struct guest_opts *go, struct tool_report *r);
void kvm_guest_forget_heartbeats(struct guest_opts *go);
int kvm_guest_after(struct guest_opts *go, struct xmig_backend *b, const char *annotations,
		    uint64_t ms, int until_exit, struct tool_report *r);
void kvm_guest_free(struct guest_opts *go);
#endif

#endif

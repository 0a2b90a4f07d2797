/* SPDX-License-Identifier: MIT */
/*
 * Stop policies: after every live round, the engine asks the policy whether
 * to run another round, to stop the guest and copy the rest, or to give up.
 *
 * A policy is a pure function of the measured state below; the built-in
 * ones are exported so they can be composed or tested on scripted input.
 */
#ifndef XMIG_POLICY_H
#define XMIG_POLICY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum xmig_policy_decision {
	XMIG_POLICY_CONTINUE = 0, /* run another live round */
	XMIG_POLICY_STOP = 1,     /* stop-and-copy now */
	XMIG_POLICY_ABORT = 2,    /* give up; the source keeps running */
};

/* What to do when a limit (rounds, time) is hit before the policy stops. */
enum xmig_no_converge {
	XMIG_NOCONV_STOP = 0,  /* force stop-and-copy (downtime may exceed target) */
	XMIG_NOCONV_ABORT = 1, /* abort; the guest keeps running on the source */
};

struct xmig_policy_input {
	uint32_t rounds_done;      /* live rounds completed, round 0 included */
	uint64_t dirty_pages;      /* pages dirty now: what stop-and-copy would send */
	uint64_t nr_pages;         /* guest size */
	uint32_t page_size;
	double bandwidth;          /* bytes/s measured over the last round */
	double dirty_rate;         /* pages/s dirtied during the last round */
	uint64_t elapsed_ns;       /* since the migration started */
	uint64_t bytes_sent;       /* so far */
	uint64_t fixed_cost_ns;    /* measured or estimated: pause + state + commit */
	uint64_t expected_downtime_ns; /* dirty bytes / bandwidth + fixed cost */
	uint32_t stalled_rounds;   /* consecutive rounds whose dirty set did not
				      shrink below 90 % of the one before */
	/* the limits the caller set (copied from the send params) */
	uint64_t target_downtime_ns;
	uint32_t max_rounds;
	uint64_t max_time_ns;      /* 0: none */
	int on_no_converge;        /* enum xmig_no_converge */
};

/* Returns an enum xmig_policy_decision. */
typedef int (*xmig_policy_fn)(const struct xmig_policy_input *in, void *payload);

/*
 * "xen-classic": libxenguest's default. At most 5 live rounds, round 0
 * included; stop as soon as fewer than 50 pages are dirty. No bandwidth or
 * time criterion; on reaching 5 rounds it always stops (never aborts).
 */
int xmig_policy_xen_classic(const struct xmig_policy_input *in, void *payload);

/*
 * "downtime" (the default): stop once expected_downtime_ns <=
 * target_downtime_ns. If max_rounds or max_time_ns is reached first, obey
 * on_no_converge. A guest that dirties faster than the link never
 * converges: after 3 stalled rounds in a row the policy treats the run as
 * not converging (on_no_converge) instead of sending the same pages again.
 */
int xmig_policy_downtime(const struct xmig_policy_input *in, void *payload);

/*
 * Fill the two derived fields of `in` the way the engine does, from the
 * fields above them: expected_downtime_ns = fixed_cost_ns + dirty bytes /
 * bandwidth (huge while no bandwidth has been measured), and
 * stalled_rounds = *stalled + 1 if dirty_pages is above 90 % of
 * prev_dirty (the round before's), else 0; *stalled is updated. For tools
 * that feed the policies a model (xmig-simulate) and must decide as the
 * engine would.
 */
void xmig_policy_derive(struct xmig_policy_input *in, uint64_t prev_dirty, uint32_t *stalled);

/*
 * What the engine does with a policy's answer: fn(in, payload), except that
 * CONTINUE becomes in->on_no_converge's STOP or ABORT once rounds_done has
 * reached in->max_rounds (a caller's policy and xen-classic included) or the
 * stream's round limit. For tools that run the policies on a model.
 */
int xmig_policy_decide(xmig_policy_fn fn, const struct xmig_policy_input *in, void *payload);

/* The built-in policy of that name, or NULL. */
xmig_policy_fn xmig_policy_lookup(const char *name);

#ifdef __cplusplus
}
#endif
#endif

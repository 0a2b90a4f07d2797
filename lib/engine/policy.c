/* SPDX-License-Identifier: MIT */
/* The built-in stop policies. */
#include <string.h>

#include "common.h"
#include "stream/stream.h"
#include "xmig/policy.h"

XMIG__API int xmig_policy_xen_classic(const struct xmig_policy_input *in, void *payload)
{
	/* libxenguest: 5 live rounds at most, or fewer than 50 dirty pages. */
	if (in->dirty_pages < 50 || in->rounds_done >= 5)
		return XMIG_POLICY_STOP;
	return XMIG_POLICY_CONTINUE;
}

static int no_converge(const struct xmig_policy_input *in)
{
	return in->on_no_converge == XMIG_NOCONV_ABORT ? XMIG_POLICY_ABORT : XMIG_POLICY_STOP;
}

XMIG__API int xmig_policy_downtime(const struct xmig_policy_input *in, void *payload)
{
	if (in->expected_downtime_ns <= in->target_downtime_ns)
		return XMIG_POLICY_STOP;
	if (in->max_rounds && in->rounds_done >= in->max_rounds)
		return no_converge(in);
	if (in->max_time_ns && in->elapsed_ns >= in->max_time_ns)
		return no_converge(in);
	if (in->stalled_rounds >= 3)
		return no_converge(in);
	return XMIG_POLICY_CONTINUE;
}

XMIG__API void xmig_policy_derive(struct xmig_policy_input *in, uint64_t prev_dirty,
				   uint32_t *stalled)
{
	double dirty_bytes = (double)in->dirty_pages * in->page_size;

	*stalled = (double)in->dirty_pages > 0.9 * (double)prev_dirty ? *stalled + 1 : 0;
	in->stalled_rounds = *stalled;
	in->expected_downtime_ns =
		in->fixed_cost_ns +
		(in->bandwidth > 0 ? (uint64_t)(dirty_bytes * 1e9 / in->bandwidth) : UINT64_MAX / 2);
}

XMIG__API int xmig_policy_decide(xmig_policy_fn fn, const struct xmig_policy_input *in,
				 void *payload)
{
	int d = fn(in, payload);

	/* even a policy that never stops stops at its caller's max_rounds, and
	 * before the stream's last round number (the final round needs one) */
	if (d == XMIG_POLICY_CONTINUE &&
	    ((in->max_rounds && in->rounds_done >= in->max_rounds) ||
	     in->rounds_done >= XMIG_ROUND_MAX))
		d = no_converge(in);
	return d;
}

XMIG__API xmig_policy_fn xmig_policy_lookup(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "downtime"))
		return xmig_policy_downtime;
	if (!strcmp(name, "xen-classic"))
		return xmig_policy_xen_classic;
	return NULL;
}

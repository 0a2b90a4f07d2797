/* SPDX-License-Identifier: MIT */
/* The built-in stop policies, on scripted measurements. */
#include "testutil.h"
#include "xmig/policy.h"

static struct xmig_policy_input base(void)
{
	struct xmig_policy_input in = {
		.rounds_done = 1,
		.dirty_pages = 10000,
		.nr_pages = 262144,
		.page_size = 4096,
		.bandwidth = 1e9,
		.dirty_rate = 1000,
		.elapsed_ns = 1000000000ull,
		.fixed_cost_ns = 1000000,
		.target_downtime_ns = 50000000ull,
		.max_rounds = 30,
		.on_no_converge = XMIG_NOCONV_STOP,
	};
	in.expected_downtime_ns = in.fixed_cost_ns +
		(uint64_t)((double)in.dirty_pages * in.page_size * 1e9 / in.bandwidth);
	return in;
}

START_TEST(test_xen_classic)
{
	struct xmig_policy_input in = base();

	in.dirty_pages = 50;
	ck_assert_int_eq(xmig_policy_xen_classic(&in, NULL), XMIG_POLICY_CONTINUE);
	in.dirty_pages = 49;
	ck_assert_int_eq(xmig_policy_xen_classic(&in, NULL), XMIG_POLICY_STOP);
	in.dirty_pages = 100000;
	in.rounds_done = 4;
	ck_assert_int_eq(xmig_policy_xen_classic(&in, NULL), XMIG_POLICY_CONTINUE);
	in.rounds_done = 5;
	ck_assert_int_eq(xmig_policy_xen_classic(&in, NULL), XMIG_POLICY_STOP);
	/* it never aborts, whatever the caller asked for */
	in.on_no_converge = XMIG_NOCONV_ABORT;
	ck_assert_int_eq(xmig_policy_xen_classic(&in, NULL), XMIG_POLICY_STOP);
}
END_TEST

START_TEST(test_downtime_converges)
{
	struct xmig_policy_input in = base();

	/* 10000 pages at 1 GB/s = 41 ms + 1 ms fixed: within 50 ms */
	ck_assert_uint_lt(in.expected_downtime_ns, in.target_downtime_ns);
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_STOP);
	/* the same set at half the bandwidth is 83 ms: go on */
	in.expected_downtime_ns = 83000000ull;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_CONTINUE);
	/* exactly on target stops */
	in.expected_downtime_ns = in.target_downtime_ns;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_STOP);
}
END_TEST

START_TEST(test_downtime_limits)
{
	struct xmig_policy_input in = base();

	in.expected_downtime_ns = 500000000ull;
	in.rounds_done = 30;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_STOP);
	in.on_no_converge = XMIG_NOCONV_ABORT;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_ABORT);

	in.rounds_done = 3;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_CONTINUE);
	in.max_time_ns = 2000000000ull;
	in.elapsed_ns = 2000000001ull;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_ABORT);
	in.max_time_ns = 0; /* no time limit */
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_CONTINUE);
}
END_TEST

START_TEST(test_downtime_stalled)
{
	struct xmig_policy_input in = base();

	in.expected_downtime_ns = 500000000ull;
	in.stalled_rounds = 2;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_CONTINUE);
	in.stalled_rounds = 3;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_STOP);
	in.on_no_converge = XMIG_NOCONV_ABORT;
	ck_assert_int_eq(xmig_policy_downtime(&in, NULL), XMIG_POLICY_ABORT);
}
END_TEST

START_TEST(test_derive)
{
	struct xmig_policy_input in = { .dirty_pages = 1000, .page_size = 4096,
					.bandwidth = 4096e3, .fixed_cost_ns = 2000000 };
	uint32_t stalled = 0;

	/* 1000 pages of 4 KiB at 4096 kB/s: 1 s, plus the fixed 2 ms */
	xmig_policy_derive(&in, 10000, &stalled);
	ck_assert_uint_eq(in.expected_downtime_ns, 1002000000ull);
	ck_assert_uint_eq(in.stalled_rounds, 0);
	/* 1000 of 1050 is above 90 %: stalled, twice in a row, then reset */
	xmig_policy_derive(&in, 1050, &stalled);
	ck_assert_uint_eq(stalled, 1);
	xmig_policy_derive(&in, 1000, &stalled);
	ck_assert_uint_eq(in.stalled_rounds, 2);
	xmig_policy_derive(&in, 1200, &stalled);
	ck_assert_uint_eq(in.stalled_rounds, 0);
	/* no bandwidth measured yet: never "converged" */
	in.bandwidth = 0;
	xmig_policy_derive(&in, 5000, &stalled);
	ck_assert(in.expected_downtime_ns > 1000000000ull * 3600);
}
END_TEST

static int never_stops(const struct xmig_policy_input *in, void *payload)
{
	(void)in;
	(void)payload;
	return XMIG_POLICY_CONTINUE;
}

/* The caps the engine puts on every policy, for the simulator as for it. */
START_TEST(test_decide_caps)
{
	struct xmig_policy_input in = { .dirty_pages = 1000, .rounds_done = 3, .max_rounds = 3 };

	/* xen-classic alone would go on to 5 rounds */
	ck_assert_int_eq(xmig_policy_xen_classic(&in, NULL), XMIG_POLICY_CONTINUE);
	ck_assert_int_eq(xmig_policy_decide(xmig_policy_xen_classic, &in, NULL), XMIG_POLICY_STOP);
	in.on_no_converge = XMIG_NOCONV_ABORT;
	ck_assert_int_eq(xmig_policy_decide(xmig_policy_xen_classic, &in, NULL), XMIG_POLICY_ABORT);
	in.rounds_done = 2;
	ck_assert_int_eq(xmig_policy_decide(xmig_policy_xen_classic, &in, NULL),
			 XMIG_POLICY_CONTINUE);
	/* no max_rounds: a policy that never stops, stopped at the stream's limit */
	in.max_rounds = 0;
	in.on_no_converge = XMIG_NOCONV_STOP;
	in.rounds_done = 65534;
	ck_assert_int_eq(xmig_policy_decide(never_stops, &in, NULL), XMIG_POLICY_CONTINUE);
	in.rounds_done = 65535;
	ck_assert_int_eq(xmig_policy_decide(never_stops, &in, NULL), XMIG_POLICY_STOP);
	/* a stop is a stop, whatever the caps */
	in.rounds_done = 1;
	in.dirty_pages = 10;
	ck_assert_int_eq(xmig_policy_decide(xmig_policy_xen_classic, &in, NULL), XMIG_POLICY_STOP);
}
END_TEST

START_TEST(test_lookup)
{
	ck_assert_ptr_eq(xmig_policy_lookup("downtime"), xmig_policy_downtime);
	ck_assert_ptr_eq(xmig_policy_lookup("xen-classic"), xmig_policy_xen_classic);
	ck_assert_ptr_null(xmig_policy_lookup("fastest"));
	ck_assert_ptr_null(xmig_policy_lookup(NULL));
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("builtin");

	tcase_add_test(tc, test_xen_classic);
	tcase_add_test(tc, test_downtime_converges);
	tcase_add_test(tc, test_downtime_limits);
	tcase_add_test(tc, test_downtime_stalled);
	tcase_add_test(tc, test_derive);
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_decide_caps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(policy_suite());
}

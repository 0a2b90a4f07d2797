/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Check suites. */
#ifndef XMIG_TESTUTIL_H
#define XMIG_TESTUTIL_H

#include <check.h>
#include <stdlib.h>

/* Run one suite in fork mode (per-test isolation); exit status for main(). */
int xmig_test_run(Suite *s);

#endif

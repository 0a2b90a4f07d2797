/* SPDX-License-Identifier: MIT */
/*
 * The test guest's console protocol, host side: one parser for the lines
 * the guest prints ("XG HB n", "XG READY", "XG ERR ...", "XG CHECK pages=P
 * errors=E"; docs/test-guest.md), shared by the kvm tools and the tests.
 * Header-only, hosted C (the guest itself is freestanding and only prints).
 */
#ifndef XMIG_XG_CONSOLE_H
#define XMIG_XG_CONSOLE_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum xg_line_kind {
	XG_LINE_OTHER = 0,
	XG_LINE_HB,    /* seq */
	XG_LINE_READY,
	XG_LINE_ERR,   /* the guest found a page that is not what it wrote */
	XG_LINE_CHECK, /* check_errors: the result of a full check */
};

struct xg_line {
	enum xg_line_kind kind;
	uint64_t seq;
	int check_errors;
};

static inline enum xg_line_kind xg_console_parse(const char *line, struct xg_line *out)
{
	memset(out, 0, sizeof(*out));
	if (sscanf(line, "XG HB %" SCNu64, &out->seq) == 1)
		out->kind = XG_LINE_HB;
	else if (!strncmp(line, "XG READY", 8))
		out->kind = XG_LINE_READY;
	else if (!strncmp(line, "XG ERR", 6))
		out->kind = XG_LINE_ERR;
	else if (sscanf(line, "XG CHECK pages=%*u errors=%d", &out->check_errors) == 1)
		out->kind = XG_LINE_CHECK;
	return out->kind;
}

#endif

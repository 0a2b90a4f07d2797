/* SPDX-License-Identifier: MIT */
/*
 * xmig-xl-helper's side of libxl's helper protocol, without Xen: the
 * messages byte for byte as libxl's generated decoder reads them, their
 * limits, the command-line numbers, and the exact framing of the stream on
 * the descriptor libxl shares (libxl's own records after it stay unread).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "xl_helper_msg.h"
#include "xmig/backend/sim.h"
#include "xmig/session.h"
#include "xmig/sys/backend.h"
#include "xmig/transport.h"

/* complete(0, 0): length 10, message 10, two native ints. */
START_TEST(test_complete_bytes)
{
	static struct xlh_buf b;
	uint8_t want[12] = { 10, 0, 10, 0 };
	int v[2] = { -1, 5 };
	struct xlh_decoded d;
	size_t n;

	n = xlh_complete(&b, -1, 5);
	ck_assert_uint_eq(n, 12);
	memcpy(want + 4, v, sizeof(v));
	ck_assert_mem_eq(b.frame, want, sizeof(want));
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_eq(d.msg, XLH_COMPLETE);
	ck_assert_int_eq(d.i[0], -1);
	ck_assert_int_eq(d.i[1], 5);
}
END_TEST

/* log(level, errnoval, context, text): strings with their NUL, counted. */
START_TEST(test_log_bytes)
{
	static struct xlh_buf b;
	struct xlh_decoded d;
	uint32_t u;
	uint16_t len;
	size_t n = xlh_log(&b, XLH_WARN, 7, "ctx", "hello");

	/* 2 msg + 4 + 4 + (4 + 4) + (4 + 6) */
	ck_assert_uint_eq(n, 2 + 28);
	memcpy(&len, b.frame, 2);
	ck_assert_uint_eq(len, 28);
	memcpy(&u, b.frame + 12, 4);
	ck_assert_uint_eq(u, 4);
	ck_assert_mem_eq(b.frame + 16, "ctx", 4);
	memcpy(&u, b.frame + 20, 4);
	ck_assert_uint_eq(u, 6);
	ck_assert_mem_eq(b.frame + 24, "hello", 6);
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_eq(d.msg, XLH_LOG);
	ck_assert_uint_eq(d.u[0], XLH_WARN);
	ck_assert_uint_eq(d.u[1], 7);
	ck_assert_str_eq(d.s[0], "ctx");
	ck_assert_str_eq(d.s[1], "hello");
	/* a NUL inside a string ("he\0lo"): not a frame the helper writes */
	b.frame[26] = '\0';
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), -1);
}
END_TEST

/* Every message decodes back to its arguments. */
START_TEST(test_round_trips)
{
	static struct xlh_buf b;
	struct xlh_decoded d;
	size_t n;

	n = xlh_progress(&b, "c", "live round 2", 123, 4567);
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_eq(d.msg, XLH_PROGRESS);
	ck_assert_str_eq(d.s[1], "live round 2");
	ck_assert_uint_eq(d.ul[0], 123);
	ck_assert_uint_eq(d.ul[1], 4567);

	n = xlh_simple(&b, XLH_SUSPEND);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_eq(d.msg, XLH_SUSPEND);

	n = xlh_switch_logdirty(&b, 7, 1);
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_eq(d.u[0], 7);
	ck_assert_uint_eq(d.u[1], 1);

	n = xlh_static_data_done(&b, 3);
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_eq(d.msg, XLH_STATIC_DATA_DONE);
	ck_assert_uint_eq(d.u[0], 3);

	n = xlh_restore_results(&b, 0xfeffcul, 0xfeffdul);
	ck_assert_uint_eq(n, 2 + 2 + 2 * sizeof(unsigned long));
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_eq(d.ul[0], 0xfeffcul);
	ck_assert_uint_eq(d.ul[1], 0xfeffdul);
}
END_TEST

/* libxl asserts a message below 64 KiB: a long log text is cut, not sent whole. */
START_TEST(test_long_text_is_cut)
{
	static struct xlh_buf b;
	static char text[100000];
	struct xlh_decoded d;
	size_t n;

	memset(text, 'x', sizeof(text) - 1);
	n = xlh_log(&b, XLH_ERROR, 0, "ctx", text);
	ck_assert_uint_gt(n, 60000);
	ck_assert_uint_le(n, 2 + XLH_MSG_MAX);
	ck_assert_int_eq(xlh_decode(b.frame, n, &d), 0);
	ck_assert_uint_gt(strlen(d.s[1]), 60000);
}
END_TEST

/* What libxl's decoder refuses, ours does too. */
START_TEST(test_decode_rejects)
{
	static struct xlh_buf b;
	struct xlh_decoded d;
	size_t n = xlh_log(&b, XLH_INFO, 0, "ctx", "text");

	ck_assert_int_lt(xlh_decode(b.frame, n - 1, &d), 0); /* length disagrees */
	b.frame[n - 1] = 'x';                                 /* no NUL */
	ck_assert_int_lt(xlh_decode(b.frame, n, &d), 0);
	n = xlh_complete(&b, 0, 0);
	b.frame[2] = 42;                                      /* unknown message */
	ck_assert_int_lt(xlh_decode(b.frame, n, &d), 0);
	n = xlh_simple(&b, XLH_SUSPEND);
	ck_assert_int_lt(xlh_decode(b.frame, n + 1, &d), 0);
}
END_TEST

START_TEST(test_parse_num)
{
	unsigned long v;

	ck_assert_int_eq(xlh_parse_num("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(xlh_parse_num("32751", 0x7fef, &v), 0);
	ck_assert_int_lt(xlh_parse_num("32752", 0x7fef, &v), 0);
	ck_assert_int_lt(xlh_parse_num("-1", 10, &v), 0);
	ck_assert_int_lt(xlh_parse_num("1x", 10, &v), 0);
	ck_assert_int_lt(xlh_parse_num("", 10, &v), 0);
	ck_assert_int_lt(xlh_parse_num("99999999999999999999999", ~0ul, &v), 0);
}
END_TEST

/*
 * libxl's descriptor carries its own records after the helper's stream:
 * an xmig stream received from a shared descriptor ends at END and the
 * bytes after it are still there for libxl.
 */
START_TEST(test_libxl_records_left_intact)
{
	static const char libxl_tail[] = "\x05\x00\x00\x00\x00\x00\x00\x00LIBXL-END";
	struct xmig_sim_params sp = XMIG_SIM_PARAMS_INIT;
	struct xmig_send_params snd = XMIG_SEND_PARAMS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_backend *src, *dst;
	struct xmig_transport *w, *r;
	struct xmig_session *s;
	char got[sizeof(libxl_tail)];
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
	/* the sender's side: the helper writes its stream, then libxl its records */
	sp.mem_bytes = 32 * 4096;
	ck_assert_int_eq(xmig_sim_new(&src, &sp), 0);
	ck_assert_int_eq(xmig_transport_fd(&w, -1, p[1], 0), 0);
	snd.verify = 1;
	ck_assert_int_eq(xmig_send_new(&s, src, w, &snd), 0);
	ck_assert_int_eq(xmig_session_run(s), 0);
	xmig_session_free(s);
	xmig_transport_close(w);
	src->ops->free(src);
	ck_assert_int_eq(write(p[1], libxl_tail, sizeof(libxl_tail)), (ssize_t)sizeof(libxl_tail));

	/* the receiver's side: the helper reads its stream, then libxl reads on */
	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	ck_assert_int_eq(xmig_transport_fd(&r, p[0], -1, 0), 0);
	ck_assert_int_eq(xmig_recv_new(&s, dst, r, &rp), 0);
	ck_assert_msg(xmig_session_run(s) == 0, "%s", xmig_session_error(s));
	xmig_session_free(s);
	xmig_transport_close(r);
	ck_assert_int_eq(read(p[0], got, sizeof(got)), (ssize_t)sizeof(got));
	ck_assert_mem_eq(got, libxl_tail, sizeof(libxl_tail));
	dst->ops->free(dst);
	close(p[0]);
	close(p[1]);
}
END_TEST

static Suite *xl_helper_suite(void)
{
	Suite *s = suite_create("xl_helper");
	TCase *tc = tcase_create("protocol");

	tcase_add_test(tc, test_complete_bytes);
	tcase_add_test(tc, test_log_bytes);
	tcase_add_test(tc, test_round_trips);
	tcase_add_test(tc, test_long_text_is_cut);
	tcase_add_test(tc, test_decode_rejects);
	tcase_add_test(tc, test_parse_num);
	tcase_add_test(tc, test_libxl_records_left_intact);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(xl_helper_suite());
}

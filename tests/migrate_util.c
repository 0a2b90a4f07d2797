/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "migrate_util.h"

void test_log(int level, const char *msg, void *payload)
{
	const char *v = getenv("CK_VERBOSITY");

	(void)payload;
	if ((v && !strcmp(v, "verbose")) || level == XMIG_LOG_ERROR)
		fprintf(stderr, "  [%s] %s\n", (const char *)payload ? (const char *)payload : "",
			msg);
}

void transport_pair(struct xmig_transport **a, struct xmig_transport **b, int tcp)
{
	if (tcp) {
		struct xmig_listener *l;
		char addr[64];

		ck_assert_int_eq(xmig_listener_open(&l, "127.0.0.1:0"), 0);
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", xmig_listener_port(l));
		ck_assert_msg(xmig_transport_connect(a, addr, 5000) == 0, "%s", xmig_error_last());
		ck_assert_msg(xmig_listener_accept(l, b, 5000) == 0, "%s", xmig_error_last());
		xmig_listener_close(l);
	} else {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		ck_assert_int_eq(xmig_transport_fd(a, sv[0], sv[0], XMIG_FD_OWN), 0);
		ck_assert_int_eq(xmig_transport_fd(b, sv[1], sv[1], XMIG_FD_OWN), 0);
	}
}

static void *recv_main(void *arg)
{
	struct side *r = arg;

	r->rc = xmig_session_run(r->s);
	snprintf(r->err, sizeof(r->err), "%s", xmig_session_error(r->s));
	r->stats = *xmig_session_stats(r->s);
	return NULL;
}

void recv_start(struct side *r, struct xmig_backend *dest, struct xmig_transport *t,
		const struct xmig_recv_params *p)
{
	memset(r, 0, sizeof(*r));
	r->b = dest;
	r->t = t;
	ck_assert_msg(xmig_recv_new(&r->s, dest, t, p) == 0, "%s", xmig_error_last());
	ck_assert_int_eq(pthread_create(&r->thread, NULL, recv_main, r), 0);
}

void recv_join(struct side *r)
{
	ck_assert_int_eq(pthread_join(r->thread, NULL), 0);
}

void send_run(struct side *snd, struct xmig_backend *src, struct xmig_transport *t,
	      const struct xmig_send_params *p)
{
	memset(snd, 0, sizeof(*snd));
	snd->b = src;
	snd->t = t;
	ck_assert_msg(xmig_send_new(&snd->s, src, t, p) == 0, "%s", xmig_error_last());
	snd->rc = xmig_session_run(snd->s);
	snprintf(snd->err, sizeof(snd->err), "%s", xmig_session_error(snd->s));
	snd->stats = *xmig_session_stats(snd->s);
}

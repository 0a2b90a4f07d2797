/* SPDX-License-Identifier: MIT */
/* Running a sender and a receiver in one process, for the engine's tests. */
#ifndef XMIG_TESTS_MIGRATE_UTIL_H
#define XMIG_TESTS_MIGRATE_UTIL_H

#include <pthread.h>

#include "testutil.h"
#include "xmig/xmig.h"

struct side {
	struct xmig_session *s;
	struct xmig_backend *b;
	struct xmig_transport *t;
	int rc;
	char err[1024];
	struct xmig_stats stats;
	pthread_t thread;
};

/* Connected duplex transports: a socketpair, or loopback TCP when tcp != 0. */
void transport_pair(struct xmig_transport **a, struct xmig_transport **b, int tcp);

/* Start a receiver on `dest`/`t` in a thread. */
void recv_start(struct side *r, struct xmig_backend *dest, struct xmig_transport *t,
		const struct xmig_recv_params *p);
void recv_join(struct side *r);

/* Run a sender in this thread. */
void send_run(struct side *snd, struct xmig_backend *src, struct xmig_transport *t,
	      const struct xmig_send_params *p);

/* A log callback that prints only with CK_VERBOSITY=verbose. */
void test_log(int level, const char *msg, void *payload);

#endif

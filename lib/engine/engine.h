/* SPDX-License-Identifier: MIT */
/* The engine's internals: the session object shared by sender and receiver. */
#ifndef XMIG_LIB_ENGINE_H
#define XMIG_LIB_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common.h"
#include "stream/stream.h"
#include "xmig/session.h"
#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"

enum xmig__role { XMIG__SENDER = 1, XMIG__RECEIVER = 2 };

struct xmig_session {
	int role;
	struct xmig_backend *b;
	struct xmig_transport *t;
	struct xmig_send_params sp; /* sender only */
	struct xmig_recv_params rp; /* receiver only */
	xmig_log_fn log_fn;
	void *log_payload;
	int log_level;
	xmig_progress_fn progress_fn;
	void *progress_payload;
	xmig_event_fn event_fn;
	void *event_payload;
	/* what xmig_session_query returns, under qlock (any thread reads it) */
	pthread_mutex_t qlock;
	struct xmig_info q;
	int held; /* receiver: committed with start_paused, not yet unpaused */
	atomic_int cancelled;
	/* sender: what another thread may change while it runs (session.h) */
	_Atomic uint64_t ctl_max_bandwidth;
	_Atomic uint32_t ctl_target_ms;
	atomic_int ctl_stop;
	int ran;

	int err_code;
	char err[1024];
	char *annotations; /* receiver: what the sender attached */

	/* Outcome queries (xmig_session_resolve / xmig_session_unsettled). */
	uint8_t mig_id[XMIG_MIGRATION_ID_LEN];
	int have_mig_id; /* sender: sent one; receiver: the sender sent one */
	int ambiguous;   /* sender: EAMBIGUOUS, not yet resolved */
	int outcome;     /* receiver: enum xmig_outcome once READY was sent */
	int settled;     /* receiver: the sender knows the outcome */
	int stream_broken; /* a write to the transport failed, maybe inside a
			    * record: nothing more is framed on it (no ERROR
			    * record, which would also wait out its timeout) */

	uint64_t t0;
	struct xmig_guest_info info;
	struct xmig_stats stats;
	struct xmig_round_stats *rounds;
	uint32_t rounds_cap;
	uint64_t last_progress_ns;
	uint64_t expected_downtime_ns; /* sender: the policy's last estimate; 0 = none */

	/* Hot-path buffers, allocated once per run and reused every round. */
	uint64_t *bitmap;
	uint64_t *pfns;
	void **ptrs;
	uint8_t *entries;
	struct iovec *iov;
	struct iovec *scratch;
	uint8_t *staging;
	struct xmig__reader reader;
};

/* Time since the run started. */
static inline uint64_t xmig__elapsed(const struct xmig_session *s)
{
	return xmig__now_ns() - s->t0;
}

/*
 * Call an int-returning backend hook with the per-thread message cleared,
 * so a hook that fails without a message is not blamed with an old one.
 */
#define XMIG__HOOK(s, hook, ...) (xmig__clear_last(), (s)->b->ops->hook((s)->b, ##__VA_ARGS__))

void xmig__log(struct xmig_session *s, int level, const char *fmt, ...) XMIG__PRINTF(3, 4);

/* Record an error in the session (first one wins) and return `code`. */
int xmig__serr(struct xmig_session *s, int code, const char *fmt, ...) XMIG__PRINTF(3, 4);

/* Record `code` with `what`: the per-thread message of the failed call. */
int xmig__serr_last(struct xmig_session *s, int code, const char *what);

/* A backend hook failed: name it, and keep its message if it left one. */
int xmig__serr_backend(struct xmig_session *s, int code, const char *hook);

int xmig__buffers_alloc(struct xmig_session *s);

/* Append a round's figures; returns the new entry or NULL (no memory). */
struct xmig_round_stats *xmig__round_push(struct xmig_session *s);

void xmig__progress(struct xmig_session *s, const struct xmig_progress *p, int force);

/* The query's copy: `pages` known dirty, not yet sent (after a log read). */
void xmig__query_remaining(struct xmig_session *s, uint64_t pages);

/* Enter `status` (enum xmig_status): the query's copy, then the event. */
void xmig__status(struct xmig_session *s, int status);

/*
 * The digest of guest memory (docs/stream-format.md, DIGEST, algorithm 4):
 * one hash per chunk of XMIG_DIGEST_CHUNK frames, kept so that a chunk can
 * be hashed again alone, and the digest over them.
 */
struct xmig__digest_chunk {
	uint64_t lo, hi; /* the chunk's XXH3-128 */
	uint32_t data;   /* its frames holding data */
};
struct xmig__digest_table {
	uint64_t nr; /* chunks */
	struct xmig__digest_chunk *c;
};
int xmig__digest_table_init(struct xmig_session *s, struct xmig__digest_table *t);
void xmig__digest_table_free(struct xmig__digest_table *t);
/* Hash the chunks set in `which` (a bitmap of chunks; NULL: every chunk),
 * the frames set in `exclude` (NULL: none) left out. Uses the session's
 * pfns/ptrs buffers. */
int xmig__digest_hash(struct xmig_session *s, struct xmig__digest_table *t,
		      const uint64_t *which, const uint64_t *exclude);
/* The digest over the table, and the frames holding data it covers. */
void xmig__digest_final(const struct xmig__digest_table *t, uint64_t *pages, uint8_t out[16]);

int xmig__send_run(struct xmig_session *s);
int xmig__recv_run(struct xmig_session *s);

/* Send an ERROR record to the peer, best effort (failures ignored). */
void xmig__send_error_rec(struct xmig_session *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What a migration measured: per round and for the whole run.
 *
 * All times are nanoseconds of CLOCK_MONOTONIC on the machine that records
 * them, relative to the start of xmig_session_run() (so 0 means "the
 * migration started", and a timeline field left at 0 was never reached).
 */
#ifndef XMIG_STATS_H
#define XMIG_STATS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xmig_round_stats {
	uint32_t round;        /* 0 = the full pass */
	uint32_t final;        /* 1 for the stop-and-copy round (guest paused) */
	uint64_t pages_dirty;  /* pages in this round's set (round 0: every page) */
	uint64_t pages_sent;   /* pages sent with their data */
	uint64_t pages_zero;   /* pages sent as an all-zero marker */
	uint64_t pages_absent; /* frames not populated, announced as absent */
	uint64_t bytes;        /* bytes written to the transport in this round */
	uint64_t start_ns;     /* start of the round */
	uint64_t duration_ns;
	double bandwidth;      /* bytes/s achieved in this round */
	double dirty_rate;     /* pages/s the guest dirtied during this round */
};

/*
 * The stop-and-copy timeline. On the sender: pause_requested .. commit_sent
 * are its own clock; dest_running is when DONE arrived (so it includes half
 * a round trip). On the receiver: the fields it observes (last page and state
 * received, READY sent, COMMIT received, guest unpaused) on its own clock.
 */
struct xmig_downtime {
	uint64_t pause_requested;
	uint64_t paused;
	uint64_t last_page_sent;
	uint64_t state_sent;
	uint64_t receiver_ready;
	uint64_t commit_sent;
	uint64_t dest_running;
};

struct xmig_stats {
	uint64_t total_ns;     /* whole run */
	uint64_t bytes;        /* bytes on the wire, this direction */
	uint64_t pages_total;  /* guest size in pages */
	uint32_t page_size;
	uint32_t nr_rounds;    /* entries in `rounds`, the final one included */
	const struct xmig_round_stats *rounds;
	struct xmig_downtime timeline;
	uint64_t downtime_ns;  /* pause_requested .. dest_running; 0 if not reached */
	uint64_t digest_ns;    /* time spent hashing guest memory (--verify) while
				  the guest was paused: part of the downtime */
	int converged;         /* 1: stopped with the expected downtime within
				  the target; 0: a limit forced the stop */
	int verified;          /* 1: memory digests matched; 0: not checked */
	int resolved;          /* sender: 1 if the outcome came from an outcome
				  query (xmig_session_resolve), DONE being lost */
	uint64_t pages_excluded; /* --verify: frames left out of the digest, written
				    after the pause by someone other than the guest
				    (a device back end); see docs/stream-format.md */
};

#ifdef __cplusplus
}
#endif
#endif

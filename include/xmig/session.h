/* SPDX-License-Identifier: MIT */
/*
 * Migration sessions: the sender and the receiver.
 *
 * How to migrate a guest (sender side):
 *
 *     struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
 *     p.target_downtime_ms = 30;
 *     struct xmig_session *s;
 *     int rc = xmig_send_new(&s, backend, transport, &p);
 *     if (rc == 0)
 *             rc = xmig_session_run(s);   // blocks until done
 *     if (rc < 0)
 *             fprintf(stderr, "%s\n", xmig_session_error(s));
 *     xmig_session_free(s);
 *
 * and on the receiver, xmig_recv_new() + xmig_session_run() with an empty
 * destination backend.
 *
 * Outcomes (the guest is never lost and never runs on both sides):
 * - sender returns 0: the guest runs on the destination; the source guest
 *   has been destroyed.
 * - sender returns an error other than XMIG_EAMBIGUOUS: the guest runs on
 *   the source (it was resumed if it had been paused); the destination
 *   destroyed its partial guest, or will when it sees the stream break.
 * - sender returns XMIG_ESRCLEFT: the guest runs on the destination, but the
 *   backend could not destroy the source copy; it stays paused (never
 *   resumed) and the caller destroys it (the backend's destroy may be called
 *   again) or has the operator do it.
 * - sender returns XMIG_EAMBIGUOUS: COMMIT was sent but DONE never arrived.
 *   The destination may or may not have started the guest, so the source
 *   guest is left paused, neither resumed nor destroyed. The caller asks
 *   the destination with xmig_session_resolve(), which resumes or destroys
 *   the source copy by the answer; if no answer comes, the caller (or its
 *   operator) must find out and then resume or destroy it.
 * - receiver returns 0: the guest runs here. It unpauses on COMMIT even if
 *   it then fails to send DONE (the sender then reports XMIG_EAMBIGUOUS).
 * - receiver returns an error: its partial guest has been destroyed (if the
 *   backend could not, the log says so at ERROR level and the partial guest,
 *   which never ran, is still in the backend handle).
 *
 * One-way streams (a file, a pipe): with no way back there is no handshake.
 * The sender writes the stream and leaves the source guest paused (the caller
 * destroys it, like `xl save`, or resumes it); the receiver starts the guest
 * once END has been read and everything checked.
 */
#ifndef XMIG_SESSION_H
#define XMIG_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "xmig/policy.h"
#include "xmig/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xmig_backend;
struct xmig_transport;
struct xmig_session;

enum xmig_log_level {
	XMIG_LOG_ERROR = 0,
	XMIG_LOG_WARN = 1,
	XMIG_LOG_INFO = 2,
	XMIG_LOG_DEBUG = 3,
};

/* Receives one log line (no trailing newline). The library never prints. */
typedef void (*xmig_log_fn)(int level, const char *msg, void *payload);

enum xmig_phase {
	XMIG_PHASE_SETUP = 0,
	XMIG_PHASE_LIVE = 1,   /* pre-copy rounds */
	XMIG_PHASE_STOPPED = 2, /* stop-and-copy */
	XMIG_PHASE_COMMIT = 3,
	XMIG_PHASE_DONE = 4,
};

struct xmig_progress {
	int phase;                /* enum xmig_phase */
	uint32_t round;
	uint64_t round_pages;     /* pages in this round's set */
	uint64_t round_pages_done;
	uint64_t dirty_pages;     /* known dirty, not yet sent */
	uint64_t bytes;           /* on the wire so far */
	double bandwidth;         /* bytes/s, last measurement */
	double dirty_rate;        /* pages/s, last measurement */
	uint64_t expected_downtime_ns; /* sender: the policy's estimate after the last live
					 round (0 before one, and on a receiver) */
	uint64_t elapsed_ns;
};

/* Called after every round and about every 100 ms during a round. */
typedef void (*xmig_progress_fn)(const struct xmig_progress *p, void *payload);

/*
 * Where a migration is, as a toolstack polls or is told it (QEMU's
 * query-migrate and MIGRATION events). Both sides go SETUP -> ACTIVE ->
 * STOP_COPY -> COMMIT -> COMPLETED, and may end in FAILED or CANCELLED
 * from any of them (a sender also in AMBIGUOUS); a stream without the
 * duplex handshake (a file) skips COMMIT.
 */
enum xmig_status {
	XMIG_STATUS_NONE = 0,      /* the run has not started */
	XMIG_STATUS_SETUP = 1,     /* header, handshake, dirty logging turned on */
	XMIG_STATUS_ACTIVE = 2,    /* live pre-copy rounds, the guest running */
	XMIG_STATUS_STOP_COPY = 3, /* the guest paused: last pages, digest, state */
	XMIG_STATUS_COMMIT = 4,    /* the READY / COMMIT / DONE handshake */
	XMIG_STATUS_COMPLETED = 5, /* the guest is the destination's */
	XMIG_STATUS_FAILED = 6,    /* the source kept the guest (error_code says why) */
	XMIG_STATUS_CANCELLED = 7, /* xmig_session_cancel: the source kept the guest */
	XMIG_STATUS_AMBIGUOUS = 8, /* sender: XMIG_EAMBIGUOUS (xmig_session_resolve) */
};

/* The name of a status ("active", ...), or "unknown". */
const char *xmig_status_name(int status);

struct xmig_info {
	int status;                    /* enum xmig_status */
	int error_code;                /* FAILED, CANCELLED, AMBIGUOUS: the XMIG_E* code */
	uint32_t round;                /* the round under way (or the last) */
	uint64_t total_pages;          /* the guest's size; 0 before the header */
	uint64_t remaining_pages;      /* sender: pages known to be dirty and not yet
					  sent (the round's rest and the log's) */
	uint64_t bytes;                /* on the wire so far, this direction */
	double bandwidth;              /* bytes/s, last measurement */
	double dirty_rate;             /* pages/s the guest dirtied, last round */
	uint64_t expected_downtime_ns; /* sender: the policy's estimate; 0 = none */
	uint64_t downtime_ns;          /* sender, COMPLETED: pause .. DONE */
	uint64_t elapsed_ns;           /* since the run started */
};

/*
 * Called on the run's thread at each change of status, the new one in
 * info->status (failures included: the last event of a run is its end).
 */
typedef void (*xmig_event_fn)(const struct xmig_info *info, void *payload);

#define XMIG_SEND_PARAMS_VERSION 2 /* 2: event_fn (a version 1 struct is still taken) */

struct xmig_send_params {
	unsigned int version;        /* XMIG_SEND_PARAMS_VERSION */
	const char *policy;          /* "downtime" (default) or "xen-classic" */
	xmig_policy_fn policy_fn;    /* if set, used instead of `policy` */
	void *policy_payload;
	uint32_t target_downtime_ms; /* default 50 */
	uint32_t max_rounds;         /* live rounds, round 0 included; default 30 */
	uint32_t max_time_ms;        /* live phase limit; 0 = none; default 0 */
	int on_no_converge;          /* enum xmig_no_converge; default STOP */
	uint64_t max_bandwidth;      /* bytes/s; 0 = unlimited */
	int verify;                  /* send a digest of guest memory at pause */
	uint32_t timeout_ms;         /* the longest the receiver may take to send
					each answer (a whole record) or to accept
					what is written; default 30000; 0 = no limit */
	xmig_log_fn log_fn;
	void *log_payload;
	int log_level;               /* default XMIG_LOG_INFO */
	xmig_progress_fn progress_fn;
	void *progress_payload;
	/*
	 * Optional: called once with the guest paused, just before the stream
	 * ends; returns text the receiver gets as xmig_session_annotations()
	 * ("key=value" lines by convention, printable ASCII and newlines, at
	 * most 64 KiB; NULL for none). For what travels with a guest but is
	 * not the engine's business: a domain's configuration, the time of the
	 * guest's last heartbeat. The string must stay valid until the run ends.
	 */
	const char *(*annotate_fn)(void *payload);
	void *annotate_payload;
	/* version 2 */
	xmig_event_fn event_fn;      /* optional: status changes */
	void *event_payload;
};

#define XMIG_SEND_PARAMS_INIT                                                  \
	{                                                                      \
		.version = XMIG_SEND_PARAMS_VERSION, .policy = "downtime",     \
		.target_downtime_ms = 50, .max_rounds = 30,                    \
		.on_no_converge = XMIG_NOCONV_STOP, .timeout_ms = 30000,       \
		.log_level = XMIG_LOG_INFO,                                    \
	}

/* Fill `p` with the defaults; `version` must be XMIG_SEND_PARAMS_VERSION. */
int xmig_send_params_init(struct xmig_send_params *p, unsigned int version);

/* 2: min_rate; timeout_ms bounds each record. 3: start_paused, event_fn (a
 * version 2 struct is still taken) */
#define XMIG_RECV_PARAMS_VERSION 3

/*
 * The receiver's time limits (docs/stream-format.md, "Time limits"): every
 * record must arrive whole within timeout_ms, the header included; and each
 * phase (each round, and the state that follows the final one) must carry
 * at least min_rate bytes per second once timeout_ms has passed in it, so a
 * phase of B bytes may take timeout_ms + B / min_rate and no longer. COMMIT
 * must follow READY within timeout_ms. A sender that trickles bytes, or
 * sends whole records slowly, is cut off in bounded time.
 */
struct xmig_recv_params {
	unsigned int version;      /* XMIG_RECV_PARAMS_VERSION */
	uint64_t max_mem_bytes;    /* refuse larger guests; default 1 TiB */
	uint32_t max_vcpus;        /* refuse more vCPUs; default 256 */
	int require_verify;        /* refuse streams without a memory digest */
	uint32_t timeout_ms;       /* the longest any one record may take to
				      arrive (and our answers to be
				      accepted); default 30000; 0 = no limit */
	uint64_t min_rate;         /* bytes/s each phase must average after
				      timeout_ms; default 1 MiB/s; 0 = none */
	xmig_log_fn log_fn;
	void *log_payload;
	int log_level;
	xmig_progress_fn progress_fn;
	void *progress_payload;
	/* version 3 */
	int start_paused;          /* COMMIT leaves the guest paused here (xl's
				      migrate -p): the sender destroys its copy,
				      and xmig_session_unpause starts this one.
				      The backend must have the commit hook */
	xmig_event_fn event_fn;    /* optional: status changes */
	void *event_payload;
};

#define XMIG_RECV_PARAMS_INIT                                                  \
	{                                                                      \
		.version = XMIG_RECV_PARAMS_VERSION,                           \
		.max_mem_bytes = 1ull << 40, .max_vcpus = 256,                 \
		.timeout_ms = 30000, .min_rate = 1ull << 20,                   \
		.log_level = XMIG_LOG_INFO,                                    \
	}

int xmig_recv_params_init(struct xmig_recv_params *p, unsigned int version);

/*
 * Create a sender for the running guest behind `backend`, writing to
 * `transport`. Neither is owned by the session: free them after the session.
 */
int xmig_send_new(struct xmig_session **out, struct xmig_backend *backend,
		  struct xmig_transport *transport, const struct xmig_send_params *params);

/* Create a receiver that restores into the empty destination `backend`. */
int xmig_recv_new(struct xmig_session **out, struct xmig_backend *backend,
		  struct xmig_transport *transport, const struct xmig_recv_params *params);

/* Run the migration to its end; see the outcomes above. Call once. */
int xmig_session_run(struct xmig_session *s);

/*
 * Ask a running session to stop as soon as possible (before COMMIT it fails
 * with XMIG_ECANCELED and the source keeps the guest). Thread and
 * async-signal safe.
 */
void xmig_session_cancel(struct xmig_session *s);

/*
 * Sender, for a toolstack steering a migration under way (from any thread,
 * as xmig_session_cancel; before xmig_session_run too). Each returns 0, or
 * XMIG_EINVAL on a receiver (or a 0 ms target).
 *
 * set_max_bandwidth: the cap on live rounds, bytes/s (0 = none), from the
 * next batch on: the round's pages so far are held to the new rate.
 * set_downtime: the target the policy weighs at its next decision (the end
 * of the current live round); the "downtime" policy stops as soon as the
 * expected downtime meets it.
 * stop_and_copy: end the live phase at the end of the current live round,
 * whatever the policy says: the guest is paused and the rest sent (stats
 * converged then says whether the target was met anyway). A live round is
 * not cut short: every page it took from the dirty log is sent.
 *
 * Thread safety: while xmig_session_run runs, another thread may call only
 * these three, xmig_session_query and xmig_session_cancel. xmig_session_stats and
 * xmig_session_error are for the run's own thread (its progress and log
 * callbacks run there) or after it returned.
 */
int xmig_session_set_max_bandwidth(struct xmig_session *s, uint64_t bytes_per_s);

/*
 * Where the migration is now (query-migrate): from any thread, at any time
 * (during xmig_session_run too), a consistent copy of the figures as of
 * the last progress point (about every 100 ms, and each change of status).
 * 0, or XMIG_EINVAL for a NULL argument.
 */
int xmig_session_query(struct xmig_session *s, struct xmig_info *out);

/*
 * Receiver with start_paused, after xmig_session_run returned 0: start the
 * guest that COMMIT left paused here. Returns 0 (it runs), 1 (the backend
 * leaves the unpause to the toolstack that owns the domain, as at COMMIT),
 * or < 0: the guest stays paused (it is the only copy: the source was
 * destroyed), and another call retries. XMIG_EINVAL when there is no such
 * guest (not a receiver, not start_paused, the run failed, started already).
 * On the run's thread, or after it returned.
 */
int xmig_session_unpause(struct xmig_session *s);
int xmig_session_set_downtime(struct xmig_session *s, uint32_t target_ms);
int xmig_session_stop_and_copy(struct xmig_session *s);

/* The last error as one line with context; "" if none. Never NULL. */
const char *xmig_session_error(const struct xmig_session *s);

/*
 * Receiver: the sender's annotations (see annotate_fn), NUL-terminated, or
 * "" if none came. Valid until xmig_session_free.
 */
const char *xmig_session_annotations(const struct xmig_session *s);

/*
 * Outcome queries (docs/stream-format.md, "Outcome queries"). A sender that
 * lost the connection after COMMIT cannot tell whether the receiver read
 * it. Every duplex migration carries a random id; a receiver that cannot
 * be sure its sender learnt the outcome keeps it (xmig_session_unsettled)
 * and answers, on a new connection, a QUERY for that id.
 */
enum xmig_outcome {
	XMIG_OUTCOME_NONE = 0,      /* nothing a sender could need to ask */
	XMIG_OUTCOME_RUNNING = 1,   /* COMMIT arrived: the guest was started here */
	XMIG_OUTCOME_DESTROYED = 2, /* COMMIT never arrived (or the guest could not
				       start): the copy here was destroyed */
	XMIG_OUTCOME_UNKNOWN = 3,   /* in an answer: no such migration here */
};

#define XMIG_MIGRATION_ID_SIZE 16

struct xmig_outcome_record {
	unsigned char id[XMIG_MIGRATION_ID_SIZE]; /* chosen by the sender */
	int outcome;                               /* RUNNING or DESTROYED */
};

/*
 * Receiver, after xmig_session_run: 1 and *rec if the migration got past
 * READY and its sender may not know how it ended (it never confirmed DONE,
 * or never sent COMMIT nor ERROR); 0 if there is nothing to answer for.
 * Keep *rec and answer queries with xmig_outcome_answer() for a while.
 */
int xmig_session_unsettled(const struct xmig_session *s, struct xmig_outcome_record *rec);

/*
 * Receiver: serve one new connection `t` while holding `rec`. Its first
 * record must arrive within timeout_ms (< 0: no limit). A QUERY gets an
 * OUTCOME: rec's if the id matches, else UNKNOWN; a HEADER (a migration)
 * gets an ERROR saying the receiver is busy. Returns 1 if the query was for
 * `rec` (its sender now knows), 0 if it was for another id, or < 0 (not a
 * query, or I/O failed; message in xmig_error_last()). `t` is not closed.
 */
int xmig_outcome_answer(struct xmig_transport *t, const struct xmig_outcome_record *rec,
			int timeout_ms);

/*
 * Sender, after xmig_session_run returned XMIG_EAMBIGUOUS: ask the receiver
 * over `t`, a new connection to it, what became of the guest (close the
 * session's own transport first: a receiver still waiting on it answers
 * only once it sees that stream end), waiting at most timeout_ms (< 0: no
 * limit) for the answer, and act on it:
 * - RUNNING: the source copy is destroyed; returns 0 (XMIG_ESRCLEFT if it
 *   cannot be destroyed, as after DONE);
 * - DESTROYED: the source guest is resumed; returns XMIG_EREMOTE (the
 *   migration failed, the guest runs here);
 * - UNKNOWN, a malformed answer or none: returns XMIG_EAMBIGUOUS and the
 *   guest stays paused (another try may get an answer).
 * xmig_session_error() then describes the outcome. Not for other states.
 */
int xmig_session_resolve(struct xmig_session *s, struct xmig_transport *t, int timeout_ms);

/* The figures of the run so far (valid until xmig_session_free). */
const struct xmig_stats *xmig_session_stats(const struct xmig_session *s);

void xmig_session_free(struct xmig_session *s);

#ifdef __cplusplus
}
#endif
#endif

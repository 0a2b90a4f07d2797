/* SPDX-License-Identifier: MIT */
/* Shared by the xmig command-line tools: parsing, output, reporting. */
#ifndef XMIG_TOOLUTIL_H
#define XMIG_TOOLUTIL_H

#include <stdint.h>
#include <stdio.h>

#include "xmig/sys/transport.h"

#include "xmig/xmig.h"

#define EXIT_USAGE 2  /* bad command line */
#define EXIT_FAILED 1 /* the migration failed */
#define EXIT_SRCLEFT 3 /* migrated, but the source copy could not be destroyed */
#define EXIT_AMBIGUOUS 4 /* COMMIT sent, not confirmed: where the guest runs is unknown */

extern const char *tool_name;
extern int tool_verbosity; /* 0 quiet, 1 normal, 2 verbose */

/* "error: ..." on stderr, then exit(EXIT_USAGE). */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Strict parsers; they exit with a usage error naming the option. */
uint64_t parse_size_arg(const char *opt, const char *s);
uint64_t parse_rate_arg(const char *opt, const char *s); /* "200M/s" or "200M" */
uint64_t parse_duration_ms(const char *opt, const char *s); /* "2s", "500ms", "1m" */
uint64_t parse_duration_us(const char *opt, const char *s); /* also "200us" */
uint64_t parse_uint_arg(const char *opt, const char *s, uint64_t min, uint64_t max);

/* Log callback printing "xmig-send: ..." lines on stderr by level. */
void tool_log(int level, const char *msg, void *payload);

/* Progress callback: one line per round on stderr (live line on a tty). */
void tool_progress(const struct xmig_progress *p, void *payload);

struct tool_report {
	const char *role;      /* "send" or "recv" */
	const char *backend;
	const char *transport; /* the address */
	const char *policy;
	int result;            /* 0 or an XMIG_E* code */
	const char *error;     /* message, "" on success */
	const struct xmig_stats *stats;
	/* guest-observed figures (kvm/sim), negative when unknown */
	double guest_downtime_ms;
	const char *guest_check; /* "clean", "corrupt: ...", or NULL */
	double target_downtime_ms;
	int verify;
	/* heartbeats (kvm): 0 when unknown */
	uint64_t hb_last_seq, hb_last_ns;  /* sender: the last one on the source */
	uint64_t hb_src_seq, hb_first_seq; /* receiver: source's last, first here */
	uint64_t hb_count;                 /* receiver: heartbeats seen here */
	double hb_max_gap_ms;              /* receiver: largest gap between them here */
};

/*
 * SIGINT/SIGTERM cancel the session set with tool_running() (the guest then
 * stays on the source); SIGPIPE is ignored. Call once at start.
 */
/*
 * SIGINT and SIGTERM: a running session is cancelled (its own failure path
 * then resumes the source or destroys the partial destination), and every
 * wait of the tools (for a sender, --run-before, --run-after) ends within
 * 100 ms. tool_interrupted holds the signal; the tool says what became of
 * the guest and exits with tool_exit_status() (130, 143).
 */
#include <signal.h>
extern volatile sig_atomic_t tool_interrupted;
void tool_signals(void);
int tool_exit_status(int rc_status);
/* Sleep `ms` in slices: 0, or -1 as soon as a signal came. */
int tool_sleep_ms(uint64_t ms);
void tool_running(struct xmig_session *s);

void print_summary(FILE *f, const struct tool_report *r);
/* The version of the tools' JSON (docs/json.md), its "schema" field. */
#define XMIG_TOOL_JSON_SCHEMA 1
/* r->stats may be NULL: a failure before any session (nothing measured). */
int write_json(const char *path, const struct tool_report *r);
/* The same as one line appended to `path` (JSON Lines; "-": stdout). */
int write_json_line(const char *path, const struct tool_report *r);
/* A JSON string, escaped (quotes, backslashes, control characters); or null
 * for NULL or "". */
void json_str(FILE *f, const char *s);
void json_str_or_null(FILE *f, const char *s);

/* Format a byte count as "1.50 GiB". */
const char *fmt_bytes(uint64_t b, char *buf, size_t len);

/*
 * A read-only transport that first gives back `len` (<= 32) bytes already
 * read from `inner` (to look at what a stream starts with), then reads on
 * from `inner`, which it owns. It carries inner's flags. Writes fail.
 */
struct prefixed_transport {
	struct xmig_transport base;
	struct xmig_transport *inner;
	uint8_t head[32];
	size_t head_len, head_pos;
};

void prefixed_init(struct prefixed_transport *p, struct xmig_transport *inner,
		   const void *head, size_t len);

#endif

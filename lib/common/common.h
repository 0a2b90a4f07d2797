/* SPDX-License-Identifier: MIT */
/* Internals shared by every part of libxmig (never installed). */
#ifndef XMIG_LIB_COMMON_H
#define XMIG_LIB_COMMON_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "xmig/errors.h"

#define XMIG__API __attribute__((visibility("default")))
#define XMIG__PRINTF(a, b) __attribute__((format(printf, a, b)))

#define XMIG__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define XMIG__DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))
#define XMIG__ALIGN_UP(n, a) (((n) + (a)-1) & ~((__typeof__(n))(a)-1))

static inline uint64_t xmig__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Deadlines are CLOCK_MONOTONIC nanoseconds; this one never comes. */
#define XMIG__NO_DEADLINE UINT64_MAX

/* The deadline `timeout_ms` from now (< 0: XMIG__NO_DEADLINE). */
static inline uint64_t xmig__deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return XMIG__NO_DEADLINE;
	return xmig__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* What poll() should wait for `deadline`: -1 for ever, 0 once it passed. */
static inline int xmig__ms_left(uint64_t deadline)
{
	uint64_t now, ms;

	if (deadline == XMIG__NO_DEADLINE)
		return -1;
	now = xmig__now_ns();
	if (now >= deadline)
		return 0;
	/* Round up: waking a little early would only make us poll again. */
	ms = (deadline - now + 999999u) / 1000000u;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * Make `s` safe to print: every byte that is not printable ASCII (control
 * characters such as ESC and CR, DEL, and every byte >= 0x80) becomes '?'.
 * Every message the library forms (errors, log lines, backend notes) passes
 * through here, so text that came off the wire cannot drive the terminal
 * that shows it. Returns `s`.
 */
char *xmig__sanitize(char *s);

/*
 * The per-thread message behind xmig_error_last(), for calls that have no
 * session. Returns `err` so a failure path can be one line:
 *     return xmig__fail(XMIG_EINVAL, "bad address '%s'", a);
 */
int xmig__fail(int err, const char *fmt, ...) XMIG__PRINTF(2, 3);

/* Like xmig__fail, appending ": strerror(errno)" and returning `err`. */
int xmig__fail_errno(int err, const char *fmt, ...) XMIG__PRINTF(2, 3);

/* Forget the per-thread message (before a call whose failure is reported). */
void xmig__clear_last(void);

/* Copy of the per-thread message (for a session to take over). */
const char *xmig__last_message(void);

/* Little-endian loads and stores for the wire format. */
static inline uint32_t xmig__le32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t xmig__le64(const void *p)
{
	return (uint64_t)xmig__le32(p) | (uint64_t)xmig__le32((const uint8_t *)p + 4) << 32;
}

static inline void xmig__put_le32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline void xmig__put_le64(void *p, uint64_t v)
{
	xmig__put_le32(p, (uint32_t)v);
	xmig__put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* Is the `len`-byte block at `p` all zero? `len`: a multiple of 64 (a page). */
static inline int xmig__is_zero(const void *p, size_t len)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return 0;
	return 1;
}

/* MemAvailable of /proc/meminfo in bytes; 0 if it cannot be read. */
uint64_t xmig__host_mem_available(void);

/*
 * Parse a size with an optional K/M/G/T suffix (powers of 1024, "B" and
 * "iB" accepted after it). Rejects empty strings, garbage and overflow.
 */
int xmig__parse_size(const char *s, uint64_t *out);

/*
 * Parse a rate, NUMBER[PREFIX][UNIT]"/s": PREFIX one of k/K, M, G, T; UNIT
 * "iB" or none for bytes in powers of 1024 (50M/s = 50MiB/s, as sizes),
 * "B" for bytes in powers of 1000 (50MB/s), "bit" for bits in powers of
 * 1000 (10Gbit/s = 1 250 000 000 bytes/s). Rejects garbage, overflow and a
 * rate in bits below one byte a second.
 */
int xmig__parse_rate(const char *s, uint64_t *out);

#endif

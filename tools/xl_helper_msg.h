/* SPDX-License-Identifier: MIT */
/*
 * The messages between libxl and its save/restore helper (Xen 4.17,
 * tools/libs/light/libxl_save_msgs_gen.pl), as xmig-xl-helper speaks them.
 *
 * Helper -> libxl, on the helper's stdout: u16 length, then `length` bytes:
 * u16 message number, then the arguments in order, native byte order and
 * sizes: integers raw; a string as u32 length (with its NUL) and the bytes
 * with the NUL. For the messages that wait, libxl answers one native int
 * on the helper's stdin. No Xen headers: this part is tested everywhere.
 */
#ifndef XMIG_TOOLS_XL_HELPER_MSG_H
#define XMIG_TOOLS_XL_HELPER_MSG_H

#include <stddef.h>
#include <stdint.h>

/* Message numbers, in the generator's order from 1. */
enum xlh_msg {
	XLH_LOG = 1,
	XLH_PROGRESS = 2,
	XLH_SUSPEND = 3,
	XLH_POSTCOPY = 4,
	XLH_CHECKPOINT = 5,
	XLH_WAIT_CHECKPOINT = 6,
	XLH_SWITCH_QEMU_LOGDIRTY = 7,
	XLH_STATIC_DATA_DONE = 8,
	XLH_RESTORE_RESULTS = 9,
	XLH_COMPLETE = 10,
};

/* cbflags: bit 1 << msgnum for each callback libxl provides. */
#define XLH_HAS(cbflags, msg) (((cbflags) >> (msg)) & 1u)

/* libxl refuses a message of 64 KiB or more. */
#define XLH_MSG_MAX (64 * 1024 - 1)

/* xentoollog levels, as the log message carries them. */
enum xlh_level {
	XLH_DEBUG = 1,
	XLH_VERBOSE = 2,
	XLH_DETAIL = 3,
	XLH_PROGRESS_LEVEL = 4,
	XLH_INFO = 5,
	XLH_NOTICE = 6,
	XLH_WARN = 7,
	XLH_ERROR = 8,
	XLH_CRITICAL = 9,
};

/* A message being built: frame[0..2) is the length, then the body. */
struct xlh_buf {
	uint8_t frame[2 + XLH_MSG_MAX];
	size_t len; /* of the body */
	int overflow;
};

void xlh_begin(struct xlh_buf *b, enum xlh_msg msg);
void xlh_put_u32(struct xlh_buf *b, uint32_t v);
void xlh_put_int(struct xlh_buf *b, int v);
void xlh_put_ulong(struct xlh_buf *b, unsigned long v);
/* A string; cut (at a character) if the message would exceed its limit. */
void xlh_put_str(struct xlh_buf *b, const char *s);
/* The whole frame to send, and its size; 0 if the body overflowed. */
size_t xlh_end(struct xlh_buf *b);

/* Messages. Each returns the frame's size (b->frame), 0 on overflow. */
size_t xlh_log(struct xlh_buf *b, uint32_t level, uint32_t errnoval, const char *context,
	       const char *text);
size_t xlh_progress(struct xlh_buf *b, const char *context, const char *doing,
		    unsigned long done, unsigned long total);
size_t xlh_simple(struct xlh_buf *b, enum xlh_msg msg); /* suspend, ... */
size_t xlh_switch_logdirty(struct xlh_buf *b, uint32_t domid, unsigned int enable);
size_t xlh_static_data_done(struct xlh_buf *b, unsigned int missing);
size_t xlh_restore_results(struct xlh_buf *b, unsigned long store_gfn,
			   unsigned long console_gfn);
size_t xlh_complete(struct xlh_buf *b, int retval, int errnoval);

/*
 * Decode one frame (as libxl does) for the tests and for diagnostics:
 * 0 and the message number in *msg, or -1 if the frame is malformed
 * (length, unknown number, a string without its NUL or with one inside it,
 * bytes left over).
 * The arguments land in the fields their message uses.
 */
struct xlh_decoded {
	uint16_t msg;
	uint32_t u[2];      /* log: level, errnoval; switch: domid, enable;
			       static_data_done: missing */
	int i[2];           /* complete: retval, errnoval */
	unsigned long ul[2]; /* progress: done, total; restore_results: gfns */
	const char *s[2];   /* log: context, text; progress: context, doing */
};

int xlh_decode(const uint8_t *frame, size_t len, struct xlh_decoded *d);

/*
 * Parse a decimal argument of the helper's command line (what libxl
 * passes): 0 and *out, or -1 if it is not a number in 0..max.
 */
int xlh_parse_num(const char *s, unsigned long max, unsigned long *out);

#endif

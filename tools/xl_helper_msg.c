/* SPDX-License-Identifier: MIT */
/* libxl's save/restore helper messages (see xl_helper_msg.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xl_helper_msg.h"

static void put(struct xlh_buf *b, const void *v, size_t n)
{
	if (b->overflow || n > XLH_MSG_MAX - b->len) {
		b->overflow = 1;
		return;
	}
	memcpy(b->frame + 2 + b->len, v, n);
	b->len += n;
}

void xlh_begin(struct xlh_buf *b, enum xlh_msg msg)
{
	uint16_t m = (uint16_t)msg;

	b->len = 0;
	b->overflow = 0;
	put(b, &m, sizeof(m));
}

void xlh_put_u32(struct xlh_buf *b, uint32_t v)
{
	put(b, &v, sizeof(v));
}

void xlh_put_int(struct xlh_buf *b, int v)
{
	put(b, &v, sizeof(v));
}

void xlh_put_ulong(struct xlh_buf *b, unsigned long v)
{
	put(b, &v, sizeof(v));
}

void xlh_put_str(struct xlh_buf *b, const char *s)
{
	size_t n = strlen(s ? s : ""), room;
	uint32_t len;

	/* Room for the length, the bytes and the NUL, and 64 bytes for what
	 * may follow (a log's text after its context). */
	room = XLH_MSG_MAX - b->len;
	if (room < 4 + 1 + 64) {
		b->overflow = 1;
		return;
	}
	if (n > room - 4 - 1 - 64)
		n = room - 4 - 1 - 64;
	len = (uint32_t)n + 1;
	put(b, &len, sizeof(len));
	put(b, s ? s : "", n);
	put(b, "", 1);
}

size_t xlh_end(struct xlh_buf *b)
{
	uint16_t len = (uint16_t)b->len;

	if (b->overflow)
		return 0;
	memcpy(b->frame, &len, sizeof(len));
	return 2 + b->len;
}

size_t xlh_log(struct xlh_buf *b, uint32_t level, uint32_t errnoval, const char *context,
	       const char *text)
{
	xlh_begin(b, XLH_LOG);
	xlh_put_u32(b, level);
	xlh_put_u32(b, errnoval);
	xlh_put_str(b, context);
	xlh_put_str(b, text);
	return xlh_end(b);
}

size_t xlh_progress(struct xlh_buf *b, const char *context, const char *doing,
		    unsigned long done, unsigned long total)
{
	xlh_begin(b, XLH_PROGRESS);
	xlh_put_str(b, context);
	xlh_put_str(b, doing);
	xlh_put_ulong(b, done);
	xlh_put_ulong(b, total);
	return xlh_end(b);
}

size_t xlh_simple(struct xlh_buf *b, enum xlh_msg msg)
{
	xlh_begin(b, msg);
	return xlh_end(b);
}

size_t xlh_switch_logdirty(struct xlh_buf *b, uint32_t domid, unsigned int enable)
{
	xlh_begin(b, XLH_SWITCH_QEMU_LOGDIRTY);
	xlh_put_u32(b, domid);
	xlh_put_u32(b, enable);
	return xlh_end(b);
}

size_t xlh_static_data_done(struct xlh_buf *b, unsigned int missing)
{
	xlh_begin(b, XLH_STATIC_DATA_DONE);
	xlh_put_u32(b, missing);
	return xlh_end(b);
}

size_t xlh_restore_results(struct xlh_buf *b, unsigned long store_gfn,
			   unsigned long console_gfn)
{
	xlh_begin(b, XLH_RESTORE_RESULTS);
	xlh_put_ulong(b, store_gfn);
	xlh_put_ulong(b, console_gfn);
	return xlh_end(b);
}

size_t xlh_complete(struct xlh_buf *b, int retval, int errnoval)
{
	xlh_begin(b, XLH_COMPLETE);
	xlh_put_int(b, retval);
	xlh_put_int(b, errnoval);
	return xlh_end(b);
}

/* ---- decoding, as libxl's callout does ---- */

struct cursor {
	const uint8_t *p, *end;
};

static int get(struct cursor *c, void *v, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -1;
	memcpy(v, c->p, n);
	c->p += n;
	return 0;
}

static int get_str(struct cursor *c, const char **s)
{
	uint32_t n;

	/* its bytes and one NUL, at the end: the helper never writes another */
	if (get(c, &n, sizeof(n)) || n == 0 || (size_t)(c->end - c->p) < n ||
	    memchr(c->p, '\0', n) != c->p + n - 1)
		return -1;
	*s = (const char *)c->p;
	c->p += n;
	return 0;
}

int xlh_decode(const uint8_t *frame, size_t len, struct xlh_decoded *d)
{
	struct cursor c;
	uint16_t blen;
	int bad = 0;

	memset(d, 0, sizeof(*d));
	if (len < 4)
		return -1;
	memcpy(&blen, frame, 2);
	if ((size_t)blen + 2 != len)
		return -1;
	c.p = frame + 2;
	c.end = frame + len;
	if (get(&c, &d->msg, 2))
		return -1;
	switch (d->msg) {
	case XLH_LOG:
		bad = get(&c, &d->u[0], 4) || get(&c, &d->u[1], 4) || get_str(&c, &d->s[0]) ||
		      get_str(&c, &d->s[1]);
		break;
	case XLH_PROGRESS:
		bad = get_str(&c, &d->s[0]) || get_str(&c, &d->s[1]) ||
		      get(&c, &d->ul[0], sizeof(unsigned long)) ||
		      get(&c, &d->ul[1], sizeof(unsigned long));
		break;
	case XLH_SUSPEND:
	case XLH_POSTCOPY:
	case XLH_CHECKPOINT:
	case XLH_WAIT_CHECKPOINT:
		break;
	case XLH_SWITCH_QEMU_LOGDIRTY:
		bad = get(&c, &d->u[0], 4) || get(&c, &d->u[1], 4);
		break;
	case XLH_STATIC_DATA_DONE:
		bad = get(&c, &d->u[0], 4);
		break;
	case XLH_RESTORE_RESULTS:
		bad = get(&c, &d->ul[0], sizeof(unsigned long)) ||
		      get(&c, &d->ul[1], sizeof(unsigned long));
		break;
	case XLH_COMPLETE:
		bad = get(&c, &d->i[0], 4) || get(&c, &d->i[1], 4);
		break;
	default:
		return -1;
	}
	return bad || c.p != c.end ? -1 : 0;
}

int xlh_parse_num(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

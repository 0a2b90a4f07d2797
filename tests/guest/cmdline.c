/* SPDX-License-Identifier: MIT */
/*
 * The command line: space-separated key=value words, all optional.
 * Anything the guest does not understand is an error, so a typo in a test
 * cannot silently run a different workload.
 */
#include "xg.h"

void xg_opts_default(struct xg_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ws = 16ull << 20;
	o->rate = 0;
	o->pattern = XG_PATTERN_SEQ;
	o->hb_ms = 10;
	o->time_s = 0;
	o->check = 1;
	o->tsc_khz = 0;
	o->final_check = true;
}

/* A word of the command line: [s, s + len). */
struct word {
	const char *s;
	size_t len;
};

static int bad(const char *why, struct word w)
{
	xg_puts("XG FAIL ");
	xg_puts(why);
	xg_puts(": ");
	for (size_t i = 0; i < w.len && i < 40; i++)
		xg_putc(w.s[i]);
	xg_putc('\n');
	return -1;
}

static bool word_is(struct word w, const char *lit)
{
	size_t n = xg_strlen(lit);

	return w.len == n && memcmp(w.s, lit, n) == 0;
}

/* Decimal digits only; false on overflow or on anything else. */
static bool parse_uint(struct word w, uint64_t *out)
{
	uint64_t v = 0;

	if (w.len == 0)
		return false;
	for (size_t i = 0; i < w.len; i++) {
		unsigned d = (unsigned)(w.s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* A byte count: digits with an optional binary K, M, G or T suffix. */
static bool parse_size(struct word w, uint64_t *out)
{
	unsigned shift = 0;
	uint64_t v;

	if (w.len > 1) {
		switch (w.s[w.len - 1]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		default: break;
		}
		if (shift)
			w.len--;
	}
	if (!parse_uint(w, &v) || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

static bool parse_bool(struct word w, bool *out)
{
	if (word_is(w, "0") || word_is(w, "1")) {
		*out = w.s[0] == '1';
		return true;
	}
	return false;
}

static int parse_pair(struct xg_opts *o, struct word tok, struct word key, struct word val)
{
	uint64_t v;

	if (word_is(key, "ws")) {
		if (!parse_size(val, &v) || v < XG_PAGE_SIZE)
			return bad("ws wants a size, at least 4K", tok);
		o->ws = v & ~(uint64_t)(XG_PAGE_SIZE - 1);
	} else if (word_is(key, "rate")) {
		if (word_is(val, "max")) {
			o->rate = 0;
			return 0;
		}
		if (val.len > 2 && val.s[val.len - 2] == '/' && val.s[val.len - 1] == 's')
			val.len -= 2;
		if (!parse_size(val, &v) || v == 0)
			return bad("rate wants max or SIZE/s (use idle=1 for no writes)", tok);
		o->rate = v;
	} else if (word_is(key, "pattern")) {
		struct word hot = { val.s + 4, val.len > 4 ? val.len - 4 : 0 };

		if (word_is(val, "seq")) {
			o->pattern = XG_PATTERN_SEQ;
		} else if (word_is(val, "random")) {
			o->pattern = XG_PATTERN_RANDOM;
		} else if (val.len > 4 && memcmp(val.s, "hot:", 4) == 0) {
			if (!parse_size(hot, &v) || v < XG_PAGE_SIZE)
				return bad("hot wants a size of at least 4K", tok);
			o->pattern = XG_PATTERN_HOT;
			o->hot = v;
		} else {
			return bad("pattern wants seq, random or hot:SIZE", tok);
		}
	} else if (word_is(key, "hb")) {
		if (!parse_uint(val, &v) || v == 0 || v > 3600000)
			return bad("hb wants milliseconds, 1 to 3600000", tok);
		o->hb_ms = v;
	} else if (word_is(key, "time")) {
		if (!parse_uint(val, &v) || v > 100000000)
			return bad("time wants seconds", tok);
		o->time_s = v;
	} else if (word_is(key, "check")) {
		if (!parse_uint(val, &v) || v > 1000000)
			return bad("check wants a page count", tok);
		o->check = v;
	} else if (word_is(key, "tsc_khz")) {
		if (!parse_uint(val, &v) || v == 0 || v > 100000000)
			return bad("tsc_khz wants a frequency in kHz", tok);
		o->tsc_khz = v;
	} else if (word_is(key, "idle")) {
		if (!parse_bool(val, &o->idle))
			return bad("idle wants 0 or 1", tok);
	} else if (word_is(key, "final_check")) {
		if (!parse_bool(val, &o->final_check))
			return bad("final_check wants 0 or 1", tok);
	} else if (word_is(key, "corrupt")) {
		if (!parse_bool(val, &o->corrupt))
			return bad("corrupt wants 0 or 1", tok);
	} else {
		return bad("unknown key", tok);
	}
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int xg_cmdline_parse(struct xg_opts *o, const char *s)
{
	while (*s) {
		struct word tok, key, val;
		const char *eq = NULL;

		while (is_space(*s))
			s++;
		if (!*s)
			break;
		tok.s = s;
		while (*s && !is_space(*s)) {
			if (*s == '=' && !eq)
				eq = s;
			s++;
		}
		tok.len = (size_t)(s - tok.s);
		if (!eq || eq == tok.s)
			return bad("expected key=value", tok);
		key.s = tok.s;
		key.len = (size_t)(eq - tok.s);
		val.s = eq + 1;
		val.len = (size_t)(s - val.s);
		if (parse_pair(o, tok, key, val))
			return -1;
	}
	return 0;
}

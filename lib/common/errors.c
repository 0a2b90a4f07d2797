/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "xmig/sys/backend.h"
#include "xmig/transport.h"
#include "xmig/xmig.h"

XMIG__API const char *xmig_strerror(int err)
{
	switch (err) {
#define XMIG__ERR_DESC(name, value, desc) \
	case (value):                     \
		return desc;
		XMIG_ERROR_LIST(XMIG__ERR_DESC)
#undef XMIG__ERR_DESC
	}
	return "unknown error";
}

XMIG__API const char *xmig_error_name(int err)
{
	switch (err) {
#define XMIG__ERR_NAME(name, value, desc) \
	case (value):                     \
		return "XMIG_" #name;
		XMIG_ERROR_LIST(XMIG__ERR_NAME)
#undef XMIG__ERR_NAME
	}
	return "XMIG_E?";
}

XMIG__API const char *xmig_version(void)
{
	return "0.1.0";
}

char *xmig__sanitize(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';
	return s;
}

static _Thread_local char last_message[512];

XMIG__API const char *xmig_error_last(void)
{
	return last_message;
}

void xmig__clear_last(void)
{
	last_message[0] = '\0';
}

const char *xmig__last_message(void)
{
	return last_message;
}

int xmig__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	xmig__sanitize(last_message);
	return err;
}

XMIG__API int xmig_backend_error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	xmig__sanitize(last_message);
	return code;
}

int xmig__fail_errno(int err, const char *fmt, ...)
{
	int saved = errno;
	size_t used;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	used = strlen(last_message);
	snprintf(last_message + used, sizeof(last_message) - used, ": %s", strerror(saved));
	xmig__sanitize(last_message);
	errno = saved;
	return err;
}

int xmig__parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return XMIG_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return XMIG_EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case 'k': case 'K': mult = 1ull << 10; p++; break;
	case 'm': case 'M': mult = 1ull << 20; p++; break;
	case 'g': case 'G': mult = 1ull << 30; p++; break;
	case 't': case 'T': mult = 1ull << 40; p++; break;
	default: break;
	}
	if (mult > 1 && p[0] == 'i' && p[1] == 'B')
		p += 2;
	else if (*p == 'B')
		p++;
	if (*p != '\0')
		return XMIG_EINVAL;
	if (v > UINT64_MAX / mult)
		return XMIG_EINVAL;
	*out = v * mult;
	return 0;
}

int xmig__parse_rate(const char *s, uint64_t *out)
{
	static const char prefixes[] = "kKMGT";
	uint64_t v = 0, base = 1, mult = 1, bits = 0;
	const char *p = s, *pre;
	size_t len = s ? strlen(s) : 0;
	unsigned int n = 0;

	if (len < 3 || strcmp(s + len - 2, "/s") != 0 || *s < '0' || *s > '9')
		return XMIG_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return XMIG_EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p && (pre = strchr(prefixes, *p)) != NULL) {
		n = pre == prefixes ? 1 : (unsigned int)(pre - prefixes);
		p++;
	}
	/* the unit decides the base: B and bit are SI, iB and none IEC */
	if (!strcmp(p, "/s") || (n && !strcmp(p, "iB/s"))) {
		base = 1024;
	} else if (!strcmp(p, "B/s")) {
		base = 1000;
	} else if (!strcmp(p, "bit/s")) {
		base = 1000;
		bits = 1;
	} else {
		return XMIG_EINVAL;
	}
	while (n--)
		mult *= base;
	if (v > UINT64_MAX / mult)
		return XMIG_EINVAL;
	if (bits && v && v * mult < 8)
		return XMIG_EINVAL; /* below a byte a second: surely a mistake */
	*out = bits ? v * mult / 8 : v * mult;
	return 0;
}

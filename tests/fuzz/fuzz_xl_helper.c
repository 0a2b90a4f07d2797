/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the message codec of xmig-xl-helper (tools/xl_helper_msg.c),
 * the frames the helper and libxl exchange. Every frame the decoder accepts
 * must come out of the encoder byte for byte the same (the two agree on the
 * format, and nothing the decoder lets through is something the helper
 * would not write); and the command-line number parser must only accept
 * what it returns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_helper_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct xlh_buf buf;

static size_t encode(const struct xlh_decoded *d)
{
	switch (d->msg) {
	case XLH_LOG:
		return xlh_log(&buf, d->u[0], d->u[1], d->s[0], d->s[1]);
	case XLH_PROGRESS:
		return xlh_progress(&buf, d->s[0], d->s[1], d->ul[0], d->ul[1]);
	case XLH_SWITCH_QEMU_LOGDIRTY:
		return xlh_switch_logdirty(&buf, d->u[0], d->u[1]);
	case XLH_STATIC_DATA_DONE:
		return xlh_static_data_done(&buf, d->u[0]);
	case XLH_RESTORE_RESULTS:
		return xlh_restore_results(&buf, d->ul[0], d->ul[1]);
	case XLH_COMPLETE:
		return xlh_complete(&buf, d->i[0], d->i[1]);
	default:
		return xlh_simple(&buf, (enum xlh_msg)d->msg);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlh_decoded d;
	char num[32];
	unsigned long v;

	if (xlh_decode(data, size, &d) == 0) {
		size_t n = encode(&d);

		if (n != size || memcmp(buf.frame, data, size) != 0) {
			fprintf(stderr, "message %u: decoded, re-encoded as %zu bytes, not the "
				"%zu it came as\n", d.msg, n, size);
			abort();
		}
	}
	/* a decimal argument as libxl passes it */
	if (size < sizeof(num)) {
		memcpy(num, data, size);
		num[size] = '\0';
		if (xlh_parse_num(num, 0xffffffffu, &v) == 0 &&
		    (v > 0xffffffffu || num[0] < '0' || num[0] > '9'))
			abort();
	}
	return 0;
}

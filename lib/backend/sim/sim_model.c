/* SPDX-License-Identifier: MIT */
/*
 * Dirty models of the SIMULATED guest, as strings:
 *   none | max | uniform:RATE | hot:SIZE:RATE | seq:RATE
 * with RATE "max" or a rate (common.h: 50M/s and 50MiB/s in powers of 1024,
 * 50MB/s and 400Mbit/s in powers of 1000). Strict: anything else is refused, so a
 * typo in a policy study fails loudly instead of measuring the wrong thing.
 */
#include <string.h>

#include "sim_priv.h"

/* RATE: "max" (returned as 0) or a non-zero rate (xmig__parse_rate's units). */
static int parse_rate(const char *model, const char *s, uint64_t *out)
{
	if (strcmp(s, "max") == 0) {
		*out = 0;
		return 0;
	}
	if (xmig__parse_rate(s, out) < 0)
		return xmig__fail(XMIG_EINVAL,
				  "sim dirty model '%s': rate '%s' is neither 'max' nor a rate "
				  "(like 50M/s = 50MiB/s, 50MB/s, 400Mbit/s)", model, s);
	if (*out == 0)
		return xmig__fail(XMIG_EINVAL,
				  "sim dirty model '%s': rate 0 (use the model 'none')", model);
	return 0;
}

static int starts_with(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0)
		return 0;
	*rest = s + n;
	return 1;
}

int xmig__sim_model_parse(struct sim_model *m, const char *text)
{
	char size[SIM_MODEL_MAX];
	const char *rest, *colon;
	struct sim_model r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (!text)
		return xmig__fail(XMIG_EINVAL, "sim dirty model: NULL string");
	if (strlen(text) >= SIM_MODEL_MAX)
		return xmig__fail(XMIG_EINVAL, "sim dirty model '%.32s...': longer than %u bytes",
				  text, SIM_MODEL_MAX - 1);

	if (strcmp(text, "none") == 0) {
		r.kind = SIM_MODEL_NONE;
	} else if (strcmp(text, "max") == 0) {
		r.kind = SIM_MODEL_UNIFORM;
		r.rate = 0;
	} else if (starts_with(text, "uniform:", &rest)) {
		r.kind = SIM_MODEL_UNIFORM;
		if ((rc = parse_rate(text, rest, &r.rate)) < 0)
			return rc;
	} else if (starts_with(text, "seq:", &rest)) {
		r.kind = SIM_MODEL_SEQ;
		if ((rc = parse_rate(text, rest, &r.rate)) < 0)
			return rc;
	} else if (starts_with(text, "hot:", &rest)) {
		r.kind = SIM_MODEL_HOT;
		colon = strchr(rest, ':');
		if (!colon)
			return xmig__fail(XMIG_EINVAL,
					  "sim dirty model '%s': expected hot:SIZE:RATE", text);
		memcpy(size, rest, (size_t)(colon - rest));
		size[colon - rest] = '\0';
		if (xmig__parse_size(size, &r.hot_bytes) < 0)
			return xmig__fail(XMIG_EINVAL, "sim dirty model '%s': bad hot size '%s'",
					  text, size);
		if (r.hot_bytes == 0)
			return xmig__fail(XMIG_EINVAL, "sim dirty model '%s': hot size is 0", text);
		if ((rc = parse_rate(text, colon + 1, &r.rate)) < 0)
			return rc;
	} else {
		return xmig__fail(XMIG_EINVAL,
				  "sim dirty model '%s': expected none, max, uniform:RATE, "
				  "hot:SIZE:RATE or seq:RATE",
				  text);
	}
	strcpy(r.text, text);
	if (m)
		*m = r;
	return 0;
}

int xmig__sim_model_fits(const struct sim_model *m, uint64_t nr_pages)
{
	/* nr_pages * page size cannot overflow: the guest was mapped. */
	if (m->kind == SIM_MODEL_HOT && m->hot_bytes > nr_pages * SIM_PAGE_SIZE)
		return xmig__fail(XMIG_EINVAL,
				  "sim dirty model '%s': hot set of %llu bytes exceeds the "
				  "guest's %llu bytes",
				  m->text, (unsigned long long)m->hot_bytes,
				  (unsigned long long)(nr_pages * SIM_PAGE_SIZE));
	return 0;
}

XMIG__API int xmig_sim_parse_dirty(const char *model)
{
	return xmig__sim_model_parse(NULL, model);
}

/* SPDX-License-Identifier: MIT */
/*
 * State blobs of the SIMULATED guest (layouts documented in
 * xmig/backend/sim.h): a vCPU is its PRNG, its sweep cursor and its write
 * count; the platform is the model, the seed and the shape. Fixed-size,
 * little-endian, versioned. A blob comes off the wire, so load_state checks
 * every field before it trusts one.
 */
#include <stdio.h>
#include <string.h>

#include "sim_priv.h"

#define SIM_STATE_VERSION 1u

/* vCPU blob, byte offsets. */
#define VCPU_VERSION 0
#define VCPU_INDEX 4
#define VCPU_RNG 8
#define VCPU_CURSOR 16
#define VCPU_WRITES 24
#define VCPU_RESERVED 32
#define VCPU_SIZE 40

/* Platform blob, byte offsets. */
#define PLAT_VERSION 0
#define PLAT_NR_VCPUS 4
#define PLAT_SEED 8
#define PLAT_NR_PAGES 16
#define PLAT_ZERO_PERCENT 24
#define PLAT_PAGE_SIZE 28
#define PLAT_MODEL 32
#define PLAT_SIZE (PLAT_MODEL + SIM_MODEL_MAX)

_Static_assert(VCPU_SIZE == XMIG_SIM_STATE_VCPU_SIZE, "vCPU blob size");
_Static_assert(PLAT_SIZE == XMIG_SIM_STATE_PLATFORM_SIZE, "platform blob size");

static struct sim *to_sim(struct xmig_backend *b)
{
	return (struct sim *)b;
}

int xmig__sim_save_state(struct xmig_backend *b, xmig_state_emit_fn emit, void *ctx)
{
	struct sim *s = to_sim(b);
	uint8_t vb[VCPU_SIZE], pb[PLAT_SIZE];
	uint32_t i;
	int rc;

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: save_state without a guest");
	if (s->started && !s->engine_paused)
		return xmig__fail(XMIG_EINVAL,
				  "simulated guest: save_state on a running guest (pause first)");

	for (i = 0; i < s->nr_vcpus; i++) {
		const struct sim_vcpu *v = &s->vcpus[i];

		memset(vb, 0, sizeof(vb));
		xmig__put_le32(vb + VCPU_VERSION, SIM_STATE_VERSION);
		xmig__put_le32(vb + VCPU_INDEX, i);
		xmig__put_le64(vb + VCPU_RNG, v->rng);
		xmig__put_le64(vb + VCPU_CURSOR, v->cursor);
		xmig__put_le64(vb + VCPU_WRITES, atomic_load(&v->writes));
		if ((rc = emit(ctx, i, XMIG_SIM_STATE_VCPU, vb, sizeof(vb))) != 0)
			return rc;
	}

	memset(pb, 0, sizeof(pb));
	xmig__put_le32(pb + PLAT_VERSION, SIM_STATE_VERSION);
	xmig__put_le32(pb + PLAT_NR_VCPUS, s->nr_vcpus);
	xmig__put_le64(pb + PLAT_SEED, s->seed);
	xmig__put_le64(pb + PLAT_NR_PAGES, s->nr_pages);
	xmig__put_le32(pb + PLAT_ZERO_PERCENT, s->zero_percent);
	xmig__put_le32(pb + PLAT_PAGE_SIZE, SIM_PAGE_SIZE);
	memcpy(pb + PLAT_MODEL, s->model.text, strlen(s->model.text));
	return emit(ctx, XMIG_STATE_PLATFORM, XMIG_SIM_STATE_PLATFORM, pb, sizeof(pb));
}

static int load_vcpu(struct sim *s, uint32_t vcpu, const uint8_t *p, size_t len)
{
	struct sim_vcpu *v;
	uint64_t cursor, share;

	if (vcpu >= s->nr_vcpus)
		return xmig__fail(XMIG_EPROTO,
				  "sim vCPU state: vCPU %u out of range (guest has %u)", vcpu,
				  s->nr_vcpus);
	if (len != VCPU_SIZE)
		return xmig__fail(XMIG_EPROTO, "sim vCPU %u state: %zu bytes, expected %u", vcpu,
				  len, VCPU_SIZE);
	if (xmig__le32(p + VCPU_VERSION) != SIM_STATE_VERSION)
		return xmig__fail(XMIG_EPROTO, "sim vCPU %u state: version %u, expected %u", vcpu,
				  xmig__le32(p + VCPU_VERSION), SIM_STATE_VERSION);
	if (xmig__le32(p + VCPU_INDEX) != vcpu)
		return xmig__fail(XMIG_EPROTO, "sim vCPU %u state: blob says vCPU %u", vcpu,
				  xmig__le32(p + VCPU_INDEX));
	if (xmig__le64(p + VCPU_RESERVED) != 0)
		return xmig__fail(XMIG_EPROTO, "sim vCPU %u state: reserved field not zero", vcpu);
	cursor = xmig__le64(p + VCPU_CURSOR);
	share = xmig__sim_share(s->nr_pages, vcpu, s->nr_vcpus);
	if (cursor >= (share ? share : 1))
		return xmig__fail(XMIG_EPROTO,
				  "sim vCPU %u state: sweep cursor %llu beyond its %llu pages",
				  vcpu, (unsigned long long)cursor, (unsigned long long)share);
	v = &s->vcpus[vcpu];
	if (v->loaded)
		return xmig__fail(XMIG_EPROTO, "sim vCPU %u state: received twice", vcpu);

	v->rng = xmig__le64(p + VCPU_RNG);
	v->cursor = cursor;
	atomic_store(&v->writes, xmig__le64(p + VCPU_WRITES));
	v->loaded = 1;
	return 0;
}

static int load_platform(struct sim *s, const uint8_t *p, size_t len)
{
	char text[SIM_MODEL_MAX];
	struct sim_model m;
	uint32_t zero;
	size_t n;

	if (len != PLAT_SIZE)
		return xmig__fail(XMIG_EPROTO, "sim platform state: %zu bytes, expected %u", len,
				  PLAT_SIZE);
	if (xmig__le32(p + PLAT_VERSION) != SIM_STATE_VERSION)
		return xmig__fail(XMIG_EPROTO, "sim platform state: version %u, expected %u",
				  xmig__le32(p + PLAT_VERSION), SIM_STATE_VERSION);
	if (xmig__le32(p + PLAT_NR_VCPUS) != s->nr_vcpus)
		return xmig__fail(XMIG_EPROTO, "sim platform state: %u vCPUs, the guest has %u",
				  xmig__le32(p + PLAT_NR_VCPUS), s->nr_vcpus);
	if (xmig__le64(p + PLAT_NR_PAGES) != s->nr_pages)
		return xmig__fail(XMIG_EPROTO, "sim platform state: %llu pages, the guest has %llu",
				  (unsigned long long)xmig__le64(p + PLAT_NR_PAGES),
				  (unsigned long long)s->nr_pages);
	if (xmig__le32(p + PLAT_PAGE_SIZE) != SIM_PAGE_SIZE)
		return xmig__fail(XMIG_EPROTO, "sim platform state: page size %u, expected %u",
				  xmig__le32(p + PLAT_PAGE_SIZE), SIM_PAGE_SIZE);
	zero = xmig__le32(p + PLAT_ZERO_PERCENT);
	if (zero > 100)
		return xmig__fail(XMIG_EPROTO, "sim platform state: zero share %u%% above 100%%",
				  zero);

	/* The model field: a string, NUL-terminated and NUL-padded. */
	memcpy(text, p + PLAT_MODEL, SIM_MODEL_MAX);
	n = strnlen(text, SIM_MODEL_MAX);
	if (n == SIM_MODEL_MAX)
		return xmig__fail(XMIG_EPROTO, "sim platform state: model string not terminated");
	for (size_t i = n; i < SIM_MODEL_MAX; i++)
		if (text[i] != '\0')
			return xmig__fail(XMIG_EPROTO,
					  "sim platform state: garbage after the model string");
	if (xmig__sim_model_parse(&m, text) < 0 || xmig__sim_model_fits(&m, s->nr_pages) < 0) {
		char why[256]; /* the message buffer cannot be formatted into itself */

		snprintf(why, sizeof(why), "%s", xmig__last_message());
		return xmig__fail(XMIG_EPROTO, "sim platform state: %s", why);
	}
	if (s->have_platform)
		return xmig__fail(XMIG_EPROTO, "sim platform state: received twice");

	s->seed = xmig__le64(p + PLAT_SEED);
	s->zero_percent = zero;
	s->model = m;
	s->have_platform = 1;
	return 0;
}

int xmig__sim_load_state(struct xmig_backend *b, uint32_t vcpu, uint32_t type, const void *data,
			 size_t len)
{
	struct sim *s = to_sim(b);

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: load_state before create");
	if (s->started)
		return xmig__fail(XMIG_EINVAL,
				  "simulated guest: load_state on a guest already started");
	if (!data && len)
		return xmig__fail(XMIG_EINVAL, "simulated guest: load_state with NULL data");
	if (vcpu == XMIG_STATE_PLATFORM) {
		if (type != XMIG_SIM_STATE_PLATFORM)
			return xmig__fail(XMIG_EPROTO, "sim platform state: unknown type %u", type);
		return load_platform(s, data, len);
	}
	if (type != XMIG_SIM_STATE_VCPU)
		return xmig__fail(XMIG_EPROTO, "sim vCPU %u state: unknown type %u", vcpu, type);
	return load_vcpu(s, vcpu, data, len);
}

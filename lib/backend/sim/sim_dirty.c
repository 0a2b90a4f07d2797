/* SPDX-License-Identifier: MIT */
/*
 * The dirty log of the SIMULATED guest: a bitmap the vCPU threads set with
 * atomic fetch-or after each page write (see sim_vcpu.c), read and cleared
 * word by word with atomic exchange.
 */
#include "sim_priv.h"

static struct sim *to_sim(struct xmig_backend *b)
{
	return (struct sim *)b;
}

/* Swap the log's words out to zero; `bitmap` (may be NULL) receives them. */
static void drain(struct sim *s, uint64_t *bitmap)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < s->dirty_words; i++) {
		/* Most words of a big guest are clean: skip the exchange (and the
		 * cache line it would dirty). A bit set after this load waits for
		 * the next call. */
		if (atomic_load_explicit(&s->dirty[i], memory_order_relaxed) == 0)
			continue;
		w = atomic_exchange_explicit(&s->dirty[i], 0, memory_order_acquire);
		if (bitmap) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			w = __builtin_bswap64(w);
#endif
			bitmap[i] |= w;
		}
	}
}

int xmig__sim_log_dirty_start(struct xmig_backend *b)
{
	struct sim *s = to_sim(b);

	if (!s->mem)
		return xmig__fail(XMIG_EINVAL, "simulated guest: log_dirty_start without a guest");
	/* Writes before this point are not reported: round 0 sends them. The
	 * acquiring swap makes those writes visible to the round-0 reads. */
	drain(s, NULL);
	s->logging = 1;
	return 0;
}

int xmig__sim_log_dirty_stop(struct xmig_backend *b)
{
	to_sim(b)->logging = 0;
	return 0;
}

int xmig__sim_dirty_fetch(struct xmig_backend *b, uint64_t *bitmap, int final)
{
	struct sim *s = to_sim(b);

	if (!s->mem || !s->logging)
		return xmig__fail(XMIG_EINVAL,
				  "simulated guest: dirty_fetch while dirty logging is off");
	/* `final` changes nothing: the simulation has no hypervisor writing
	 * guest pages behind the vCPUs' back. */
	drain(s, bitmap);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The sender: round 0, dirty rounds, policy, stop-and-copy, commit.
 *
 * Pages are copied into a staging buffer before they are checksummed and
 * sent: the guest may rewrite a page while it is on its way, and the record
 * checksum must describe the bytes actually sent. (A torn page is harmless
 * anyway: the write that tore it also dirtied it, so the next round sends it
 * again.) That holds in stop-and-copy too: a paused guest's memory is not
 * stable, its PV back ends go on writing into it (a NIC's receive buffers,
 * which netback fills by grant copy until the front end reconnects on the
 * destination), and a record checksummed on guest memory and then sent
 * from it came out corrupt in the Xen lab (a guest with a vif, pinged every
 * 10 ms). The copy costs the downtime about 1 ms per 4 MiB of final pages.
 * Zero pages are recognised on the guest page itself and never copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bitmap.h"
#include "engine.h"
#include "pagemap.h"
#include "xmig/policy.h"

struct send_state {
	int paused;       /* the source guest is paused */
	int logging;      /* log-dirty is on */
	int committed;    /* COMMIT was handed to the transport */
	uint64_t live_bytes;   /* bytes of live rounds ... */
	uint64_t live_send_ns; /* ... and the time spent sending them */
	uint64_t fixed_cost_ns;
	uint64_t last_fetch_ns;
};

static int check_cancel(struct xmig_session *s)
{
	if (atomic_load(&s->cancelled))
		return xmig__serr(s, XMIG_ECANCELED, "migration cancelled by the caller");
	return 0;
}

/* After a failed write: the receiver may have said why before closing. */
static int write_failed(struct xmig_session *s, int rc, const char *what)
{
	struct xmig__rec rec;
	struct xmig__item item;
	char ctx[256];

	char why[256];

	if (atomic_load(&s->cancelled))
		return xmig__serr(s, XMIG_ECANCELED, "migration cancelled by the caller");
	s->stream_broken = 1;
	snprintf(ctx, sizeof(ctx), "sending %s", what);
	snprintf(why, sizeof(why), "%s",
		 xmig__last_message()[0] ? xmig__last_message() : xmig_strerror(rc));
	if ((s->t->flags & XMIG_TRANSPORT_DUPLEX) &&
	    xmig__rec_read(&s->reader, &rec, 200) == 0 && rec.type == XMIG_REC_ERROR &&
	    xmig__decode_handshake(&rec, &item) == 0)
		return xmig__serr(s, XMIG_EREMOTE, "%s: the receiver failed: %s", ctx,
				  item.u.error.message);
	return xmig__serr(s, rc, "%s: %s", ctx, why);
}

/*
 * Hold the round's rate so far to the cap, sleeping in slices of at most
 * 10 ms so that a new cap (xmig_session_set_max_bandwidth) or a cancel takes
 * effect at once rather than after a whole batch's wait.
 */
static void rate_limit(struct xmig_session *s, uint64_t round_start, uint64_t round_bytes)
{
	for (;;) {
		uint64_t cap = atomic_load(&s->ctl_max_bandwidth), due, now, left;
		struct timespec ts;

		if (!cap || atomic_load(&s->cancelled))
			return;
		due = round_start + (uint64_t)((double)round_bytes * 1e9 / (double)cap);
		now = xmig__now_ns();
		if (due <= now)
			return;
		left = due - now < 10000000ull ? due - now : 10000000ull;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

/* Send one batch of s->pfns[0..n-1]. */
static int send_batch(struct xmig_session *s, struct xmig_round_stats *rs, unsigned int n)
{
	const struct xmig_backend_ops *ops = s->b->ops;
	const size_t psz = s->info.page_size;
	unsigned int i, nfull = 0;
	int niov = 2, rc;

	rc = XMIG__HOOK(s, map_pages, s->pfns, n, s->ptrs, XMIG_MAP_READ);
	if (rc < 0)
		return xmig__serr_backend(s, rc, "map_pages");
	for (i = 0; i < n; i++) {
		unsigned int enc;
		const void *page = s->ptrs[i];

		if (!page) {
			enc = XMIG_PAGE_ABSENT;
			rs->pages_absent++;
		} else if (page == xmig__zero_page || xmig__is_zero(page, psz)) {
			/*
			 * Tested on the live page: a write right after the test
			 * also dirtied it, so the next round sends it again.
			 */
			enc = XMIG_PAGE_ZERO;
			rs->pages_zero++;
		} else {
			memcpy(s->staging + (size_t)nfull * psz, page, psz);
			enc = XMIG_PAGE_FULL;
			nfull++;
		}
		xmig__put_le64(s->entries + 8 + 8ull * i, XMIG_ENTRY(s->pfns[i], enc));
	}
	xmig__put_le32(s->entries, n);
	xmig__put_le32(s->entries + 4, rs->round);
	s->iov[0].iov_base = s->entries;
	s->iov[0].iov_len = 8;
	s->iov[1].iov_base = s->entries + 8;
	s->iov[1].iov_len = 8ull * n;
	if (nfull) {
		s->iov[2].iov_base = s->staging;
		s->iov[2].iov_len = (size_t)nfull * psz;
		niov = 3;
	}
	rc = xmig__rec_write(s->t, XMIG_REC_PAGE_BATCH, s->iov, niov, s->scratch, &rs->bytes);
	ops->unmap_pages(s->b, s->ptrs, n);
	if (rc < 0)
		return write_failed(s, rc, "a page batch");
	rs->pages_sent += nfull;
	return 0;
}

static int expect(struct xmig_session *s, uint32_t want, struct xmig__item *item);

static void round_progress(struct xmig_session *s, const struct xmig_round_stats *rs,
			   uint64_t done, uint64_t total, int phase, int force)
{
	struct xmig_progress p = {
		.phase = phase,
		.round = rs->round,
		.round_pages = total,
		.round_pages_done = done,
		.dirty_pages = total - done,
		.bytes = s->stats.bytes,
		.bandwidth = rs->bandwidth,
		.dirty_rate = rs->dirty_rate,
		.expected_downtime_ns = s->expected_downtime_ns,
		.elapsed_ns = xmig__elapsed(s),
	};
	xmig__progress(s, &p, force);
}

/*
 * Send every page whose bit is set in s->bitmap (clearing the bits), as
 * round `round`, then its ROUND_END. `count` is the number of bits set.
 */
static int send_round(struct xmig_session *s, struct send_state *st, uint32_t round,
		      uint64_t count, int final)
{
	struct xmig_round_stats *rs = xmig__round_push(s);
	uint64_t start = xmig__now_ns(), done = 0, counted = 0;
	size_t cursor = 0;
	unsigned int n;
	uint8_t body[32];
	int rc;

	if (!rs)
		return xmig__serr(s, XMIG_ENOMEM, "no memory for round statistics");
	rs->round = round;
	rs->final = (uint32_t)final;
	rs->pages_dirty = count;
	rs->start_ns = start - s->t0;
	while ((n = xmig__bitmap_take(s->bitmap, s->info.nr_pages, &cursor, s->pfns,
				      XMIG_BATCH_MAX)) > 0) {
		if ((rc = check_cancel(s)) < 0 || (rc = send_batch(s, rs, n)) < 0)
			return rc;
		done += n;
		s->stats.bytes += rs->bytes - counted;
		counted = rs->bytes;
		if (!final) {
			rate_limit(s, start, rs->bytes);
			if (done < count)
				round_progress(s, rs, done, count, XMIG_PHASE_LIVE, 0);
		}
	}
	xmig__put_le32(body, round);
	xmig__put_le32(body + 4, final ? XMIG_ROUND_F_FINAL : 0);
	xmig__put_le64(body + 8, done);
	xmig__put_le64(body + 16, rs->bytes);
	xmig__put_le64(body + 24, xmig__now_ns() - start);
	rc = xmig__rec_write_simple(s->t, XMIG_REC_ROUND_END, body, sizeof(body), &rs->bytes);
	if (rc < 0)
		return write_failed(s, rc, "ROUND_END");
	if (!final && (s->t->flags & XMIG_TRANSPORT_DUPLEX)) {
		/* The round ends when the receiver has applied it (see the spec). */
		struct xmig__item ack;

		rc = expect(s, XMIG_REC_ROUND_ACK, &ack);
		if (rc < 0)
			return rc;
		if (ack.u.round_ack.round != round)
			return xmig__serr(s, XMIG_EPROTO, "the receiver acknowledged round %u "
					  "during round %u", ack.u.round_ack.round, round);
	}
	rs->duration_ns = xmig__now_ns() - start;
	if (rs->duration_ns)
		rs->bandwidth = (double)rs->bytes * 1e9 / (double)rs->duration_ns;
	if (!final) {
		st->live_bytes += rs->bytes;
		st->live_send_ns += rs->duration_ns;
	}
	s->stats.bytes += rs->bytes - counted;
	xmig__log(s, XMIG_LOG_DEBUG, "round %u%s: %llu pages (%llu zero), %llu bytes, %.3f ms",
		  round, final ? " (final)" : "", (unsigned long long)done,
		  (unsigned long long)rs->pages_zero, (unsigned long long)rs->bytes,
		  (double)rs->duration_ns / 1e6);
	round_progress(s, rs, done, count, final ? XMIG_PHASE_STOPPED : XMIG_PHASE_LIVE, 1);
	return 0;
}

/* Read and clear the hypervisor's dirty log into s->bitmap; count it. */
static int fetch_dirty(struct xmig_session *s, int final, uint64_t *count)
{
	int rc = XMIG__HOOK(s, dirty_fetch, s->bitmap, final);

	if (rc < 0)
		return xmig__serr_backend(s, rc, "dirty_fetch");
	/* A backend must not report frames beyond the guest. */
	xmig__bitmap_trim(s->bitmap, s->info.nr_pages);
	*count = xmig__bitmap_count(s->bitmap, s->info.nr_pages);
	xmig__query_remaining(s, *count);
	return 0;
}

/* The DIGEST record (algorithm 4), the frames in `excl` as ranges. */
static int write_digest(struct xmig_session *s, const uint64_t *excl, uint64_t pages,
			const uint8_t digest[16])
{
	const uint64_t n = s->info.nr_pages;
	uint64_t pfn, first, nr = 0, k = 0;
	uint8_t *body;
	size_t len;
	int rc;

	for (pfn = 0; excl && pfn < n; pfn++)
		if (xmig__bitmap_test(excl, pfn) && (pfn == 0 || !xmig__bitmap_test(excl, pfn - 1)))
			nr++;
	if (nr > XMIG_DIGEST_RANGES_MAX)
		return xmig__serr(s, XMIG_EVERIFY, "the frames written after the pause are "
				  "scattered over %llu ranges, more than a DIGEST holds (%llu): "
				  "memory cannot be verified", (unsigned long long)nr,
				  (unsigned long long)XMIG_DIGEST_RANGES_MAX);
	len = 40 + 16 * nr;
	body = calloc(1, len);
	if (!body)
		return xmig__serr(s, XMIG_ENOMEM, "no memory for the DIGEST record");
	xmig__put_le32(body, XMIG_DIGEST_XXH3_128_CHUNKS);
	xmig__put_le64(body + 8, pages);
	memcpy(body + 16, digest, 16);
	xmig__put_le64(body + 32, nr);
	for (pfn = 0; nr && pfn < n; pfn++) {
		if (!xmig__bitmap_test(excl, pfn))
			continue;
		for (first = pfn; pfn + 1 < n && xmig__bitmap_test(excl, pfn + 1); pfn++)
			;
		xmig__put_le64(body + 40 + 16 * k, first);
		xmig__put_le64(body + 48 + 16 * k, pfn + 1 - first);
		k++;
	}
	rc = xmig__rec_write_simple(s->t, XMIG_REC_DIGEST, body, len, &s->stats.bytes);
	free(body);
	if (rc < 0)
		return write_failed(s, rc, "DIGEST");
	return 0;
}

/*
 * With --verify: the digest of guest memory at the pause. A frame written
 * after the final round read the dirty log, the guest being paused, was
 * written by a device back end or the hypervisor (a suspended Xen guest's
 * netfront stays connected, and dom0's netback copies packets into its
 * receive buffers). The destination has it as the final round found it,
 * which is what the guest left there; a digest over it would differ for
 * no fault of the engine's. So the dirty log is read after each hashing
 * pass: frames written since the final round are left out of the digest
 * and named in it, and their chunks are hashed again without them, while
 * new ones appear, so that the digest covers exactly the frames nobody
 * touched. The first pass hashes the guest; the later ones a few chunks
 * each, quick enough that a device filling buffers (a ping every 10 ms
 * into a paused PV guest, in the Xen lab) finds nothing new to write
 * between two dirty log reads long before the limit. A device that never
 * stops writing new frames fails the migration, the source running on.
 */
enum { DIGEST_PASSES = 64 };

static int send_digest(struct xmig_session *s)
{
	const size_t words = xmig__bitmap_words(s->info.nr_pages);
	struct xmig__digest_table tab = { 0 };
	uint64_t *excl = NULL, *which = NULL;
	uint64_t pages = 0, late = 0, fresh, bits, t = xmig__now_ns();
	uint8_t digest[16];
	size_t i;
	int pass, rc;

	rc = xmig__digest_table_init(s, &tab);
	if (rc < 0)
		return rc;
	for (pass = 1;; pass++) {
		rc = xmig__digest_hash(s, &tab, which, excl);
		if (rc < 0)
			goto out;
		rc = fetch_dirty(s, 0, &late);
		if (rc < 0)
			goto out;
		if (late && !excl) {
			excl = calloc(words, sizeof(*excl));
			which = calloc(xmig__bitmap_words(tab.nr), sizeof(*which));
			if (!excl || !which) {
				rc = xmig__serr(s, XMIG_ENOMEM, "no memory for the digest's "
						"exclusions");
				goto out;
			}
		}
		if (which)
			memset(which, 0, xmig__bitmap_words(tab.nr) * sizeof(*which));
		fresh = 0;
		for (i = 0; late && i < words; i++) {
			bits = s->bitmap[i] & ~excl[i];
			s->bitmap[i] = 0;
			if (!bits)
				continue;
			fresh += (uint64_t)__builtin_popcountll(bits);
			excl[i] |= bits;
			/* a word's 64 frames lie in one chunk (XMIG_DIGEST_CHUNK % 64 == 0) */
			xmig__bitmap_set(which, (uint64_t)i * 64 / XMIG_DIGEST_CHUNK);
		}
		if (!fresh)
			break;
		if (pass == DIGEST_PASSES) {
			rc = xmig__serr(s, XMIG_EVERIFY, "memory cannot be verified: something "
					"other than the paused guest (a device back end) went on writing "
					"new pages during each of %d digest passes (%llu during the "
					"last); migrate without verification, or with the devices "
					"quiet", DIGEST_PASSES, (unsigned long long)fresh);
			goto out;
		}
		xmig__log(s, XMIG_LOG_DEBUG, "digest pass %d: %llu pages written meanwhile by "
			  "someone other than the guest; hashing their chunks again without them",
			  pass, (unsigned long long)fresh);
	}
	xmig__digest_final(&tab, &pages, digest);
	s->stats.digest_ns = xmig__now_ns() - t;
	s->stats.pages_excluded = excl ? xmig__bitmap_count(excl, s->info.nr_pages) : 0;
	if (s->stats.pages_excluded)
		xmig__log(s, XMIG_LOG_INFO,
			  "%llu frames may have been written after the final round had read the "
			  "dirty log, the guest being paused (by a device back end or the "
			  "hypervisor; the backend reports them): the destination has them as "
			  "the final round found them; the digest leaves them out and covers "
			  "the other %llu frames (%d hashing passes)",
			  (unsigned long long)s->stats.pages_excluded,
			  (unsigned long long)(s->info.nr_pages - s->stats.pages_excluded), pass);
	rc = write_digest(s, excl, pages, digest);
out:
	free(excl);
	free(which);
	xmig__digest_table_free(&tab);
	return rc;
}

static int emit_state(void *ctx, uint32_t vcpu, uint32_t type, const void *data, size_t len)
{
	struct xmig_session *s = ctx;
	uint8_t head[8];
	struct iovec parts[2] = { { head, 8 }, { (void *)data, len } };
	uint32_t rtype;
	int rc;

	if (len > XMIG_REC_MAX_BODY - 8)
		return xmig__serr(s, XMIG_EINVAL, "state blob of %zu bytes is too large", len);
	if (vcpu == XMIG_STATE_PLATFORM) {
		rtype = XMIG_REC_PLATFORM_STATE;
		xmig__put_le32(head, type);
		xmig__put_le32(head + 4, 0);
	} else {
		if (vcpu >= s->info.nr_vcpus)
			return xmig__serr(s, XMIG_EINVAL, "backend emitted state of vCPU %u of %u",
					  vcpu, s->info.nr_vcpus);
		rtype = XMIG_REC_VCPU_STATE;
		xmig__put_le32(head, vcpu);
		xmig__put_le32(head + 4, type);
	}
	rc = xmig__rec_write(s->t, rtype, parts, len ? 2 : 1, s->scratch, &s->stats.bytes);
	if (rc < 0)
		return write_failed(s, rc, "state");
	return 0;
}

/* Read one handshake record, expecting `want`. */
static int expect(struct xmig_session *s, uint32_t want, struct xmig__item *item)
{
	struct xmig__rec rec;
	int rc;

	rc = xmig__rec_read(&s->reader, &rec, s->sp.timeout_ms ? (int)s->sp.timeout_ms : -1);
	if (rc < 0)
	{
		char what[64];

		snprintf(what, sizeof(what), "waiting for %s", xmig__rec_name(want));
		return xmig__serr_last(s, rc == XMIG_EEOF ? XMIG_EIO : rc, what);
	}
	rc = xmig__decode_handshake(&rec, item);
	if (rc < 0)
		return xmig__serr_last(s, rc, "the receiver's answer");
	if (item->type == XMIG_REC_ERROR)
		return xmig__serr(s, XMIG_EREMOTE, "the receiver failed: %s (%s)",
				  item->u.error.message, xmig_error_name(item->u.error.code));
	if (item->type != want)
		return xmig__serr(s, XMIG_EPROTO, "expected %s from the receiver, got %s",
				  xmig__rec_name(want), xmig__rec_name(item->type));
	return 0;
}

static int policy_decide(struct xmig_session *s, struct send_state *st, uint64_t dirty,
			 uint64_t prev_dirty, uint32_t *stalled, int *converged)
{
	struct xmig_policy_input in = { 0 };
	xmig_policy_fn fn = s->sp.policy_fn ? s->sp.policy_fn : xmig_policy_lookup(s->sp.policy);
	void *payload = s->sp.policy_fn ? s->sp.policy_payload : NULL;
	double bw = st->live_send_ns ? (double)st->live_bytes * 1e9 / (double)st->live_send_ns
				     : 0.0;
	struct xmig_round_stats *last = &s->rounds[s->stats.nr_rounds - 1];
	int d;

	in.rounds_done = s->stats.nr_rounds;
	in.dirty_pages = dirty;
	in.nr_pages = s->info.nr_pages;
	in.page_size = s->info.page_size;
	in.bandwidth = bw;
	in.dirty_rate = last->dirty_rate;
	in.elapsed_ns = xmig__elapsed(s);
	in.bytes_sent = s->stats.bytes;
	in.fixed_cost_ns = st->fixed_cost_ns;
	xmig_policy_derive(&in, prev_dirty, stalled);
	in.target_downtime_ns = (uint64_t)atomic_load(&s->ctl_target_ms) * 1000000ull;
	in.max_rounds = s->sp.max_rounds;
	in.max_time_ns = (uint64_t)s->sp.max_time_ms * 1000000ull;
	in.on_no_converge = s->sp.on_no_converge;

	d = xmig_policy_decide(fn, &in, payload);
	if (d == XMIG_POLICY_CONTINUE && atomic_load(&s->ctl_stop)) {
		xmig__log(s, XMIG_LOG_INFO, "stop-and-copy asked for by the caller");
		d = XMIG_POLICY_STOP;
	}
	*converged = in.expected_downtime_ns <= in.target_downtime_ns;
	s->expected_downtime_ns = bw > 0 ? in.expected_downtime_ns : 0;
	xmig__log(s, XMIG_LOG_INFO,
		  "after round %u: %llu dirty pages, %.1f MB/s, dirty %.0f pages/s, expected "
		  "downtime %.1f ms -> %s",
		  in.rounds_done - 1, (unsigned long long)dirty, bw / 1e6, in.dirty_rate,
		  bw > 0 ? (double)in.expected_downtime_ns / 1e6 : -1.0,
		  d == XMIG_POLICY_CONTINUE ? "another round"
		  : d == XMIG_POLICY_STOP   ? "stop-and-copy"
					    : "abort");
	return d;
}

static int live_phase(struct xmig_session *s, struct send_state *st)
{
	uint64_t dirty = s->info.nr_pages, prev, now;
	uint32_t round = 0, stalled = 0;
	int rc, d, converged = 0;

	rc = XMIG__HOOK(s, log_dirty_start);
	if (rc < 0)
		return xmig__serr_backend(s, rc, "log_dirty_start");
	st->logging = 1;
	st->last_fetch_ns = xmig__now_ns();
	xmig__query_remaining(s, s->info.nr_pages); /* round 0: every page */
	xmig__status(s, XMIG_STATUS_ACTIVE);

	/* Round 0: every page. */
	xmig__bitmap_fill(s->bitmap, s->info.nr_pages);

	for (;;) {
		rc = send_round(s, st, round, dirty, 0);
		if (rc < 0)
			return rc;
		prev = dirty;
		rc = fetch_dirty(s, 0, &dirty);
		if (rc < 0)
			return rc;
		now = xmig__now_ns();
		s->rounds[s->stats.nr_rounds - 1].dirty_rate =
			(double)dirty * 1e9 / (double)(now - st->last_fetch_ns + 1);
		st->last_fetch_ns = now;

		d = policy_decide(s, st, dirty, prev, &stalled, &converged);
		if (d == XMIG_POLICY_STOP)
			break;
		if (d == XMIG_POLICY_ABORT)
			return xmig__serr(s, XMIG_ENOCONVERGE,
					  "did not converge after %u rounds: %llu pages still dirty "
					  "(policy %s)",
					  s->stats.nr_rounds, (unsigned long long)dirty,
					  s->sp.policy_fn ? "callback" : s->sp.policy);
		round++;
	}
	s->stats.converged = converged;
	return 0;
}

static int stop_and_copy(struct xmig_session *s, struct send_state *st)
{
	struct xmig_downtime *tl = &s->stats.timeline;
	uint32_t final_round = s->stats.nr_rounds;
	uint64_t dirty = 0;
	int rc;

	xmig__status(s, XMIG_STATUS_STOP_COPY);
	tl->pause_requested = xmig__elapsed(s);
	rc = XMIG__HOOK(s, pause);
	if (rc < 0)
		return xmig__serr_backend(s, rc, "pause");
	st->paused = 1;
	tl->paused = xmig__elapsed(s);
	/* Adds to the pages of the last live fetch, still set in the bitmap. */
	rc = fetch_dirty(s, 1, &dirty);
	if (rc < 0)
		return rc;
	xmig__log(s, XMIG_LOG_INFO, "paused in %.3f ms; sending the last %llu pages",
		  (double)(tl->paused - tl->pause_requested) / 1e6, (unsigned long long)dirty);
	rc = send_round(s, st, final_round, dirty, 1);
	if (rc < 0)
		return rc;
	tl->last_page_sent = xmig__elapsed(s);

	/* The digest first: a receiver hashes chunks again for the frames left
	 * out, before its load_state changes memory (a PV start info). */
	if (s->sp.verify) {
		rc = send_digest(s);
		if (rc < 0)
			return rc;
	}
	rc = XMIG__HOOK(s, save_state, emit_state, s);
	if (rc < 0)
		return s->err_code ? rc : xmig__serr_backend(s, rc, "save_state");
	if (s->sp.annotate_fn) {
		const char *text = s->sp.annotate_fn(s->sp.annotate_payload);
		size_t len = text ? strlen(text) : 0;

		if (len > XMIG_ANNOTATIONS_MAX)
			return xmig__serr(s, XMIG_EINVAL, "%zu bytes of annotations, limit %u", len,
					  XMIG_ANNOTATIONS_MAX);
		if (len) {
			rc = xmig__rec_write_simple(s->t, XMIG_REC_ANNOTATIONS, text, len,
						    &s->stats.bytes);
			if (rc < 0)
				return write_failed(s, rc, "annotations");
		}
	}
	rc = xmig__rec_write_simple(s->t, XMIG_REC_END, NULL, 0, &s->stats.bytes);
	if (rc < 0)
		return write_failed(s, rc, "END");
	tl->state_sent = xmig__elapsed(s);
	return 0;
}

static int commit(struct xmig_session *s, struct send_state *st)
{
	struct xmig_downtime *tl = &s->stats.timeline;
	struct xmig__item item;
	uint64_t done_at;
	int rc;

	xmig__status(s, XMIG_STATUS_COMMIT);
	rc = expect(s, XMIG_REC_READY, &item);
	if (rc < 0)
		return rc;
	tl->receiver_ready = xmig__elapsed(s);
	if ((rc = check_cancel(s)) < 0)
		return rc;
	/* A failed write means the receiver cannot hold a whole, valid COMMIT. */
	rc = xmig__rec_write_simple(s->t, XMIG_REC_COMMIT, NULL, 0, &s->stats.bytes);
	if (rc < 0)
		return write_failed(s, rc, "COMMIT");
	st->committed = 1;
	tl->commit_sent = xmig__elapsed(s);
	rc = expect(s, XMIG_REC_DONE, &item);
	done_at = xmig__elapsed(s);
	/* The answer came: tell the receiver it need not keep the outcome. */
	if ((rc == 0 || rc == XMIG_EREMOTE) && s->have_mig_id)
		(void)xmig__rec_write_simple(s->t, XMIG_REC_FINISHED, NULL, 0, NULL);
	if (rc < 0) {
		char why[sizeof(s->err)];

		if (rc == XMIG_EREMOTE) {
			/*
			 * An ERROR record: the receiver sends one only from its
			 * failure path, which never unpauses and destroys its
			 * guest. The guest is ours again: resume it.
			 */
			st->committed = 0;
			return rc;
		}

		snprintf(why, sizeof(why), "%s", s->err);
		s->err_code = 0;
		s->ambiguous = 1;
		return xmig__serr(s, XMIG_EAMBIGUOUS,
				  "COMMIT sent but no DONE came back (%s): whether the "
				  "destination started the guest cannot be known from here; the "
				  "source guest is left paused", why);
	}
	if (item.u.done.status != 0) {
		st->committed = 0; /* the receiver says its guest was destroyed */
		return xmig__serr(s, XMIG_EREMOTE,
				  "the receiver could not start the guest (%s)",
				  xmig_error_name(item.u.done.status));
	}
	tl->dest_running = done_at;
	s->stats.downtime_ns = tl->dest_running - tl->pause_requested;
	return 0;
}

/*
 * A migration's id: random, so that a receiver that outlives several
 * migrations (or hears from several senders) never answers for the wrong
 * one. Without the kernel's generator, time and pid are unique enough for
 * one host's receivers.
 */
static void new_migration_id(uint8_t id[XMIG_MIGRATION_ID_LEN])
{
	struct timespec ts;
	uint64_t a, b;

	if (getrandom(id, XMIG_MIGRATION_ID_LEN, GRND_NONBLOCK) == XMIG_MIGRATION_ID_LEN)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	b = xmig__now_ns() ^ ((uint64_t)getpid() << 32);
	xmig__put_le64(id, a);
	xmig__put_le64(id + 8, b);
}

int xmig__send_run(struct xmig_session *s)
{
	const struct xmig_backend_ops *ops = s->b->ops;
	struct send_state st = { 0 };
	int duplex = (s->t->flags & XMIG_TRANSPORT_DUPLEX) != 0;
	uint8_t hdr[XMIG_HEADER_LEN];
	struct xmig__item item;
	uint64_t t;
	int rc;

	rc = XMIG__HOOK(s, describe, &s->info);
	if (rc < 0)
		return xmig__serr_backend(s, rc, "describe");
	if (s->info.nr_pages == 0 || s->info.nr_vcpus == 0 || s->info.page_size < 4096 ||
	    (s->info.page_size & (s->info.page_size - 1)))
		return xmig__serr(s, XMIG_EBACKEND, "backend describes an invalid guest");
	s->stats.pages_total = s->info.nr_pages;
	s->stats.page_size = s->info.page_size;
	rc = xmig__buffers_alloc(s);
	if (rc < 0)
		return rc;
	xmig__log(s, XMIG_LOG_INFO, "migrating a %s guest: %llu pages of %u bytes, %u vCPUs%s",
		  s->info.backend, (unsigned long long)s->info.nr_pages, s->info.page_size,
		  s->info.nr_vcpus, duplex ? "" : " (one-way stream)");

	xmig__header_encode(hdr, &s->info,
			    (s->sp.verify ? XMIG_HDR_F_DIGEST : 0) |
				    (duplex ? XMIG_HDR_F_DUPLEX : 0));
	t = xmig__now_ns();
	rc = xmig__rec_write_simple(s->t, XMIG_REC_HEADER, hdr, sizeof(hdr), &s->stats.bytes);
	if (rc < 0) {
		rc = write_failed(s, rc, "HEADER");
		goto fail;
	}
	/* Until a pause is measured, assume 1 ms for pause and state. */
	st.fixed_cost_ns = 1000000;
	if (duplex) {
		/* optional: an older receiver skips it and never hears a query */
		new_migration_id(s->mig_id);
		rc = xmig__rec_write_simple(s->t, XMIG_REC_MIGRATION_ID, s->mig_id,
					    sizeof(s->mig_id), &s->stats.bytes);
		if (rc < 0) {
			rc = write_failed(s, rc, "MIGRATION_ID");
			goto fail;
		}
		s->have_mig_id = 1;
		rc = expect(s, XMIG_REC_ACCEPT, &item);
		if (rc < 0)
			goto fail;
		t = xmig__now_ns() - t;
		/* One round trip for READY/COMMIT/DONE; cap what destination setup adds. */
		st.fixed_cost_ns += t < 5000000 ? t : 5000000;
	}

	rc = live_phase(s, &st);
	if (rc < 0)
		goto fail;
	rc = stop_and_copy(s, &st);
	if (rc < 0)
		goto fail;
	if (!duplex) {
		ops->log_dirty_stop(s->b);
		xmig__log(s, XMIG_LOG_INFO, "stream complete; the source guest stays paused");
		return 0;
	}
	rc = commit(s, &st);
	if (rc < 0)
		goto fail;
	ops->log_dirty_stop(s->b);
	rc = XMIG__HOOK(s, destroy);
	if (rc < 0)
		/* The guest runs on the destination: never resume this copy. The
		 * caller may call the backend's destroy again. */
		return xmig__serr(s, XMIG_ESRCLEFT, "the guest runs on the destination, but its "
				  "source copy could not be destroyed (it stays paused here; "
				  "destroy it by hand or retry): %s", xmig__last_message());
	xmig__log(s, XMIG_LOG_INFO, "migration complete: downtime %.3f ms, %u rounds",
		  (double)s->stats.downtime_ns / 1e6, s->stats.nr_rounds);
	return 0;

fail:
	if (st.committed)
		return rc; /* EAMBIGUOUS: leave the guest paused for the caller */
	xmig__send_error_rec(s);
	if (st.logging)
		ops->log_dirty_stop(s->b);
	if (st.paused) {
		int rrc = XMIG__HOOK(s, resume);

		if (rrc < 0)
			xmig__log(s, XMIG_LOG_ERROR, "could not resume the source guest: %s",
				  xmig__last_message());
		else
			xmig__log(s, XMIG_LOG_WARN, "migration failed; the source guest runs again");
	}
	return rc;
}

/* Still ambiguous after asking: the session's error says why. */
static int still_ambiguous(struct xmig_session *s, const char *why)
{
	s->err_code = 0;
	return xmig__serr(s, XMIG_EAMBIGUOUS,
			  "COMMIT sent but no DONE came back, and the receiver's outcome could "
			  "not be learnt (%s): whether it started the guest cannot be known "
			  "from here; the source guest is left paused", why);
}

XMIG__API int xmig_session_resolve(struct xmig_session *s, struct xmig_transport *t,
				   int timeout_ms)
{
	const struct xmig_backend_ops *ops;
	struct xmig__reader r;
	struct xmig__rec rec;
	struct xmig__item item;
	char why[600];
	int rc;

	if (!s || !t)
		return xmig__fail(XMIG_EINVAL, "xmig_session_resolve: NULL argument");
	if (s->role != XMIG__SENDER || !s->ambiguous)
		return xmig__fail(XMIG_EINVAL, "xmig_session_resolve: the session's "
				  "outcome is not ambiguous");
	ops = s->b->ops;
	s->t = t; /* xmig_session_cancel now interrupts the query */
	t->write_timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
	rc = xmig__rec_write_simple(t, XMIG_REC_QUERY, s->mig_id, sizeof(s->mig_id), NULL);
	if (rc < 0) {
		snprintf(why, sizeof(why), "asking: %s", xmig__last_message());
		return still_ambiguous(s, why);
	}
	xmig__reader_init(&r, t);
	rc = xmig__rec_read(&r, &rec, timeout_ms);
	if (rc == 0)
		rc = xmig__decode_handshake(&rec, &item);
	if (rc == 0 && item.type == XMIG_REC_ERROR)
		snprintf(why, sizeof(why), "the receiver answered: %s", item.u.error.message);
	else if (rc == 0 && item.type != XMIG_REC_OUTCOME)
		snprintf(why, sizeof(why), "the receiver answered with %s",
			 xmig__rec_name(item.type));
	else if (rc == 0 && memcmp(item.u.outcome.id, s->mig_id, sizeof(s->mig_id)))
		snprintf(why, sizeof(why), "the answer is for another migration");
	else if (rc == 0 && item.u.outcome.outcome == XMIG_OUTCOME_UNKNOWN)
		snprintf(why, sizeof(why), "the receiver holds no outcome for this migration: "
			 "it was restarted, or stopped keeping it");
	else if (rc < 0)
		snprintf(why, sizeof(why), "waiting for the answer: %s", xmig__last_message());
	xmig__reader_fini(&r);
	if (rc < 0 || item.type != XMIG_REC_OUTCOME ||
	    memcmp(item.u.outcome.id, s->mig_id, sizeof(s->mig_id)) ||
	    item.u.outcome.outcome == XMIG_OUTCOME_UNKNOWN)
		return still_ambiguous(s, why);

	s->ambiguous = 0;
	s->stats.resolved = 1;
	s->err_code = 0;
	s->err[0] = '\0';
	ops->log_dirty_stop(s->b);
	if (item.u.outcome.outcome == XMIG_OUTCOME_RUNNING) {
		xmig__log(s, XMIG_LOG_INFO, "the receiver answers that it started the guest "
			  "(its DONE was lost): destroying the source copy");
		rc = XMIG__HOOK(s, destroy);
		if (rc < 0)
			return xmig__serr(s, XMIG_ESRCLEFT, "the guest runs on the destination "
					  "(its receiver says so), but its source copy could not be "
					  "destroyed (it stays paused here; destroy it by hand or "
					  "retry): %s", xmig__last_message());
		xmig__log(s, XMIG_LOG_INFO, "migration complete (outcome confirmed by query), "
			  "%u rounds", s->stats.nr_rounds);
		return 0;
	}
	rc = XMIG__HOOK(s, resume);
	if (rc < 0)
		return xmig__serr(s, XMIG_EBACKEND, "the receiver never started the guest and "
				  "destroyed its copy, but the source guest could not be resumed "
				  "(it is paused here, the only copy: resume it by hand): %s",
				  xmig__last_message());
	return xmig__serr(s, XMIG_EREMOTE, "the receiver never started the guest (COMMIT did "
			  "not reach it, or the guest could not start there) and destroyed its "
			  "copy; the guest runs here again");
}

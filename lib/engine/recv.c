/* SPDX-License-Identifier: MIT */
/*
 * The receiver: validate the stream, restore into a paused guest, and start
 * it only on COMMIT. The sender is untrusted: every record is checked by the
 * decoder (lib/stream/decode.c) against the header before guest memory is
 * touched, and the header against this receiver's own limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "engine.h"

struct recv_state {
	int created;  /* the destination guest exists */
	int started;  /* it was unpaused: committed */
	struct xmig__decoder dec;
	struct xmig__digest digest; /* the sender's */
	int have_digest;
	struct xmig__digest_table tab; /* ours, hashed right after the final round */
	int have_mine;
	struct xmig_round_stats cur; /* the round being received */
	int cur_open;
	/* The phase being received (a round, or the state after the final
	 * one), for the minimum-rate rule: see xmig_recv_params. */
	uint64_t phase_t0, phase_bytes0;
	char phase[32];
};

static void phase_begin(struct xmig_session *s, struct recv_state *st, const char *name,
			uint32_t round)
{
	st->phase_t0 = xmig__now_ns();
	st->phase_bytes0 = s->reader.bytes;
	if (name)
		snprintf(st->phase, sizeof(st->phase), "%s", name);
	else
		snprintf(st->phase, sizeof(st->phase), "round %u", round);
}

/*
 * The time the next record may take: timeout_ms, or less where the phase
 * would otherwise fall below min_rate. 0 = the phase is already too slow;
 * -1 = no limit. *by_rate says the phase allowance is what limits it.
 */
static int64_t record_limit_ms(struct xmig_session *s, const struct recv_state *st, int *by_rate)
{
	const uint64_t timeout = s->rp.timeout_ms;
	uint64_t bytes, elapsed, allow;

	*by_rate = 0;
	if (!timeout)
		return -1;
	if (!s->rp.min_rate)
		return (int64_t)timeout;
	bytes = s->reader.bytes - st->phase_bytes0;
	elapsed = (xmig__now_ns() - st->phase_t0) / 1000000u;
	allow = timeout + (bytes > UINT64_MAX / 1000u ? UINT64_MAX : bytes * 1000u) / s->rp.min_rate;
	if (allow <= elapsed) {
		*by_rate = 1;
		return 0;
	}
	if (allow - elapsed < timeout) {
		*by_rate = 1;
		return (int64_t)(allow - elapsed);
	}
	return (int64_t)timeout;
}

static int too_slow(struct xmig_session *s, const struct recv_state *st)
{
	uint64_t bytes = s->reader.bytes - st->phase_bytes0;
	double secs = (double)(xmig__now_ns() - st->phase_t0) / 1e9;

	return xmig__serr(s, XMIG_ETIMEDOUT,
			  "the sender is too slow: %s carried %llu bytes in %.1f s, below the "
			  "minimum of %llu bytes/s after the first %u ms (min_rate)",
			  st->phase, (unsigned long long)bytes, secs,
			  (unsigned long long)s->rp.min_rate, s->rp.timeout_ms);
}

static int check_header(struct xmig_session *s, const struct xmig__header *h)
{
	const struct xmig_guest_info *gi = &h->info;
	uint64_t bytes = gi->nr_pages * gi->page_size;

	if (strcmp(gi->backend, s->b->ops->name) != 0)
		return xmig__serr(s, XMIG_ENOTSUP,
				  "the stream carries a '%s' guest; this receiver runs the '%s' "
				  "backend", gi->backend, s->b->ops->name);
	if (bytes > s->rp.max_mem_bytes)
		return xmig__serr(s, XMIG_EPROTO,
				  "the guest has %llu MiB of memory, more than this receiver's "
				  "limit of %llu MiB",
				  (unsigned long long)(bytes >> 20),
				  (unsigned long long)(s->rp.max_mem_bytes >> 20));
	if (gi->nr_vcpus > s->rp.max_vcpus)
		return xmig__serr(s, XMIG_EPROTO, "the guest has %u vCPUs, more than the limit %u",
				  gi->nr_vcpus, s->rp.max_vcpus);
	if (s->rp.require_verify && !(h->flags & XMIG_HDR_F_DIGEST))
		return xmig__serr(s, XMIG_EPROTO,
				  "verification is required but the sender sends no digest");
	if ((h->flags & XMIG_HDR_F_DUPLEX) && !(s->t->flags & XMIG_TRANSPORT_DUPLEX))
		return xmig__serr(s, XMIG_EPROTO,
				  "the sender expects a handshake but this transport is one-way");
	return 0;
}

static int apply_batch(struct xmig_session *s, struct recv_state *st,
		       const struct xmig__batch *bt)
{
	const struct xmig_backend_ops *ops = s->b->ops;
	const size_t psz = s->info.page_size;
	const uint8_t *data = bt->data;
	const uint8_t *src[XMIG_BATCH_MAX]; /* page data, or NULL for zero */
	uint64_t fresh[XMIG_BATCH_MAX];     /* zero pages never written here */
	uint64_t gone[XMIG_BATCH_MAX];      /* absent at the source */
	unsigned int i, n = 0, nfresh = 0, ngone = 0;
	int rc = 0;

	for (i = 0; i < bt->count; i++) {
		uint64_t e = xmig__le64(bt->entries + 8ull * i);
		uint64_t pfn = e & XMIG_ENTRY_PFN_MASK;

		switch (XMIG_ENTRY_ENC(e)) {
		case XMIG_PAGE_ABSENT:
			/*
			 * Never populated at the source, or given back since it
			 * was sent (ballooned out): what was sent must not stay.
			 */
			st->cur.pages_absent++;
			xmig__bitmap_clear(s->bitmap, pfn);
			gone[ngone++] = pfn;
			continue;
		case XMIG_PAGE_ZERO:
			st->cur.pages_zero++;
			/*
			 * A zero page never written here is only populated: no
			 * mapping, no clearing (on sim and kvm nothing at all,
			 * where touching it would only make the host allocate it).
			 */
			if (!xmig__bitmap_test(s->bitmap, pfn)) {
				fresh[nfresh++] = pfn;
				continue;
			}
			src[n] = NULL;
			break;
		default:
			st->cur.pages_sent++;
			src[n] = data;
			data += psz;
			break;
		}
		xmig__bitmap_set(s->bitmap, pfn);
		s->pfns[n++] = pfn;
	}
	if (ngone) {
		rc = XMIG__HOOK(s, release, gone, ngone);
		if (rc < 0)
			return xmig__serr_backend(s, rc, "release");
	}
	if (nfresh) {
		rc = XMIG__HOOK(s, populate, fresh, nfresh);
		if (rc < 0)
			return xmig__serr_backend(s, rc, "populate");
	}
	if (!n)
		return 0;
	rc = XMIG__HOOK(s, map_pages, s->pfns, n, s->ptrs, XMIG_MAP_WRITE);
	if (rc < 0)
		return xmig__serr_backend(s, rc, "map_pages");
	for (i = 0; i < n; i++) {
		if (!s->ptrs[i]) {
			rc = xmig__serr(s, XMIG_EBACKEND,
					"%s backend did not map pfn 0x%llx for writing",
					ops->name, (unsigned long long)s->pfns[i]);
			break;
		}
		if (src[i])
			memcpy(s->ptrs[i], src[i], psz);
		else
			memset(s->ptrs[i], 0, psz);
	}
	ops->unmap_pages(s->b, s->ptrs, n);
	return rc;
}

static void round_done(struct xmig_session *s, struct recv_state *st,
		       const struct xmig__round_end *re)
{
	struct xmig_round_stats *rs = xmig__round_push(s);
	struct xmig_progress p = { 0 };

	if (!rs)
		return; /* statistics only; the migration goes on */
	*rs = st->cur;
	rs->round = re->round;
	rs->final = (re->flags & XMIG_ROUND_F_FINAL) != 0;
	rs->pages_dirty = re->pages;
	rs->duration_ns = re->duration_ns;
	if (rs->duration_ns)
		rs->bandwidth = (double)rs->bytes * 1e9 / (double)rs->duration_ns;
	memset(&st->cur, 0, sizeof(st->cur));
	st->cur.start_ns = xmig__elapsed(s);
	p.phase = rs->final ? XMIG_PHASE_STOPPED : XMIG_PHASE_LIVE;
	p.round = rs->round;
	p.round_pages = p.round_pages_done = re->pages;
	p.bytes = s->stats.bytes;
	p.bandwidth = rs->bandwidth;
	p.elapsed_ns = xmig__elapsed(s);
	xmig__progress(s, &p, 1);
}

/*
 * Guest memory is complete once the final round has arrived, so the
 * receiver hashes it then, while the sender is hashing its own copy: the
 * two digests cost the downtime one hashing time, not two.
 */
static int digest_mine(struct xmig_session *s, struct recv_state *st)
{
	uint64_t t = xmig__now_ns();
	int rc = xmig__digest_table_init(s, &st->tab);

	if (rc < 0)
		return rc;
	rc = xmig__digest_hash(s, &st->tab, NULL, NULL);
	if (rc < 0)
		return rc;
	s->stats.digest_ns = xmig__now_ns() - t;
	st->have_mine = 1;
	return 0;
}

/*
 * The sender left frames out (written after the pause by a device): hash
 * their chunks again without them. Memory is as the final round left it:
 * DIGEST comes before the state records.
 */
static int digest_excluding(struct xmig_session *s, struct recv_state *st,
			    const struct xmig__digest *dg)
{
	uint64_t *excl, *which, i, pfn, first, count, t = xmig__now_ns();
	int rc;

	excl = calloc(xmig__bitmap_words(s->info.nr_pages), sizeof(*excl));
	which = calloc(xmig__bitmap_words(st->tab.nr), sizeof(*which));
	if (!excl || !which) {
		free(excl);
		free(which);
		return xmig__serr(s, XMIG_ENOMEM, "no memory for the digest's exclusions");
	}
	for (i = 0; i < dg->nr_ranges; i++) {
		first = xmig__le64(dg->ranges + 16 * i);
		count = xmig__le64(dg->ranges + 16 * i + 8);
		for (pfn = first; pfn < first + count; pfn++) {
			xmig__bitmap_set(excl, pfn);
			xmig__bitmap_set(which, pfn / XMIG_DIGEST_CHUNK);
		}
	}
	rc = xmig__digest_hash(s, &st->tab, which, excl);
	free(excl);
	free(which);
	if (rc < 0)
		return rc;
	s->stats.digest_ns += xmig__now_ns() - t;
	s->stats.pages_excluded = dg->excluded;
	return 0;
}

static int verify(struct xmig_session *s, struct recv_state *st)
{
	uint8_t mine[16];
	uint64_t pages;

	if (!st->have_mine)
		return xmig__serr(s, XMIG_EPROTO, "DIGEST without a final round");
	xmig__digest_final(&st->tab, &pages, mine);
	if (pages != st->digest.pages || memcmp(mine, st->digest.digest, 16) != 0)
		return xmig__serr(s, XMIG_EVERIFY,
				  "guest memory differs from the source's at pause time: digest "
				  "%016llx%016llx over %llu pages, the sender's %016llx%016llx over "
				  "%llu pages",
				  (unsigned long long)xmig__le64(mine + 8),
				  (unsigned long long)xmig__le64(mine),
				  (unsigned long long)pages,
				  (unsigned long long)xmig__le64(st->digest.digest + 8),
				  (unsigned long long)xmig__le64(st->digest.digest),
				  (unsigned long long)st->digest.pages);
	s->stats.verified = 1;
	if (st->digest.excluded)
		xmig__log(s, XMIG_LOG_INFO, "memory verified: %llu pages match the source; %llu "
			  "frames a device may have written after the pause were left out",
			  (unsigned long long)pages, (unsigned long long)st->digest.excluded);
	else
		xmig__log(s, XMIG_LOG_INFO, "memory verified: %llu pages match the source",
			  (unsigned long long)pages);
	return 0;
}

/* Read and apply the sender's stream up to END. */
static int receive_stream(struct xmig_session *s, struct recv_state *st)
{
	struct xmig__rec rec;
	struct xmig__item item;
	int64_t limit;
	int rc, by_rate;

	phase_begin(s, st, "the header", 0);
	for (;;) {
		uint64_t before = s->reader.bytes;

		if (atomic_load(&s->cancelled))
			return xmig__serr(s, XMIG_ECANCELED, "cancelled by the caller");
		limit = record_limit_ms(s, st, &by_rate);
		if (limit == 0)
			return too_slow(s, st);
		rc = xmig__rec_read(&s->reader, &rec, (int)limit);
		if (rc == XMIG_ETIMEDOUT && by_rate)
			return too_slow(s, st);
		/* garbage where a stream should start: say so, not "bad length" */
		if (s->reader.records <= 1 && !st->created &&
		    (rc == XMIG_EPROTO || rc == XMIG_ECHECKSUM ||
		     (rc == XMIG_EEOF && s->reader.first_len &&
		      xmig__le32(s->reader.first) != XMIG_REC_HEADER) ||
		     (rc == 0 && rec.type != XMIG_REC_HEADER && rec.type != XMIG_REC_ERROR)))
			return xmig__serr_last(s, xmig__reader_not_a_stream(&s->reader),
					       "receiving the header");
		if (rc < 0)
			return xmig__serr_last(s, rc, st->created ? "receiving the stream"
								  : "receiving the header");
		s->stats.bytes = s->reader.bytes;
		st->cur.bytes += s->reader.bytes - before;
		rc = xmig__decoder_feed(&st->dec, &rec, &item);
		if (rc < 0)
			return xmig__serr_last(s, rc, "malformed stream");
		if (rc == 1) {
			xmig__log(s, XMIG_LOG_DEBUG, "skipping optional record type 0x%x", rec.type);
			continue;
		}
		switch (item.type) {
		case XMIG_REC_ERROR:
			return xmig__serr(s, XMIG_EREMOTE, "the sender failed: %s (%s)",
					  item.u.error.message, xmig_error_name(item.u.error.code));
		case XMIG_REC_HEADER:
			s->info = item.u.header.info;
			s->stats.pages_total = s->info.nr_pages;
			s->stats.page_size = s->info.page_size;
			rc = check_header(s, &item.u.header);
			if (rc < 0)
				return rc;
			rc = xmig__buffers_alloc(s);
			if (rc < 0)
				return rc;
			rc = XMIG__HOOK(s, create, &s->info);
			if (rc < 0)
				return xmig__serr_backend(s, rc, "create");
			st->created = 1;
			xmig__log(s, XMIG_LOG_INFO,
				  "receiving a %s guest: %llu pages of %u bytes, %u vCPUs",
				  s->info.backend, (unsigned long long)s->info.nr_pages,
				  s->info.page_size, s->info.nr_vcpus);
			if (item.u.header.flags & XMIG_HDR_F_DUPLEX) {
				uint8_t body[8] = { 0 };

				xmig__put_le32(body, XMIG_STREAM_VERSION);
				rc = xmig__rec_write_simple(s->t, XMIG_REC_ACCEPT, body, 8, NULL);
				if (rc < 0)
					return xmig__serr_last(s, rc, "sending ACCEPT");
			}
			st->cur.start_ns = xmig__elapsed(s);
			phase_begin(s, st, NULL, 0);
			xmig__status(s, XMIG_STATUS_ACTIVE);
			break;
		case XMIG_REC_PAGE_BATCH:
			rc = apply_batch(s, st, &item.u.batch);
			if (rc < 0)
				return rc;
			break;
		case XMIG_REC_ROUND_END:
			round_done(s, st, &item.u.round_end);
			if (!(item.u.round_end.flags & XMIG_ROUND_F_FINAL)) {
				if (st->dec.hdr.flags & XMIG_HDR_F_DUPLEX) {
					uint8_t ack[8] = { 0 };

					xmig__put_le32(ack, item.u.round_end.round);
					rc = xmig__rec_write_simple(s->t, XMIG_REC_ROUND_ACK, ack,
								    sizeof(ack), NULL);
					if (rc < 0)
						return xmig__serr_last(s, rc, "sending ROUND_ACK");
				}
				phase_begin(s, st, NULL, item.u.round_end.round + 1);
				break;
			}
			s->stats.timeline.last_page_sent = xmig__elapsed(s);
			xmig__status(s, XMIG_STATUS_STOP_COPY);
			if (st->dec.hdr.flags & XMIG_HDR_F_DIGEST) {
				rc = digest_mine(s, st);
				if (rc < 0)
					return rc;
			}
			/* Our own hashing is not the sender's time. */
			phase_begin(s, st, "the final state", 0);
			break;
		case XMIG_REC_VCPU_STATE:
		case XMIG_REC_PLATFORM_STATE:
			rc = XMIG__HOOK(s, load_state, item.u.state.vcpu, item.u.state.type,
					     item.u.state.data, item.u.state.len);
			if (rc < 0)
				return xmig__serr_backend(s, rc, "load_state");
			break;
		case XMIG_REC_ANNOTATIONS:
			free(s->annotations);
			s->annotations = malloc(item.u.annotations.len + 1);
			if (!s->annotations)
				return xmig__serr(s, XMIG_ENOMEM, "no memory for annotations");
			memcpy(s->annotations, item.u.annotations.text, item.u.annotations.len);
			s->annotations[item.u.annotations.len] = '\0';
			break;
		case XMIG_REC_MIGRATION_ID:
			memcpy(s->mig_id, item.u.outcome.id, sizeof(s->mig_id));
			s->have_mig_id = 1;
			break;
		case XMIG_REC_DIGEST:
			st->digest = item.u.digest;
			st->digest.ranges = NULL; /* the record's body: gone after the next read */
			st->have_digest = 1;
			if (!st->have_mine)
				return xmig__serr(s, XMIG_EPROTO, "DIGEST without a final round");
			if (item.u.digest.nr_ranges) {
				rc = digest_excluding(s, st, &item.u.digest);
				if (rc < 0)
					return rc;
			}
			break;
		case XMIG_REC_END:
			s->stats.timeline.state_sent = xmig__elapsed(s);
			rc = xmig__reader_check_end(&s->reader,
						    s->rp.timeout_ms ? (int)s->rp.timeout_ms : -1);
			if (rc < 0)
				return xmig__serr_last(s, rc, "after the stream");
			return 0;
		}
	}
}

static int send_done(struct xmig_session *s, int status, uint64_t unpause_ns)
{
	uint8_t body[16] = { 0 };

	xmig__put_le32(body, (uint32_t)status);
	xmig__put_le64(body + 8, unpause_ns);
	return xmig__rec_write_simple(s->t, XMIG_REC_DONE, body, sizeof(body), NULL);
}

/*
 * After DONE (or our ERROR once READY was out): a sender that read it says
 * FINISHED at once. Without it, the sender may not know the outcome: keep
 * it for a query (xmig_session_unsettled). A live sender answers within a
 * round trip, so the wait is short whatever timeout_ms is.
 */
static void wait_finished(struct xmig_session *s)
{
	uint32_t ms = s->rp.timeout_ms && s->rp.timeout_ms < 10000 ? s->rp.timeout_ms : 10000;
	struct xmig__rec rec;
	int rc;

	if (!s->have_mig_id)
		return; /* an older sender: it cannot ask */
	rc = xmig__rec_read(&s->reader, &rec, (int)ms);
	if (rc == 0 && rec.type == XMIG_REC_FINISHED && rec.length == 0) {
		s->settled = 1;
		return;
	}
	xmig__log(s, XMIG_LOG_WARN, "the sender did not confirm that it learnt the outcome "
		  "(%s): the guest %s here; keeping that answer for its query",
		  rc < 0 ? xmig__last_message() : xmig__rec_name(rec.type),
		  s->outcome == XMIG_OUTCOME_RUNNING ? "runs" : "was destroyed");
}

/* After a failure: the partial guest goes. If the backend cannot destroy it,
 * say so loudly (the failure being reported stays the session's error). */
static void partial_destroy(struct xmig_session *s)
{
	if (XMIG__HOOK(s, destroy) < 0)
		xmig__log(s, XMIG_LOG_ERROR,
			  "the partial guest here could not be destroyed (it never ran; "
			  "destroy it by hand): %s", xmig__last_message());
}

int xmig__recv_run(struct xmig_session *s)
{
	struct xmig_downtime *tl = &s->stats.timeline;
	struct recv_state st = { 0 };
	struct xmig__rec rec;
	struct xmig__item item;
	uint64_t t;
	int rc, duplex;

	/* downtime_ns stays 0 here: the pause happened on the sender's clock. */

	xmig__decoder_init(&st.dec);
	rc = receive_stream(s, &st);
	if (rc >= 0 && st.have_digest)
		rc = verify(s, &st);
	xmig__digest_table_free(&st.tab);
	if (rc < 0)
		goto fail;
	/* Everything that can fail, before READY: the source can still run on. */
	rc = XMIG__HOOK(s, restore_complete);
	if (rc < 0) {
		rc = xmig__serr_backend(s, rc, "restore_complete");
		goto fail;
	}
	duplex = (st.dec.hdr.flags & XMIG_HDR_F_DUPLEX) != 0;
	if (duplex) {
		rc = xmig__rec_write_simple(s->t, XMIG_REC_READY, NULL, 0, NULL);
		if (rc < 0) {
			rc = xmig__serr_last(s, rc, "sending READY");
			goto fail;
		}
		tl->receiver_ready = xmig__elapsed(s);
		xmig__status(s, XMIG_STATUS_COMMIT);
		/* From here the sender may write COMMIT and lose our answer. */
		s->outcome = XMIG_OUTCOME_DESTROYED;
		/* The guest is restored and paused; nothing runs until COMMIT. */
		rc = xmig__rec_read(&s->reader, &rec,
				    s->rp.timeout_ms ? (int)s->rp.timeout_ms : -1);
		if (rc < 0) {
			rc = xmig__serr_last(s, rc == XMIG_EEOF ? XMIG_EIO : rc,
					     "waiting for COMMIT");
			goto fail;
		}
		rc = xmig__decode_handshake(&rec, &item);
		if (rc < 0) {
			rc = xmig__serr_last(s, rc, "waiting for COMMIT");
			goto fail;
		}
		if (item.type == XMIG_REC_ERROR) {
			s->settled = 1; /* it knows: it failed */
			rc = xmig__serr(s, XMIG_EREMOTE, "the sender failed: %s",
					item.u.error.message);
			goto fail;
		}
		if (item.type != XMIG_REC_COMMIT) {
			rc = xmig__serr(s, XMIG_EPROTO, "expected COMMIT, got %s",
					xmig__rec_name(item.type));
			goto fail;
		}
		tl->commit_sent = xmig__elapsed(s);
		s->stats.bytes = s->reader.bytes;
	}

	t = xmig__now_ns();
	rc = s->rp.start_paused ? XMIG__HOOK(s, commit) : XMIG__HOOK(s, unpause);
	if (rc < 0) {
		rc = xmig__serr_backend(s, rc, s->rp.start_paused ? "commit" : "unpause");
		partial_destroy(s);
		if (duplex && send_done(s, rc, 0) == 0)
			wait_finished(s);
		return rc;
	}
	st.started = 1;
	if (s->rp.start_paused)
		s->held = 1; /* xmig_session_unpause starts it */
	else
		tl->dest_running = xmig__elapsed(s);
	if (duplex) {
		s->outcome = XMIG_OUTCOME_RUNNING;
		if (send_done(s, 0, xmig__now_ns() - t) < 0)
			xmig__log(s, XMIG_LOG_WARN,
				  "the guest runs here, but DONE could not be sent: %s (the sender "
				  "keeps its copy paused until it learns the outcome)",
				  xmig__last_message());
		else
			wait_finished(s);
	}
	xmig__log(s, XMIG_LOG_INFO, s->held ? "guest restored on the destination and committed, "
		  "left paused (start_paused)" : rc == 1 ? "guest restored on the destination and "
		  "committed; its toolstack unpauses it" : "guest running on the destination");
	return 0;

fail:
	xmig__send_error_rec(s);
	if (st.created)
		partial_destroy(s);
	if (s->outcome && !s->settled && rc != XMIG_ECANCELED)
		wait_finished(s);
	return rc;
}

XMIG__API int xmig_session_unsettled(const struct xmig_session *s,
				     struct xmig_outcome_record *rec)
{
	if (!s || s->role != XMIG__RECEIVER || !s->have_mig_id || !s->outcome || s->settled)
		return 0;
	if (rec) {
		memcpy(rec->id, s->mig_id, sizeof(rec->id));
		rec->outcome = s->outcome;
	}
	return 1;
}

XMIG__API int xmig_outcome_answer(struct xmig_transport *t, const struct xmig_outcome_record *rec,
				  int timeout_ms)
{
	static const char busy[] = "this receiver is busy: it keeps the outcome of its last "
				   "migration until that sender asks for it; try again later";
	uint8_t body[8 + sizeof(busy)];
	struct xmig__reader r;
	struct xmig__rec rr;
	struct xmig__item item;
	int rc, match;

	if (!t || !rec)
		return xmig__fail(XMIG_EINVAL, "xmig_outcome_answer: NULL argument");
	t->write_timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
	xmig__reader_init(&r, t);
	rc = xmig__rec_read(&r, &rr, timeout_ms);
	if (rc == 0 && rr.type == XMIG_REC_HEADER) {
		xmig__put_le32(body, (uint32_t)XMIG_EREMOTE);
		xmig__put_le32(body + 4, 0);
		memcpy(body + 8, busy, sizeof(busy) - 1);
		(void)xmig__rec_write_simple(t, XMIG_REC_ERROR, body, 8 + sizeof(busy) - 1, NULL);
		rc = xmig__fail(XMIG_EPROTO, "a migration arrived while this receiver keeps an "
				"outcome for its last sender: refused (busy)");
	} else if (rc == 0) {
		rc = xmig__decode_handshake(&rr, &item);
		if (rc == 0 && item.type != XMIG_REC_QUERY)
			rc = xmig__fail(XMIG_EPROTO, "expected a QUERY, got %s",
					xmig__rec_name(item.type));
	}
	xmig__reader_fini(&r);
	if (rc < 0)
		return rc;
	match = !memcmp(item.u.outcome.id, rec->id, sizeof(rec->id));
	xmig__put_le32(body, (uint32_t)(match ? rec->outcome : XMIG_OUTCOME_UNKNOWN));
	xmig__put_le32(body + 4, 0);
	memcpy(body + 8, item.u.outcome.id, XMIG_MIGRATION_ID_LEN);
	rc = xmig__rec_write_simple(t, XMIG_REC_OUTCOME, body, 8 + XMIG_MIGRATION_ID_LEN, NULL);
	return rc < 0 ? rc : match;
}

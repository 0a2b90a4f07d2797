/* SPDX-License-Identifier: MIT */
/*
 * Failures at every phase of a migration: the guest is never lost and never
 * runs twice. Before COMMIT the source guest runs on, intact, and the
 * destination's partial guest is gone; after COMMIT without DONE the source
 * stays paused and the destination runs it.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "migrate_util.h"
#include "stream/stream.h"
#include "xmig/backend/sim.h"

/* Three live rounds, then stop: every phase is reached on every run. */
static int three_rounds(const struct xmig_policy_input *in, void *payload)
{
	(void)payload;
	return in->rounds_done < 3 ? XMIG_POLICY_CONTINUE : XMIG_POLICY_STOP;
}

struct fx {
	struct xmig_backend *src, *dst;
	struct spy_backend ssrc, sdst;
	struct xmig_transport *ta, *tb;
	struct cut_transport cut;
	struct side snd, rcv;
	struct xmig_send_params p;
	struct xmig_recv_params rp;
};

static void fx_setup(struct fx *f, const char *dirty)
{
	struct xmig_sim_params sp = XMIG_SIM_PARAMS_INIT;
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;

	memset(f, 0, sizeof(*f));
	sp.mem_bytes = 16 << 20; /* 4096 pages: 4 batches a full round */
	sp.dirty = dirty;
	ck_assert_int_eq(xmig_sim_new(&f->src, &sp), 0);
	ck_assert_int_eq(xmig_sim_new_dest(&f->dst), 0);
	spy_init(&f->ssrc, f->src);
	spy_init(&f->sdst, f->dst);
	transport_pair(&f->ta, &f->tb, 0);
	f->p = p;
	f->p.policy_fn = three_rounds;
	f->p.log_fn = test_log;
	f->p.log_payload = "send";
	f->rp = rp;
	f->rp.log_fn = test_log;
	f->rp.log_payload = "recv";
	f->rp.timeout_ms = 10000;
}

static void fx_run(struct fx *f, struct xmig_transport *sender_t)
{
	recv_start(&f->rcv, &f->sdst.base, f->tb, &f->rp);
	send_run(&f->snd, &f->ssrc.base, sender_t, &f->p);
	recv_join(&f->rcv);
}

static void fx_teardown(struct fx *f)
{
	xmig_session_free(f->snd.s);
	xmig_session_free(f->rcv.s);
	xmig_transport_close(f->ta);
	xmig_transport_close(f->tb);
	f->src->ops->free(f->src);
	f->dst->ops->free(f->dst);
	spy_fini(&f->ssrc);
	spy_fini(&f->sdst);
}

/* The source guest runs, writes, and passes its own check. */
static void assert_source_alive(struct fx *f)
{
	uint64_t w = xmig_sim_writes(f->src), bad = 0;

	ck_assert_ptr_nonnull(xmig_sim_memory(f->src, NULL));
	ck_assert_int_eq(f->ssrc.destroys, 0);
	ck_assert_int_eq(f->ssrc.resumes, f->ssrc.pauses);
	usleep(30000);
	ck_assert_msg(xmig_sim_writes(f->src) > w, "the source guest does not run");
	ck_assert_msg(xmig_sim_check(f->src, &bad) == 0, "source page 0x%llx damaged",
		      (unsigned long long)bad);
}

/* The destination never ran the guest and holds none now. */
static void assert_dest_gone(struct fx *f)
{
	ck_assert_int_eq(f->sdst.unpauses, 0);
	ck_assert_int_eq(f->sdst.destroys, f->sdst.creates);
	ck_assert_ptr_null(xmig_sim_memory(f->dst, NULL));
}

static void cut_case(uint32_t type, unsigned int nth, int expect_paused)
{
	struct fx f;

	fx_setup(&f, "hot:4M:50M/s");
	cut_transport_init(&f.cut, f.ta, type, nth, 0);
	fx_run(&f, &f.cut.base);
	ck_assert_msg(f.snd.rc == XMIG_EIO || f.snd.rc == XMIG_EREMOTE, "sender rc %d: %s",
		      f.snd.rc, f.snd.err);
	ck_assert_msg(f.rcv.rc < 0, "the receiver succeeded on a cut stream");
	ck_assert_int_eq(f.ssrc.pauses, expect_paused);
	assert_source_alive(&f);
	assert_dest_gone(&f);
	fx_teardown(&f);
}

START_TEST(test_cut_in_setup)
{
	cut_case(XMIG_REC_HEADER, 1, 0);
}
END_TEST

START_TEST(test_cut_in_round0)
{
	cut_case(XMIG_REC_PAGE_BATCH, 2, 0);
}
END_TEST

START_TEST(test_cut_in_round_k)
{
	cut_case(XMIG_REC_ROUND_END, 2, 0); /* the end of round 1 */
}
END_TEST

START_TEST(test_cut_in_stop_and_copy)
{
	cut_case(XMIG_REC_VCPU_STATE, 1, 1); /* guest paused, state going out */
}
END_TEST

START_TEST(test_cut_after_ready)
{
	cut_case(XMIG_REC_COMMIT, 1, 1); /* READY came; COMMIT never leaves */
}
END_TEST

/* COMMIT arrives but DONE never comes back: the one ambiguous window. */
START_TEST(test_done_lost)
{
	struct fx f;
	uint64_t w;

	fx_setup(&f, "hot:4M:50M/s");
	cut_transport_init(&f.cut, f.ta, XMIG_REC_COMMIT, 1, 1);
	fx_run(&f, &f.cut.base);
	ck_assert_msg(f.snd.rc == XMIG_EAMBIGUOUS, "sender rc %d: %s", f.snd.rc, f.snd.err);
	ck_assert_msg(f.rcv.rc == 0, "receiver: %s", f.rcv.err);
	/* The destination runs it ... */
	ck_assert_int_eq(f.sdst.unpauses, 1);
	ck_assert_ptr_nonnull(xmig_sim_memory(f.dst, NULL));
	/* ... and the source neither runs it nor threw it away. */
	ck_assert_int_eq(f.ssrc.pauses, 1);
	ck_assert_int_eq(f.ssrc.resumes, 0);
	ck_assert_int_eq(f.ssrc.destroys, 0);
	w = xmig_sim_writes(f.src);
	usleep(30000);
	ck_assert_uint_eq(xmig_sim_writes(f.src), w);
	ck_assert(strstr(f.snd.err, "left paused"));
	fx_teardown(&f);
}
END_TEST

/* A receiver keeping `rec` answers one query on `t`. */
struct answerer {
	struct xmig_transport *t;
	struct xmig_outcome_record rec;
	int rc;
	pthread_t thread;
};

static void *answer_main(void *arg)
{
	struct answerer *a = arg;

	a->rc = xmig_outcome_answer(a->t, &a->rec, 5000);
	return NULL;
}

/*
 * Ask the receiver that holds `held` (its record, maybe altered by the
 * test) about the sender's ambiguous migration, over a new connection.
 * Returns what xmig_session_resolve returned; *answered what the receiver's
 * side returned.
 */
static int resolve_with(struct fx *f, const struct xmig_outcome_record *held, int *answered)
{
	struct xmig_transport *qa, *qb;
	struct answerer a = { .rec = *held };
	int rc;

	transport_pair(&qa, &qb, 0);
	a.t = qb;
	ck_assert_int_eq(pthread_create(&a.thread, NULL, answer_main, &a), 0);
	rc = xmig_session_resolve(f->snd.s, qa, 5000);
	pthread_join(a.thread, NULL);
	*answered = a.rc;
	xmig_transport_close(qa);
	xmig_transport_close(qb);
	return rc;
}

/*
 * Run a migration whose COMMIT is written and then the connection cut: COMMIT
 * delivered (DONE lost) or, with `drop`, lost itself. The sender must be left
 * ambiguous, and the receiver keep `outcome` for it in *rec.
 */
static void ambiguous_run(struct fx *f, int drop, int outcome, struct xmig_outcome_record *rec)
{
	fx_setup(f, "hot:4M:50M/s");
	/* how long the receiver waits for COMMIT, then for FINISHED */
	f->rp.timeout_ms = 1500;
	cut_transport_init(&f->cut, f->ta, XMIG_REC_COMMIT, 1, !drop);
	f->cut.drop = drop;
	fx_run(f, &f->cut.base);
	ck_assert_msg(f->snd.rc == XMIG_EAMBIGUOUS, "sender rc %d: %s", f->snd.rc, f->snd.err);
	ck_assert_msg(strstr(f->snd.err, "cannot be known"), "%s", f->snd.err);
	if (outcome == XMIG_OUTCOME_RUNNING)
		ck_assert_msg(f->rcv.rc == 0, "receiver: %s", f->rcv.err);
	else
		ck_assert_msg(f->rcv.rc < 0, "the receiver ran a guest it got no COMMIT for");
	ck_assert_int_eq(xmig_session_unsettled(f->rcv.s, rec), 1);
	ck_assert_int_eq(rec->outcome, outcome);
}

/*
 * DONE lost, then asked for: the receiver kept "running" for its sender,
 * which then destroys its paused copy. The guest runs on exactly one side.
 */
START_TEST(test_done_lost_resolved)
{
	struct xmig_outcome_record rec;
	struct fx f;
	int answered;

	ambiguous_run(&f, 0, XMIG_OUTCOME_RUNNING, &rec);
	ck_assert_int_eq(resolve_with(&f, &rec, &answered), 0);
	ck_assert_int_eq(answered, 1);
	ck_assert_int_eq(xmig_session_stats(f.snd.s)->resolved, 1);
	ck_assert_int_eq(f.ssrc.destroys, 1);
	ck_assert_int_eq(f.ssrc.resumes, 0);
	ck_assert_int_eq(f.sdst.unpauses, 1);
	ck_assert_ptr_nonnull(xmig_sim_memory(f.dst, NULL));
	/* resolved once: a second call is refused, nothing happens twice */
	ck_assert_int_eq(xmig_session_resolve(f.snd.s, f.ta, 100), XMIG_EINVAL);
	fx_teardown(&f);
}
END_TEST

/*
 * COMMIT written but never delivered: the receiver destroyed its copy and
 * says so when asked; the sender resumes its guest, which runs on intact.
 * Before this existed, the sender left the guest paused with nowhere to run.
 */
START_TEST(test_commit_lost_resolved)
{
	struct xmig_outcome_record rec;
	struct fx f;
	int answered;

	ambiguous_run(&f, 1, XMIG_OUTCOME_DESTROYED, &rec);
	assert_dest_gone(&f);
	ck_assert_int_eq(resolve_with(&f, &rec, &answered), XMIG_EREMOTE);
	ck_assert_int_eq(answered, 1);
	ck_assert_msg(strstr(xmig_session_error(f.snd.s), "runs here again"), "%s",
		      xmig_session_error(f.snd.s));
	ck_assert_int_eq(f.ssrc.pauses, 1);
	assert_source_alive(&f);
	ck_assert_int_eq(f.ssrc.log_stops, 1);
	fx_teardown(&f);
}
END_TEST

/* A receiver that knows nothing of this migration: still ambiguous, still paused. */
START_TEST(test_resolve_unknown)
{
	struct xmig_outcome_record rec;
	struct fx f;
	int answered;
	uint64_t w;

	ambiguous_run(&f, 0, XMIG_OUTCOME_RUNNING, &rec);
	rec.id[0] ^= 1; /* another migration's */
	ck_assert_int_eq(resolve_with(&f, &rec, &answered), XMIG_EAMBIGUOUS);
	ck_assert_int_eq(answered, 0);
	ck_assert_msg(strstr(xmig_session_error(f.snd.s), "holds no outcome"), "%s",
		      xmig_session_error(f.snd.s));
	ck_assert_int_eq(f.ssrc.resumes, 0);
	ck_assert_int_eq(f.ssrc.destroys, 0);
	w = xmig_sim_writes(f.src);
	usleep(30000);
	ck_assert_uint_eq(xmig_sim_writes(f.src), w);
	/* the right receiver answers the next try */
	rec.id[0] ^= 1;
	ck_assert_int_eq(resolve_with(&f, &rec, &answered), 0);
	ck_assert_int_eq(f.ssrc.destroys, 1);
	fx_teardown(&f);
}
END_TEST

/* A clean migration leaves nothing to ask: the sender said FINISHED. */
START_TEST(test_clean_run_settled)
{
	struct xmig_outcome_record rec;
	struct fx f;

	fx_setup(&f, "hot:4M:50M/s");
	fx_run(&f, f.ta);
	ck_assert_msg(f.snd.rc == 0, "sender: %s", f.snd.err);
	ck_assert_msg(f.rcv.rc == 0, "receiver: %s", f.rcv.err);
	ck_assert_int_eq(xmig_session_unsettled(f.rcv.s, &rec), 0);
	ck_assert_int_eq(xmig_session_resolve(f.snd.s, f.ta, 100), XMIG_EINVAL);
	fx_teardown(&f);
}
END_TEST

/* A migration that arrives while an outcome is kept is refused, with a reason. */
START_TEST(test_answer_refuses_migration)
{
	struct xmig_outcome_record rec = { .outcome = XMIG_OUTCOME_RUNNING };
	struct xmig_transport *qa, *qb;
	struct xmig_backend *src;
	struct xmig_session *s;
	struct xmig_sim_params sp = XMIG_SIM_PARAMS_INIT;
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct answerer a = { .rec = rec };

	sp.mem_bytes = 1 << 20;
	ck_assert_int_eq(xmig_sim_new(&src, &sp), 0);
	transport_pair(&qa, &qb, 0);
	a.t = qb;
	ck_assert_int_eq(pthread_create(&a.thread, NULL, answer_main, &a), 0);
	p.log_fn = test_log;
	p.log_payload = "send";
	ck_assert_int_eq(xmig_send_new(&s, src, qa, &p), 0);
	ck_assert_int_eq(xmig_session_run(s), XMIG_EREMOTE);
	ck_assert_msg(strstr(xmig_session_error(s), "busy"), "%s", xmig_session_error(s));
	pthread_join(a.thread, NULL);
	ck_assert_int_eq(a.rc, XMIG_EPROTO);
	xmig_session_free(s);
	xmig_transport_close(qa);
	xmig_transport_close(qb);
	src->ops->free(src);
}
END_TEST

/*
 * COMMIT arrives damaged: the receiver refuses it and says so (ERROR); the
 * sender must take its guest back, not leave it paused as if committed.
 */
START_TEST(test_commit_damaged)
{
	struct fx f;

	fx_setup(&f, "hot:4M:50M/s");
	cut_transport_init(&f.cut, f.ta, XMIG_REC_COMMIT, 1, 0);
	f.cut.corrupt = 1;
	fx_run(&f, &f.cut.base);
	ck_assert_msg(f.snd.rc == XMIG_EREMOTE, "sender rc %d: %s", f.snd.rc, f.snd.err);
	ck_assert_int_eq(f.rcv.rc, XMIG_ECHECKSUM);
	ck_assert_int_eq(f.ssrc.pauses, 1);
	assert_source_alive(&f);
	assert_dest_gone(&f);
	ck_assert_int_eq(f.ssrc.log_stops, 1);
	fx_teardown(&f);
}
END_TEST

/* A peer that reads the header, says ACCEPT, then never reads again. */
static void *stalling_peer(void *arg)
{
	struct xmig_transport *t = arg;
	struct xmig__reader r;
	struct xmig__rec rec;
	uint8_t body[8] = { 0 };

	xmig__reader_init(&r, t);
	if (xmig__rec_read(&r, &rec, 5000) == 0) {
		xmig__put_le32(body, XMIG_STREAM_VERSION);
		xmig__rec_write_simple(t, XMIG_REC_ACCEPT, body, sizeof(body), NULL);
	}
	xmig__reader_fini(&r);
	usleep(1500000);
	return NULL;
}

/* The receiver stops reading: the sender gives up after its timeout. */
START_TEST(test_receiver_stops_reading)
{
	struct fx f;
	pthread_t th;

	fx_setup(&f, "uniform:10M/s");
	f.p.timeout_ms = 300;
	ck_assert_int_eq(pthread_create(&th, NULL, stalling_peer, f.tb), 0);
	send_run(&f.snd, &f.ssrc.base, f.ta, &f.p);
	ck_assert_msg(f.snd.rc == XMIG_ETIMEDOUT, "sender rc %d: %s", f.snd.rc, f.snd.err);
	ck_assert_msg(strstr(f.snd.err, "sending a page batch"), "%s", f.snd.err);
	assert_source_alive(&f);
	pthread_join(th, NULL);
	xmig_session_free(f.snd.s);
	xmig_transport_close(f.ta);
	xmig_transport_close(f.tb);
	f.src->ops->free(f.src);
	f.dst->ops->free(f.dst);
	spy_fini(&f.ssrc);
	spy_fini(&f.sdst);
}
END_TEST

/* The receiver refuses the guest: the sender says why; nothing moved. */
START_TEST(test_receiver_refuses)
{
	struct fx f;

	fx_setup(&f, "uniform:10M/s");
	f.rp.max_mem_bytes = 8 << 20;
	fx_run(&f, f.ta);
	ck_assert_int_eq(f.snd.rc, XMIG_EREMOTE);
	ck_assert_msg(strstr(f.snd.err, "limit of 8 MiB"), "%s", f.snd.err);
	ck_assert_int_eq(f.rcv.rc, XMIG_EPROTO);
	ck_assert_int_eq(f.sdst.creates, 0);
	assert_source_alive(&f);
	fx_teardown(&f);
}
END_TEST

/* The destination cannot start the guest after COMMIT: the source resumes. */
START_TEST(test_dest_unpause_fails)
{
	struct fx f;

	fx_setup(&f, "uniform:10M/s");
	f.sdst.fail_unpause = 1;
	fx_run(&f, f.ta);
	ck_assert_msg(f.snd.rc == XMIG_EREMOTE, "sender rc %d: %s", f.snd.rc, f.snd.err);
	ck_assert_int_eq(f.rcv.rc, XMIG_EBACKEND);
	ck_assert_int_eq(f.sdst.destroys, 1);
	ck_assert_ptr_null(xmig_sim_memory(f.dst, NULL));
	assert_source_alive(&f);
	fx_teardown(&f);
}
END_TEST

/*
 * The destination cannot finish the restore after the last state record:
 * it says so instead of READY, so nothing was committed, the source runs on
 * and the destination's guest is gone, never started.
 */
START_TEST(test_dest_restore_complete_fails)
{
	struct fx f;

	fx_setup(&f, "uniform:10M/s");
	f.sdst.fail_restore_complete = 1;
	fx_run(&f, f.ta);
	ck_assert_msg(f.snd.rc == XMIG_EREMOTE, "sender rc %d: %s", f.snd.rc, f.snd.err);
	ck_assert_msg(strstr(f.snd.err, "restore_complete failed: spy: restore_complete made "
				 "to fail"), "%s", f.snd.err);
	ck_assert_int_eq(f.rcv.rc, XMIG_EBACKEND);
	ck_assert_int_eq(f.sdst.restore_completes, 1);
	ck_assert_int_eq(f.sdst.unpauses, 0);
	ck_assert_int_eq(f.sdst.destroys, 1);
	ck_assert_int_eq(f.ssrc.resumes, 1);
	ck_assert_int_eq(f.ssrc.destroys, 0);
	ck_assert_ptr_null(xmig_sim_memory(f.dst, NULL));
	assert_source_alive(&f);
	fx_teardown(&f);
}
END_TEST

/*
 * The commit went through, but the source copy cannot be destroyed: the
 * sender says so with XMIG_ESRCLEFT (not a failure to resume from: the guest
 * runs on the destination), never resumes its copy, and keeps it so that a
 * second destroy finishes the job.
 */
START_TEST(test_source_destroy_fails)
{
	struct fx f;
	uint64_t n = 0, bad = 0;

	fx_setup(&f, "uniform:10M/s");
	f.ssrc.fail_destroys = 1;
	fx_run(&f, f.ta);
	ck_assert_msg(f.snd.rc == XMIG_ESRCLEFT, "sender rc %d: %s", f.snd.rc, f.snd.err);
	ck_assert_msg(strstr(f.snd.err, "source copy could not be destroyed") &&
			      strstr(f.snd.err, "spy: destroy made to fail"), "%s", f.snd.err);
	ck_assert_int_eq(f.rcv.rc, 0);
	ck_assert_int_eq(f.sdst.unpauses, 1);
	ck_assert_int_eq(f.ssrc.resumes, 0);
	ck_assert_int_eq(f.ssrc.destroys, 1);
	/* The destination has the guest as it was at the pause, page for page. */
	ck_assert_ptr_nonnull(xmig_sim_memory(f.dst, &n));
	ck_assert_int_eq(image_diff(f.ssrc.image, f.sdst.image, f.ssrc.image_pages,
				    f.ssrc.page_size), -1);
	ck_assert_int_eq(xmig_sim_check(f.dst, &bad), 0);
	/* The source copy is still there, stopped, and can be destroyed now. */
	ck_assert_ptr_nonnull(xmig_sim_memory(f.src, NULL));
	ck_assert_int_eq(f.ssrc.base.ops->destroy(&f.ssrc.base), 0);
	ck_assert_ptr_null(xmig_sim_memory(f.src, NULL));
	fx_teardown(&f);
}
END_TEST

/* A partial destination that cannot be destroyed: the failure is still the
 * one reported, and the receiver says what it left. */
START_TEST(test_dest_destroy_fails)
{
	struct fx f;

	fx_setup(&f, "uniform:10M/s");
	f.sdst.fail_restore_complete = 1;
	f.sdst.fail_destroys = 1;
	fx_run(&f, f.ta);
	ck_assert_int_eq(f.rcv.rc, XMIG_EBACKEND);
	ck_assert_msg(strstr(f.rcv.err, "restore_complete"), "%s", f.rcv.err);
	ck_assert_int_eq(f.snd.rc, XMIG_EREMOTE);
	ck_assert_int_eq(f.sdst.destroys, 1);
	ck_assert_int_eq(f.sdst.unpauses, 0);
	ck_assert_ptr_nonnull(xmig_sim_memory(f.dst, NULL)); /* kept, never ran */
	assert_source_alive(&f);
	ck_assert_int_eq(f.sdst.base.ops->destroy(&f.sdst.base), 0);
	ck_assert_ptr_null(xmig_sim_memory(f.dst, NULL));
	fx_teardown(&f);
}
END_TEST

static void *cancel_later(void *arg)
{
	usleep(5000);
	xmig_session_cancel(arg);
	return NULL;
}

/* The caller cancels mid-migration (a slow link keeps it in round 0). */
START_TEST(test_cancel)
{
	struct fx f;
	pthread_t th;

	fx_setup(&f, "uniform:10M/s");
	f.p.max_bandwidth = 20 << 20;
	recv_start(&f.rcv, &f.sdst.base, f.tb, &f.rp);
	ck_assert_int_eq(xmig_send_new(&f.snd.s, &f.ssrc.base, f.ta, &f.p), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, cancel_later, f.snd.s), 0);
	f.snd.rc = xmig_session_run(f.snd.s);
	pthread_join(th, NULL);
	recv_join(&f.rcv);
	ck_assert_int_eq(f.snd.rc, XMIG_ECANCELED);
	ck_assert_int_lt(f.rcv.rc, 0);
	assert_source_alive(&f);
	assert_dest_gone(&f);
	fx_teardown(&f);
}
END_TEST

/* A malformed stream: precise error, no write outside the guest, no guest. */
START_TEST(test_receiver_rejects_malformed)
{
	struct xmig_guest_info gi = { .nr_pages = 64, .page_size = 4096, .nr_vcpus = 1,
				      .guest_kind = XMIG_GUEST_SIM, .backend = "sim" };
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct mem_transport w, r;
	uint8_t hdr[XMIG_HEADER_LEN], batch[16];
	struct xmig_backend *dst;
	struct spy_backend sdst;
	struct xmig_session *s;

	mem_transport_init(&w, NULL, 0);
	xmig__header_encode(hdr, &gi, 0);
	ck_assert_int_eq(xmig__rec_write_simple(&w.base, XMIG_REC_HEADER, hdr, sizeof(hdr), NULL), 0);
	xmig__put_le32(batch, 1);
	xmig__put_le32(batch + 4, 0);
	xmig__put_le64(batch + 8, XMIG_ENTRY(64, XMIG_PAGE_ZERO)); /* one past the end */
	ck_assert_int_eq(xmig__rec_write_simple(&w.base, XMIG_REC_PAGE_BATCH, batch, 16, NULL), 0);

	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	spy_init(&sdst, dst);
	mem_transport_init(&r, w.out, w.out_len);
	ck_assert_int_eq(xmig_recv_new(&s, &sdst.base, &r.base, &rp), 0);
	ck_assert_int_eq(xmig_session_run(s), XMIG_EPROTO);
	ck_assert_msg(strstr(xmig_session_error(s), "record 1 (PAGE_BATCH) at offset 0x48: "
				 "entry 0: pfn 0x40 beyond guest size 0x40"),
		      "%s", xmig_session_error(s));
	ck_assert_int_eq(sdst.creates, 1);
	ck_assert_int_eq(sdst.destroys, 1);
	ck_assert_int_eq(sdst.unpauses, 0);
	ck_assert_ptr_null(xmig_sim_memory(dst, NULL));
	xmig_session_free(s);
	dst->ops->free(dst);
	spy_fini(&sdst);
	mem_transport_fini(&w);
}
END_TEST

/* A caller's backend table with a hook missing is refused up front. */
START_TEST(test_incomplete_backend_refused)
{
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_backend *src;
	struct xmig_backend_ops ops;
	struct xmig_backend fake;
	struct mem_transport t;
	struct xmig_session *s = NULL;
	struct xmig_sim_params sp = XMIG_SIM_PARAMS_INIT;

	sp.mem_bytes = 1 << 20;
	ck_assert_int_eq(xmig_sim_new(&src, &sp), 0);
	ops = *src->ops;
	ops.populate = NULL;
	fake.ops = &ops;
	mem_transport_init(&t, NULL, 0);
	ck_assert_int_eq(xmig_send_new(&s, &fake, &t.base, &p), XMIG_EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(xmig_error_last(), "lacks its populate hook"), "%s",
		      xmig_error_last());
	ck_assert_int_eq(xmig_recv_new(&s, &fake, &t.base, &rp), XMIG_EINVAL);
	src->ops->free(src);
}
END_TEST

static Suite *failure_suite(void)
{
	Suite *s = suite_create("failure");
	TCase *tc = tcase_create("phases");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cut_in_setup);
	tcase_add_test(tc, test_cut_in_round0);
	tcase_add_test(tc, test_cut_in_round_k);
	tcase_add_test(tc, test_cut_in_stop_and_copy);
	tcase_add_test(tc, test_cut_after_ready);
	tcase_add_test(tc, test_done_lost);
	tcase_add_test(tc, test_done_lost_resolved);
	tcase_add_test(tc, test_commit_lost_resolved);
	tcase_add_test(tc, test_resolve_unknown);
	tcase_add_test(tc, test_clean_run_settled);
	tcase_add_test(tc, test_answer_refuses_migration);
	tcase_add_test(tc, test_commit_damaged);
	tcase_add_test(tc, test_receiver_stops_reading);
	tcase_add_test(tc, test_receiver_refuses);
	tcase_add_test(tc, test_dest_unpause_fails);
	tcase_add_test(tc, test_dest_restore_complete_fails);
	tcase_add_test(tc, test_source_destroy_fails);
	tcase_add_test(tc, test_dest_destroy_fails);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_receiver_rejects_malformed);
	tcase_add_test(tc, test_incomplete_backend_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(failure_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * Live migrations of real VMs (the kvm backend running the test guest),
 * driven by the engine, sender and receiver in one process.
 *
 * What must hold: the destination's memory equals the source's at pause,
 * page for page; the guest's own checker finds nothing wrong and the guest
 * exits cleanly; its heartbeat goes on where it stopped. And when the
 * transport breaks at any phase before COMMIT, the source VM keeps running
 * and its guest still passes its own check.
 *
 * Without a usable /dev/kvm the suite exits 77: ctest counts it as skipped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "migrate_util.h"
#include "xg-console.h"
#include "stream/stream.h"

#ifndef XMIG_HAVE_KVM
int main(void)
{
	printf("SKIP check_kvm_migrate: built without the kvm backend: real-VM migrations "
	       "not tested\n");
	return XMIG_TEST_SKIP;
}
#else
#include "xmig/backend/kvm.h"

/* What a guest said, as seen by its VM's console. */
struct watch {
	pthread_mutex_t lock;
	uint64_t hb_first, hb_last, hb_count, err_lines;
	int checks, check_errors;
};

static void on_console(const char *data, size_t len, void *payload)
{
	struct watch *w = payload;
	char line[256];
	struct xg_line xl;

	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, data, len);
	line[len] = '\0';
	pthread_mutex_lock(&w->lock);
	switch (xg_console_parse(line, &xl)) {
	case XG_LINE_HB:
		if (!w->hb_count++)
			w->hb_first = xl.seq;
		w->hb_last = xl.seq;
		break;
	case XG_LINE_ERR:
		w->err_lines++;
		break;
	case XG_LINE_CHECK:
		w->checks++;
		w->check_errors += xl.check_errors;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&w->lock);
	if (getenv("CK_VERBOSITY") && !strcmp(getenv("CK_VERBOSITY"), "verbose"))
		fprintf(stderr, "  guest: %s", line);
}

static struct watch *watch_new(void)
{
	struct watch *w = calloc(1, sizeof(*w));

	pthread_mutex_init(&w->lock, NULL);
	return w;
}

static uint64_t hb_count(struct watch *w)
{
	uint64_t n;

	pthread_mutex_lock(&w->lock);
	n = w->hb_count;
	pthread_mutex_unlock(&w->lock);
	return n;
}

static struct xmig_backend *boot(const char *cmdline, struct watch *w)
{
	struct xmig_kvm_params p = XMIG_KVM_PARAMS_INIT;
	struct xmig_backend *b;

	p.guest_elf = XMIG_TEST_GUEST;
	p.mem_bytes = 32 << 20;
	p.cmdline = cmdline;
	p.console_fn = on_console;
	p.console_payload = w;
	ck_assert_msg(xmig_kvm_new(&b, &p) == 0, "%s", xmig_error_last());
	/* Wait for the workload to be running: some heartbeats. */
	for (int i = 0; i < 6000 && hb_count(w) < 20; i++) /* 60 s: a loaded host */
		xmig_kvm_wait_exit(b, 10, NULL);
	ck_assert_msg(hb_count(w) >= 20, "the guest does not beat");
	return b;
}

/* Run the guest to its end: exit 0, its final check clean, no damage seen. */
static void assert_guest_finishes_clean(struct xmig_backend *b, struct watch *w)
{
	int code = -1, rc = xmig_kvm_wait_exit(b, 60000, &code);

	ck_assert_msg(rc == 0, "the guest did not exit: %s", xmig_error_last());
	ck_assert_int_eq(code, 0);
	ck_assert_int_eq(w->err_lines, 0);
	ck_assert_int_eq(w->checks, 1);
	ck_assert_int_eq(w->check_errors, 0);
}

/* `ta` is the sender's real transport (snd->t may be a cut_transport on it). */
static void teardown(struct side *snd, struct side *rcv, struct xmig_transport *ta,
		     struct spy_backend *ssrc, struct spy_backend *sdst, struct watch *ws,
		     struct watch *wd)
{
	xmig_session_free(snd->s);
	xmig_session_free(rcv->s);
	xmig_transport_close(ta);
	xmig_transport_close(rcv->t);
	ssrc->inner->ops->free(ssrc->inner);
	sdst->inner->ops->free(sdst->inner);
	spy_fini(ssrc);
	spy_fini(sdst);
	free(ws);
	free(wd);
}

/*
 * Two live rounds, then stop, but only after lingering 100 ms: the guest
 * keeps writing meanwhile, and only the final read of the dirty log (on the
 * paused guest) can catch those pages. Without the wait, a guest running
 * under an instruction emulator writes too rarely to land in that window.
 */
static int linger_then_stop(const struct xmig_policy_input *in, void *payload)
{
	struct timespec ts = { 0, 100000000 };

	(void)payload;
	if (in->rounds_done < 2)
		return XMIG_POLICY_CONTINUE;
	nanosleep(&ts, NULL);
	return XMIG_POLICY_STOP;
}

static void migrate_workload(const char *cmdline)
{
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct watch *ws = watch_new(), *wd = watch_new();
	struct xmig_backend *src, *dst;
	struct spy_backend ssrc, sdst;
	struct xmig_transport *ta, *tb;
	struct side snd, rcv;
	long long diff;

	src = boot(cmdline, ws);
	ck_assert_int_eq(xmig_kvm_new_dest(&dst, on_console, wd), 0);
	spy_init(&ssrc, src);
	spy_init(&sdst, dst);
	transport_pair(&ta, &tb, 1);
	p.policy_fn = linger_then_stop;
	p.verify = 1;
	p.log_fn = rp.log_fn = test_log;
	p.log_payload = "send";
	rp.log_payload = "recv";
	rp.require_verify = 1;
	recv_start(&rcv, &sdst.base, tb, &rp);
	send_run(&snd, &ssrc.base, ta, &p);
	recv_join(&rcv);
	ck_assert_msg(snd.rc == 0, "sender: %s", snd.err);
	ck_assert_msg(rcv.rc == 0, "receiver: %s", rcv.err);
	ck_assert_int_eq(rcv.stats.verified, 1);

	/* The VM's memory, page for page, at pause and before the first run. */
	ck_assert_uint_eq(ssrc.image_pages, sdst.image_pages);
	diff = image_diff(ssrc.image, sdst.image, ssrc.image_pages, ssrc.page_size);
	ck_assert_msg(diff < 0, "guest page 0x%llx differs", diff);
	ck_assert_int_eq(ssrc.destroys, 1);

	/* The heartbeat goes on, from the next number. */
	assert_guest_finishes_clean(dst, wd);
	ck_assert_uint_eq(wd->hb_first, ws->hb_last + 1);

	teardown(&snd, &rcv, ta, &ssrc, &sdst, ws, wd);
}

START_TEST(test_idle)
{
	migrate_workload("idle=1 hb=5 time=3");
}
END_TEST

START_TEST(test_sequential_max)
{
	migrate_workload("ws=1M pattern=seq rate=max hb=5 time=3");
}
END_TEST

START_TEST(test_random_rate)
{
	migrate_workload("ws=2M pattern=random rate=1M/s hb=5 time=3");
}
END_TEST

START_TEST(test_hot_cold)
{
	migrate_workload("ws=2M pattern=hot:256K rate=max hb=5 time=3");
}
END_TEST

/* Three live rounds, so that every phase is reached. */
static int three_rounds(const struct xmig_policy_input *in, void *payload)
{
	(void)payload;
	return in->rounds_done < 3 ? XMIG_POLICY_CONTINUE : XMIG_POLICY_STOP;
}

/* Break the transport at one phase; the source VM must live on, intact. */
static void cut_case(uint32_t type, unsigned int nth, int after_write)
{
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct watch *ws = watch_new(), *wd = watch_new();
	struct xmig_backend *src, *dst;
	struct spy_backend ssrc, sdst;
	struct xmig_transport *ta, *tb;
	struct cut_transport cut;
	struct side snd, rcv;
	uint64_t before;

	src = boot("ws=1M pattern=hot:256K rate=max hb=5 time=4", ws);
	ck_assert_int_eq(xmig_kvm_new_dest(&dst, on_console, wd), 0);
	spy_init(&ssrc, src);
	spy_init(&sdst, dst);
	transport_pair(&ta, &tb, 0);
	cut_transport_init(&cut, ta, type, nth, after_write);
	p.policy_fn = three_rounds;
	p.log_fn = rp.log_fn = test_log;
	p.log_payload = "send";
	rp.log_payload = "recv";
	rp.timeout_ms = 10000;
	recv_start(&rcv, &sdst.base, tb, &rp);
	send_run(&snd, &ssrc.base, &cut.base, &p);
	recv_join(&rcv);

	if (after_write) {
		/* COMMIT went out, DONE did not come back: the guest runs there only. */
		ck_assert_msg(snd.rc == XMIG_EAMBIGUOUS, "sender rc %d: %s", snd.rc, snd.err);
		ck_assert_msg(rcv.rc == 0, "receiver: %s", rcv.err);
		ck_assert_int_eq(ssrc.resumes, 0);
		before = hb_count(ws);
		assert_guest_finishes_clean(dst, wd);
		ck_assert_uint_eq(hb_count(ws), before); /* the source stayed paused */
		ck_assert_uint_eq(wd->hb_first, ws->hb_last + 1);
	} else {
		ck_assert_msg(snd.rc < 0 && snd.rc != XMIG_EAMBIGUOUS, "sender rc %d", snd.rc);
		ck_assert_int_lt(rcv.rc, 0);
		ck_assert_int_eq(ssrc.resumes, ssrc.pauses);
		ck_assert_int_eq(ssrc.destroys, 0);
		ck_assert_int_eq(sdst.unpauses, 0);
		ck_assert_int_eq(sdst.destroys, sdst.creates);
		ck_assert_uint_eq(hb_count(wd), 0);
		/* The source beats on and finishes its run with a clean check. */
		before = hb_count(ws);
		assert_guest_finishes_clean(src, ws);
		ck_assert_uint_gt(hb_count(ws), before);
	}
	teardown(&snd, &rcv, ta, &ssrc, &sdst, ws, wd);
}

START_TEST(test_cut_setup)
{
	cut_case(XMIG_REC_HEADER, 1, 0);
}
END_TEST

START_TEST(test_cut_round0)
{
	cut_case(XMIG_REC_PAGE_BATCH, 3, 0);
}
END_TEST

START_TEST(test_cut_round_k)
{
	cut_case(XMIG_REC_ROUND_END, 2, 0);
}
END_TEST

START_TEST(test_cut_stop_and_copy)
{
	cut_case(XMIG_REC_VCPU_STATE, 3, 0);
}
END_TEST

START_TEST(test_cut_after_ready)
{
	cut_case(XMIG_REC_COMMIT, 1, 0);
}
END_TEST

START_TEST(test_done_lost)
{
	cut_case(XMIG_REC_COMMIT, 1, 1);
}
END_TEST

static Suite *kvm_migrate_suite(void)
{
	Suite *s = suite_create("kvm_migrate");
	TCase *w = tcase_create("workloads"), *f = tcase_create("failures");

	tcase_set_timeout(w, 120);
	tcase_set_timeout(f, 120);
	tcase_add_test(w, test_idle);
	tcase_add_test(w, test_sequential_max);
	tcase_add_test(w, test_random_rate);
	tcase_add_test(w, test_hot_cold);
	tcase_add_test(f, test_cut_setup);
	tcase_add_test(f, test_cut_round0);
	tcase_add_test(f, test_cut_round_k);
	tcase_add_test(f, test_cut_stop_and_copy);
	tcase_add_test(f, test_cut_after_ready);
	tcase_add_test(f, test_done_lost);
	suite_add_tcase(s, w);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	if (xmig_kvm_available() != 0 || XMIG_TEST_GUEST[0] == '\0') {
		printf("SKIP check_kvm_migrate: %s: real-VM migrations not tested\n",
		       XMIG_TEST_GUEST[0] ? xmig_error_last() : "the test guest was not built");
		return XMIG_TEST_SKIP;
	}
	return xmig_test_run(kvm_migrate_suite());
}
#endif

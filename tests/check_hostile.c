/* SPDX-License-Identifier: MIT */
/*
 * The receiver against a hostile sender: memory bounded by what was sent,
 * not by what was announced; stream text that cannot drive a terminal; no
 * byte accepted after END; and no way to hold the receiver by trickling.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "stream/stream.h"
#include "testutil.h"
#include "xmig/backend/sim.h"
#include "xmig/session.h"
#include "xmig/transport.h"

/* This process's peak resident memory, in KiB (VmHWM). */
static long peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long kib = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	ck_assert_int_gt(kib, 0);
	return kib;
}

/* A 64 GiB guest announced, one page sent, a made-up digest. */
static void build_announced_64g(struct sample *s)
{
	static const uint64_t pfn[] = { 5 };
	static const unsigned int enc[] = { XMIG_PAGE_FULL };
	uint8_t dg[40] = { 0 };

	sample_init(s);
	put_header(s, 1ull << 24, XMIG_HDR_F_DIGEST);
	put_batch(s, 0, 1, pfn, enc);
	put_round_end(s, 0, 1);
	xmig__put_le32(dg, XMIG_DIGEST_XXH3_128_CHUNKS);
	xmig__put_le64(dg + 8, 1);
	put_rec(s, XMIG_REC_DIGEST, dg, sizeof(dg));
	put_rec(s, XMIG_REC_END, NULL, 0);
}

/*
 * The receiver hashes the whole announced guest at the final round; the
 * pages nobody wrote must cost nothing. Before the receiver learned to
 * recognise them, this 64 GiB announcement grew the process until the host
 * killed it.
 */
START_TEST(test_announced_memory_is_not_touched)
{
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct sample w;
	struct mem_transport r;
	struct xmig_backend *dst;
	struct xmig_session *s;
	long before;

	build_announced_64g(&w);
	before = peak_rss_kib();
	rp.max_mem_bytes = 64ull << 30;
	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	mem_transport_init(&r, w.w.out, w.w.out_len);
	ck_assert_int_eq(xmig_recv_new(&s, dst, &r.base, &rp), 0);
	ck_assert_int_eq(xmig_session_run(s), XMIG_EVERIFY);
	ck_assert_msg(strstr(xmig_session_error(s), "over 1 pages, the sender's"),
		      "%s", xmig_session_error(s));
	/* One page was written: the peak may grow by buffers, not by the guest. */
	ck_assert_msg(peak_rss_kib() - before < 64 * 1024, "peak RSS grew by %ld KiB",
		      peak_rss_kib() - before);
	xmig_session_free(s);
	dst->ops->free(dst);
	mem_transport_fini(&w.w);
}
END_TEST

static void write_file(const char *path, const uint8_t *a, size_t alen, const void *b,
		       size_t blen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, a, alen), (ssize_t)alen);
	if (blen)
		ck_assert_int_eq(write(fd, b, blen), (ssize_t)blen);
	close(fd);
}

/* The same announcement through the tool, whose guest check reads memory too. */
START_TEST(test_tool_announced_memory_is_not_touched)
{
	char path[] = "/tmp/xmig-hostile-XXXXXX", from[64], recv[512], err[4096] = "";
	struct sample w;
	struct rusage ru;
	int fd, status, pipefd[2];
	ssize_t n;
	pid_t pid;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	build_announced_64g(&w);
	write_file(path, w.w.out, w.w.out_len, NULL, 0);
	snprintf(from, sizeof(from), "file:%s", path);
	snprintf(recv, sizeof(recv), "%s/xmig-recv", XMIG_TOOLS_DIR);
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		execl(recv, "xmig-recv", "--backend", "sim", "--from", from, "--max-mem", "64G",
		      "-q", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], err + strlen(err), sizeof(err) - 1 - strlen(err))) > 0)
		;
	close(pipefd[0]);
	ck_assert_int_eq(wait4(pid, &status, 0, &ru), pid);
	unlink(path);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x: %s", status,
		      err);
	ck_assert_msg(strstr(err, "differs from the source's"), "%s", err);
	ck_assert_msg(ru.ru_maxrss < 128 * 1024, "xmig-recv peaked at %ld KiB", ru.ru_maxrss);
	mem_transport_fini(&w.w);
}
END_TEST

/* A small real migration stream, from a sim sender to memory. */
static void build_real(struct sample *w)
{
	struct xmig_sim_params sp = XMIG_SIM_PARAMS_INIT;
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct xmig_backend *src;
	struct xmig_session *s;

	sp.mem_bytes = 64 * 4096;
	sample_init(w);
	ck_assert_int_eq(xmig_sim_new(&src, &sp), 0);
	p.verify = 1;
	ck_assert_int_eq(xmig_send_new(&s, src, &w->w.base, &p), 0);
	ck_assert_int_eq(xmig_session_run(s), 0);
	xmig_session_free(s);
	src->ops->free(src);
}

static int receive_from(struct xmig_transport *t, struct spy_backend *sdst, char *err,
			size_t errlen)
{
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_backend *dst;
	struct xmig_session *s;
	int rc;

	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	spy_init(sdst, dst);
	rp.timeout_ms = 2000;
	ck_assert_int_eq(xmig_recv_new(&s, &sdst->base, t, &rp), 0);
	rc = xmig_session_run(s);
	snprintf(err, errlen, "%s", xmig_session_error(s));
	xmig_session_free(s);
	return rc;
}

/* A file is the whole stream: a byte after END fails the migration. */
START_TEST(test_data_after_end_in_a_file)
{
	char path[] = "/tmp/xmig-hostile-XXXXXX", err[512];
	struct xmig_transport *t;
	struct spy_backend sdst;
	struct sample w;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	build_real(&w);

	/* The stream alone is accepted ... */
	write_file(path, w.w.out, w.w.out_len, NULL, 0);
	ck_assert_int_eq(xmig_transport_file(&t, path, 0), 0);
	ck_assert_int_eq(receive_from(t, &sdst, err, sizeof(err)), 0);
	ck_assert_int_eq(sdst.unpauses, 1);
	xmig_transport_close(t);
	sdst.inner->ops->free(sdst.inner);
	spy_fini(&sdst);

	/* ... and with one byte more, refused before the guest starts. */
	write_file(path, w.w.out, w.w.out_len, "x", 1);
	ck_assert_int_eq(xmig_transport_file(&t, path, 0), 0);
	ck_assert_int_eq(receive_from(t, &sdst, err, sizeof(err)), XMIG_EPROTO);
	ck_assert_msg(strstr(err, "data after END at offset"), "%s", err);
	ck_assert_int_eq(sdst.unpauses, 0);
	ck_assert_int_eq(sdst.destroys, 1);
	xmig_transport_close(t);
	sdst.inner->ops->free(sdst.inner);
	spy_fini(&sdst);
	unlink(path);
	mem_transport_fini(&w.w);
}
END_TEST

/*
 * On a channel that goes on after the stream (a toolstack's pipe), the
 * receiver stops at END: the bytes behind it are still there for their
 * owner, unread. With XMIG_FD_WHOLE the same pipe is a whole stream.
 */
START_TEST(test_stops_reading_at_end)
{
	static const char tail[] = "TOOLSTACK";
	struct xmig_transport *t;
	struct spy_backend sdst;
	struct sample w;
	char err[512], got[sizeof(tail)] = "";
	int p[2];

	build_real(&w);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), (int)(w.w.out_len + sizeof(tail)));
	ck_assert_int_eq(write(p[1], w.w.out, w.w.out_len), (ssize_t)w.w.out_len);
	ck_assert_int_eq(write(p[1], tail, sizeof(tail)), (ssize_t)sizeof(tail));
	ck_assert_int_eq(xmig_transport_fd(&t, p[0], -1, 0), 0);
	ck_assert_int_eq(receive_from(t, &sdst, err, sizeof(err)), 0);
	xmig_transport_close(t);
	ck_assert_int_eq(read(p[0], got, sizeof(got)), (ssize_t)sizeof(tail));
	ck_assert_str_eq(got, tail);
	sdst.inner->ops->free(sdst.inner);
	spy_fini(&sdst);

	ck_assert_int_eq(write(p[1], w.w.out, w.w.out_len), (ssize_t)w.w.out_len);
	ck_assert_int_eq(write(p[1], tail, sizeof(tail)), (ssize_t)sizeof(tail));
	close(p[1]);
	ck_assert_int_eq(xmig_transport_fd(&t, p[0], -1, XMIG_FD_WHOLE | XMIG_FD_OWN), 0);
	ck_assert_int_eq(receive_from(t, &sdst, err, sizeof(err)), XMIG_EPROTO);
	ck_assert_msg(strstr(err, "data after END"), "%s", err);
	ck_assert_int_eq(sdst.unpauses, 0);
	xmig_transport_close(t);
	sdst.inner->ops->free(sdst.inner);
	spy_fini(&sdst);
	mem_transport_fini(&w.w);
}
END_TEST

/* A sim stream whose platform blob carries `model` as its model string. */
static void build_model(struct sample *w, const char *model)
{
	uint8_t plat[8 + XMIG_SIM_STATE_PLATFORM_SIZE] = { 0 };
	uint8_t *b = plat + 8;

	sample_init(w);
	put_header(w, 64, 0);
	put_round_end(w, 0, 1);
	xmig__put_le32(plat, XMIG_SIM_STATE_PLATFORM);
	xmig__put_le32(b, 1);       /* version */
	xmig__put_le32(b + 4, 2);   /* vCPUs */
	xmig__put_le64(b + 8, 1);   /* seed */
	xmig__put_le64(b + 16, 64); /* pages */
	xmig__put_le32(b + 24, 25); /* zero share */
	xmig__put_le32(b + 28, 4096);
	memcpy(b + 32, model, strlen(model));
	put_rec(w, XMIG_REC_PLATFORM_STATE, plat, sizeof(plat));
	put_rec(w, XMIG_REC_END, NULL, 0);
}

static char logged[8192];

static void keep_log(int level, const char *msg, void *payload)
{
	(void)level;
	(void)payload;
	strncat(logged, msg, sizeof(logged) - strlen(logged) - 2);
	strcat(logged, "\n");
}

static void assert_printable(const char *what, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		ck_assert_msg(*p == '\n' || (*p >= 0x20 && *p < 0x7f),
			      "%s: byte 0x%02x at %td", what, *p, (const char *)p - s);
}

/*
 * Text from the stream reaches the error message and the log, but never a
 * control byte: the model string below clears the screen, returns the
 * carriage and forges a verdict when printed raw.
 */
START_TEST(test_stream_text_is_sanitised)
{
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_backend *dst;
	struct xmig_session *s;
	struct mem_transport r;
	struct sample w;
	const char *e;

	build_model(&w, "\x1b[2J\rverdict OK\x07\xc2\x9b" "1m");
	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	rp.log_fn = keep_log;
	rp.log_level = XMIG_LOG_DEBUG;
	mem_transport_init(&r, w.w.out, w.w.out_len);
	ck_assert_int_eq(xmig_recv_new(&s, dst, &r.base, &rp), 0);
	ck_assert_int_eq(xmig_session_run(s), XMIG_EPROTO);
	e = xmig_session_error(s);
	ck_assert_msg(strstr(e, "sim dirty model '?[2J?verdict OK???1m'"), "%s", e);
	assert_printable("session error", e);
	assert_printable("xmig_error_last", xmig_error_last());
	assert_printable("log", logged);
	ck_assert_msg(strstr(logged, "?[2J?verdict OK"), "%s", logged);
	xmig_session_free(s);
	dst->ops->free(dst);
	mem_transport_fini(&w.w);
}
END_TEST

/* A sender on a socket that writes `len` bytes of `buf` at its own pace. */
struct trickler {
	int fd;
	const uint8_t *buf;
	size_t len;
	size_t chunk;      /* bytes per write */
	unsigned int gap_ms; /* pause between writes */
	const size_t *cuts; /* or: write up to each of these offsets, then pause */
	size_t ncuts;
	pthread_t thread;
};

static void *trickle(void *arg)
{
	struct trickler *tr = arg;
	size_t off = 0, i = 0;

	while (off < tr->len) {
		size_t end = tr->cuts ? (i < tr->ncuts ? tr->cuts[i++] : tr->len)
				      : off + tr->chunk;

		if (end > tr->len)
			end = tr->len;
		if (send(tr->fd, tr->buf + off, end - off, MSG_NOSIGNAL) < 0)
			break; /* the receiver gave up */
		off = end;
		usleep(tr->gap_ms * 1000u);
	}
	return NULL;
}

static int receive_trickled(struct trickler *tr, uint32_t timeout_ms, uint64_t min_rate,
			    char *err, size_t errlen, double *secs)
{
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_transport *t;
	struct xmig_backend *dst;
	struct xmig_session *s;
	uint64_t t0;
	int sv[2], rc;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	tr->fd = sv[1];
	ck_assert_int_eq(xmig_transport_fd(&t, sv[0], -1, XMIG_FD_OWN), 0);
	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	rp.timeout_ms = timeout_ms;
	rp.min_rate = min_rate;
	ck_assert_int_eq(xmig_recv_new(&s, dst, t, &rp), 0);
	ck_assert_int_eq(pthread_create(&tr->thread, NULL, trickle, tr), 0);
	t0 = xmig__now_ns();
	rc = xmig_session_run(s);
	*secs = (double)(xmig__now_ns() - t0) / 1e9;
	snprintf(err, errlen, "%s", xmig_session_error(s));
	xmig_session_free(s);
	xmig_transport_close(t); /* the trickler's next send fails */
	pthread_join(tr->thread, NULL);
	close(sv[1]);
	dst->ops->free(dst);
	return rc;
}

/* One byte every 20 ms never is silence, but a record must come whole. */
START_TEST(test_trickled_bytes_are_cut_off)
{
	struct trickler tr = { .chunk = 1, .gap_ms = 20 };
	struct sample w;
	char err[512];
	double secs;

	build_real(&w);
	tr.buf = w.w.out;
	tr.len = w.w.out_len;
	ck_assert_int_eq(receive_trickled(&tr, 300, 0, err, sizeof(err), &secs),
			 XMIG_ETIMEDOUT);
	ck_assert_msg(strstr(err, "did not arrive whole within the 300 ms limit"), "%s", err);
	ck_assert_msg(secs < 1.5, "took %.2f s", secs);
	mem_transport_fini(&w.w);
}
END_TEST

/*
 * Whole records, each well within the record limit, but too few bytes for
 * the time: the round falls below min_rate and the receiver stops it. The
 * stream has 60 small batches; sent every 100 ms they would take 6 s.
 */
START_TEST(test_slow_rounds_are_cut_off)
{
	static const unsigned int enc[] = { XMIG_PAGE_ZERO };
	size_t cuts[64], ncuts = 0;
	struct trickler tr = { .gap_ms = 100 };
	struct sample w;
	char err[512];
	double secs;
	uint64_t pfn;

	sample_init(&w);
	put_header(&w, 64, 0);
	cuts[ncuts++] = w.w.out_len;
	for (pfn = 0; pfn < 60; pfn++) {
		put_batch(&w, 0, 1, &pfn, enc);
		cuts[ncuts++] = w.w.out_len;
	}
	put_round_end(&w, 0, 1);
	put_rec(&w, XMIG_REC_END, NULL, 0);
	tr.buf = w.w.out;
	tr.len = w.w.out_len;
	tr.cuts = cuts;
	tr.ncuts = ncuts;
	/* 400 ms grace, then 1 MiB/s: 16-byte batches buy nothing more. */
	ck_assert_int_eq(receive_trickled(&tr, 400, 1u << 20, err, sizeof(err), &secs),
			 XMIG_ETIMEDOUT);
	ck_assert_msg(strstr(err, "the sender is too slow: round 0 carried"), "%s", err);
	ck_assert_msg(secs < 2.0, "took %.2f s", secs);
	/* Without the rate rule the same sender is merely slow: its stream is
	 * read to END (where the sim guest finds it has no state). */
	ck_assert_int_ne(receive_trickled(&tr, 400, 0, err, sizeof(err), &secs), XMIG_ETIMEDOUT);
	ck_assert_msg(strstr(err, "restore incomplete"), "%s", err);
	ck_assert_msg(secs > 5.0, "took %.2f s", secs);
	mem_transport_fini(&w.w);
}
END_TEST

/* Input that is no stream at all is named as such, not as a bad length. */
START_TEST(test_not_a_stream)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
	static const uint8_t bin[32] = { 0x7f, 'E', 'L', 'F', 2, 1, 1, 0 };
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_backend *dst;
	struct xmig_session *s;
	struct mem_transport r;

	mem_transport_init(&r, (const uint8_t *)http, sizeof(http) - 1);
	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	ck_assert_int_eq(xmig_recv_new(&s, dst, &r.base, &rp), 0);
	ck_assert_int_eq(xmig_session_run(s), XMIG_EPROTO);
	ck_assert_msg(strstr(xmig_session_error(s), "not an xmig stream (no xmig header at "
				 "offset 0; it starts with \"GET / HTTP/1.1"),
		      "%s", xmig_session_error(s));
	xmig_session_free(s);
	dst->ops->free(dst);

	mem_transport_init(&r, bin, sizeof(bin));
	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	ck_assert_int_eq(xmig_recv_new(&s, dst, &r.base, &rp), 0);
	ck_assert_int_eq(xmig_session_run(s), XMIG_EPROTO);
	ck_assert_msg(strstr(xmig_session_error(s), "it starts with 7f 45 4c 46 02 01 01 00"),
		      "%s", xmig_session_error(s));
	xmig_session_free(s);
	dst->ops->free(dst);
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("receiver");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_announced_memory_is_not_touched);
	tcase_add_test(tc, test_tool_announced_memory_is_not_touched);
	tcase_add_test(tc, test_data_after_end_in_a_file);
	tcase_add_test(tc, test_stops_reading_at_end);
	tcase_add_test(tc, test_stream_text_is_sanitised);
	tcase_add_test(tc, test_trickled_bytes_are_cut_off);
	tcase_add_test(tc, test_slow_rounds_are_cut_off);
	tcase_add_test(tc, test_not_a_stream);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return xmig_test_run(hostile_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * Embedding libxmig in a toolstack: migrate a guest between two hosts, here
 * two threads of one process joined by a socketpair, with the toolstack's
 * own stop policy, log, progress and status callbacks; the destination keeps
 * the guest paused after the commit (start_paused) until the toolstack has
 * done its own work (attached devices, say) and starts it.
 *
 * The guest is the sim backend's simulated guest; a real toolstack passes
 * its xen or kvm backend handle (or its own struct xmig_backend_ops).
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#include <xmig/backend/sim.h>
#include <xmig/sys/backend.h>
#include <xmig/xmig.h>

/* A toolstack policy: like "downtime", but never more than 4 live rounds. */
static int my_policy(const struct xmig_policy_input *in, void *payload)
{
	const char *who = payload;

	if (in->rounds_done >= 4) {
		printf("[%s] 4 rounds done, %llu pages dirty: stopping\n", who,
		       (unsigned long long)in->dirty_pages);
		return XMIG_POLICY_STOP;
	}
	return xmig_policy_downtime(in, NULL);
}

static void log_line(int level, const char *msg, void *payload)
{
	printf("[%s] %s%s\n", (const char *)payload, level == XMIG_LOG_ERROR ? "error: " : "",
	       msg);
}

static void progress(const struct xmig_progress *p, void *payload)
{
	if (p->round_pages_done == p->round_pages)
		printf("[%s] round %u done: %llu pages, %.0f MB/s\n", (const char *)payload,
		       p->round, (unsigned long long)p->round_pages, p->bandwidth / 1e6);
}

/* Each change of status, as QEMU's MIGRATION event. */
static void status(const struct xmig_info *info, void *payload)
{
	printf("[%s] status %s after %.1f ms (%llu pages left, expected downtime %.1f ms)\n",
	       (const char *)payload, xmig_status_name(info->status),
	       (double)info->elapsed_ns / 1e6, (unsigned long long)info->remaining_pages,
	       (double)info->expected_downtime_ns / 1e6);
}

struct receiver {
	struct xmig_backend *dest;
	struct xmig_transport *t;
	int rc;
};

static void *receive(void *arg)
{
	struct receiver *r = arg;
	struct xmig_recv_params p = XMIG_RECV_PARAMS_INIT;
	struct xmig_session *s;

	p.log_fn = log_line;
	p.log_payload = "dst";
	p.event_fn = status;
	p.event_payload = "dst";
	p.start_paused = 1;
	r->rc = xmig_recv_new(&s, r->dest, r->t, &p);
	if (r->rc == 0) {
		r->rc = xmig_session_run(s);
		if (r->rc < 0)
			fprintf(stderr, "receiver: %s\n", xmig_session_error(s));
	}
	if (r->rc == 0) {
		/* committed, paused: the toolstack's own work goes here */
		printf("[dst] committed and paused; starting it\n");
		r->rc = xmig_session_unpause(s);
		if (r->rc < 0)
			fprintf(stderr, "receiver: %s\n", xmig_session_error(s));
	}
	xmig_session_free(s);
	return NULL;
}

int main(void)
{
	struct xmig_sim_params gp = XMIG_SIM_PARAMS_INIT;
	struct xmig_send_params sp = XMIG_SEND_PARAMS_INIT;
	struct xmig_backend *src = NULL, *dst = NULL;
	struct xmig_transport *ts = NULL, *tr = NULL;
	struct xmig_session *s = NULL;
	struct receiver r;
	pthread_t th;
	int sv[2], rc = 1;
	uint64_t bad;

	gp.mem_bytes = 64 << 20;
	gp.dirty = "hot:4M:100M/s";
	if (xmig_sim_new(&src, &gp) < 0 || xmig_sim_new_dest(&dst) < 0) {
		fprintf(stderr, "guest: %s\n", xmig_error_last());
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    xmig_transport_fd(&ts, sv[0], sv[0], XMIG_FD_OWN) < 0 ||
	    xmig_transport_fd(&tr, sv[1], sv[1], XMIG_FD_OWN) < 0) {
		fprintf(stderr, "transport: %s\n", xmig_error_last());
		goto out;
	}

	r.dest = dst;
	r.t = tr;
	pthread_create(&th, NULL, receive, &r);

	sp.policy_fn = my_policy;
	sp.policy_payload = "src";
	sp.target_downtime_ms = 20;
	sp.verify = 1;
	sp.log_fn = log_line;
	sp.log_payload = "src";
	sp.progress_fn = progress;
	sp.progress_payload = "src";
	sp.event_fn = status;
	sp.event_payload = "src";
	rc = xmig_send_new(&s, src, ts, &sp);
	if (rc == 0)
		rc = xmig_session_run(s);
	if (rc < 0)
		fprintf(stderr, "sender: %s (%s)\n", xmig_session_error(s), xmig_error_name(rc));
	pthread_join(th, NULL);

	if (rc == 0 && r.rc == 0) {
		const struct xmig_stats *st = xmig_session_stats(s);

		printf("migrated in %.1f ms, downtime %.3f ms, %u rounds, %llu bytes\n",
		       (double)st->total_ns / 1e6, (double)st->downtime_ns / 1e6, st->nr_rounds,
		       (unsigned long long)st->bytes);
		rc = xmig_sim_check(dst, &bad);
		printf("the guest's own check on the destination: %s\n", rc ? "FAILED" : "clean");
	}
	rc = rc || r.rc;
out:
	xmig_session_free(s);
	xmig_transport_close(ts);
	xmig_transport_close(tr);
	if (src)
		src->ops->free(src);
	if (dst)
		dst->ops->free(dst);
	return rc ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/* The session object: creation, parameters, errors, logging, progress. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "engine.h"
#include "xmig/xmig.h"

void xmig__log(struct xmig_session *s, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!s->log_fn || level > s->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log_fn(level, xmig__sanitize(msg), s->log_payload);
}

int xmig__serr(struct xmig_session *s, int code, const char *fmt, ...)
{
	va_list ap;

	if (s->err_code)
		return code; /* keep the first, root cause */
	s->err_code = code;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	xmig__sanitize(s->err);
	xmig__log(s, XMIG_LOG_ERROR, "%s", s->err);
	return code;
}

int xmig__serr_last(struct xmig_session *s, int code, const char *what)
{
	const char *m = xmig__last_message();

	return xmig__serr(s, code, "%s: %s", what, m[0] ? m : xmig_strerror(code));
}

int xmig__serr_backend(struct xmig_session *s, int code, const char *hook)
{
	const char *m = xmig__last_message();

	return xmig__serr(s, code, "%s backend: %s failed: %s", s->b->ops->name, hook,
			  m[0] ? m : xmig_strerror(code));
}

XMIG__API int xmig_send_params_init(struct xmig_send_params *p, unsigned int version)
{
	struct xmig_send_params def = XMIG_SEND_PARAMS_INIT;

	if (!p || version != XMIG_SEND_PARAMS_VERSION)
		return xmig__fail(XMIG_EINVAL, "send params version %u, expected %u", version,
				  XMIG_SEND_PARAMS_VERSION);
	*p = def;
	return 0;
}

XMIG__API int xmig_recv_params_init(struct xmig_recv_params *p, unsigned int version)
{
	struct xmig_recv_params def = XMIG_RECV_PARAMS_INIT;

	if (!p || version != XMIG_RECV_PARAMS_VERSION)
		return xmig__fail(XMIG_EINVAL, "receive params version %u, expected %u", version,
				  XMIG_RECV_PARAMS_VERSION);
	*p = def;
	return 0;
}

/*
 * The engine calls hooks without checking them (every hook is mandatory),
 * so a caller's table is checked once, here: a missing hook is a clear
 * error now, not a crash in the middle of a migration.
 */
static int check_ops(struct xmig_backend *b, struct xmig_transport *t)
{
	const struct xmig_backend_ops *bo = b ? b->ops : NULL;
	const struct xmig_transport_ops *to = t ? t->ops : NULL;
	const char *missing = NULL;

	if (!bo || bo->version < 3 || bo->version > XMIG_BACKEND_OPS_VERSION)
		return xmig__fail(XMIG_EINVAL, "backend missing or of ops version %u, expected "
				  "3 to %u", bo ? bo->version : 0, XMIG_BACKEND_OPS_VERSION);
#define XMIG__NEED(ops, hook) \
	if (!missing && !(ops)->hook) \
		missing = #hook;
	XMIG__NEED(bo, describe) XMIG__NEED(bo, log_dirty_start) XMIG__NEED(bo, log_dirty_stop)
	XMIG__NEED(bo, dirty_fetch) XMIG__NEED(bo, map_pages) XMIG__NEED(bo, unmap_pages)
	XMIG__NEED(bo, pause) XMIG__NEED(bo, resume) XMIG__NEED(bo, save_state)
	XMIG__NEED(bo, create) XMIG__NEED(bo, populate) XMIG__NEED(bo, release)
	XMIG__NEED(bo, load_state)
	XMIG__NEED(bo, restore_complete) XMIG__NEED(bo, unpause) XMIG__NEED(bo, destroy) XMIG__NEED(bo, free)
	if (!bo->name)
		missing = "name";
	if (missing)
		return xmig__fail(XMIG_EINVAL, "backend '%s' lacks its %s hook (every hook of "
				  "struct xmig_backend_ops is mandatory)",
				  bo->name ? bo->name : "?", missing);
	if (!to || to->version != XMIG_TRANSPORT_OPS_VERSION)
		return xmig__fail(XMIG_EINVAL,
				  "transport missing or of ops version %u, expected %u",
				  to ? to->version : 0, XMIG_TRANSPORT_OPS_VERSION);
	XMIG__NEED(to, writev) XMIG__NEED(to, read) XMIG__NEED(to, shutdown)
	XMIG__NEED(to, close)
#undef XMIG__NEED
	if (missing)
		return xmig__fail(XMIG_EINVAL, "transport '%s' lacks its %s hook",
				  to->name ? to->name : "?", missing);
	return 0;
}

/* The callbacks every params struct carries. */
struct callbacks {
	xmig_log_fn log_fn;
	void *log_payload;
	int log_level;
	xmig_progress_fn progress_fn;
	void *progress_payload;
	xmig_event_fn event_fn;
	void *event_payload;
};

static struct xmig_session *session_alloc(int role, struct xmig_backend *b,
					  struct xmig_transport *t, const struct callbacks *cb)
{
	struct xmig_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->role = role;
	s->b = b;
	s->t = t;
	s->log_fn = cb->log_fn;
	s->log_payload = cb->log_payload;
	s->log_level = cb->log_level;
	s->progress_fn = cb->progress_fn;
	s->progress_payload = cb->progress_payload;
	s->event_fn = cb->event_fn;
	s->event_payload = cb->event_payload;
	if (pthread_mutex_init(&s->qlock, NULL) != 0) {
		free(s);
		return NULL;
	}
	atomic_init(&s->cancelled, 0);
	xmig__reader_init(&s->reader, t);
	return s;
}

XMIG__API int xmig_send_new(struct xmig_session **out, struct xmig_backend *backend,
			    struct xmig_transport *transport,
			    const struct xmig_send_params *in)
{
	struct xmig_send_params p_ = XMIG_SEND_PARAMS_INIT, *p = &p_;
	struct xmig_session *s;
	int rc;

	if (!out || !in)
		return xmig__fail(XMIG_EINVAL, "xmig_send_new: NULL argument");
	*out = NULL;
	rc = check_ops(backend, transport);
	if (rc < 0)
		return rc;
	/* an older struct ends before the later fields: they keep their defaults */
	if (in->version == 1)
		memcpy(p, in, offsetof(struct xmig_send_params, event_fn));
	else if (in->version == XMIG_SEND_PARAMS_VERSION)
		*p = *in;
	else
		return xmig__fail(XMIG_EINVAL, "send params version %u, expected 1 to %u",
				  in->version, XMIG_SEND_PARAMS_VERSION);
	if (!p->policy_fn && !xmig_policy_lookup(p->policy ? p->policy : "downtime"))
		return xmig__fail(XMIG_EINVAL,
				  "unknown policy '%s' (known: downtime, xen-classic)", p->policy);
	if (p->target_downtime_ms == 0)
		return xmig__fail(XMIG_EINVAL, "the target downtime must be at least 1 ms");
	if (p->on_no_converge != XMIG_NOCONV_STOP && p->on_no_converge != XMIG_NOCONV_ABORT)
		return xmig__fail(XMIG_EINVAL, "on_no_converge %d is neither STOP nor ABORT",
				  p->on_no_converge);
	s = session_alloc(XMIG__SENDER, backend, transport,
			  &(struct callbacks){ p->log_fn, p->log_payload, p->log_level,
					       p->progress_fn, p->progress_payload,
					       p->event_fn, p->event_payload });
	if (!s)
		return xmig__fail(XMIG_ENOMEM, "no memory for a session");
	s->sp = *p;
	s->sp.version = XMIG_SEND_PARAMS_VERSION;
	if (!s->sp.policy)
		s->sp.policy = "downtime";
	atomic_init(&s->ctl_max_bandwidth, p->max_bandwidth);
	atomic_init(&s->ctl_target_ms, p->target_downtime_ms);
	atomic_init(&s->ctl_stop, 0);
	*out = s;
	return 0;
}

XMIG__API int xmig_recv_new(struct xmig_session **out, struct xmig_backend *backend,
			    struct xmig_transport *transport,
			    const struct xmig_recv_params *in)
{
	struct xmig_recv_params p_ = XMIG_RECV_PARAMS_INIT, *p = &p_;
	struct xmig_session *s;
	int rc;

	if (!out || !in)
		return xmig__fail(XMIG_EINVAL, "xmig_recv_new: NULL argument");
	*out = NULL;
	rc = check_ops(backend, transport);
	if (rc < 0)
		return rc;
	if (in->version == 2)
		memcpy(p, in, offsetof(struct xmig_recv_params, start_paused));
	else if (in->version == XMIG_RECV_PARAMS_VERSION)
		*p = *in;
	else
		return xmig__fail(XMIG_EINVAL, "receive params version %u, expected 2 to %u",
				  in->version, XMIG_RECV_PARAMS_VERSION);
	if (p->start_paused && (backend->ops->version < 4 || !backend->ops->commit))
		return xmig__fail(XMIG_EINVAL, "start_paused: the %s backend cannot keep a guest "
				  "paused after the commit (no commit hook)", backend->ops->name);
	s = session_alloc(XMIG__RECEIVER, backend, transport,
			  &(struct callbacks){ p->log_fn, p->log_payload, p->log_level,
					       p->progress_fn, p->progress_payload,
					       p->event_fn, p->event_payload });
	if (!s)
		return xmig__fail(XMIG_ENOMEM, "no memory for a session");
	s->rp = *p;
	s->rp.version = XMIG_RECV_PARAMS_VERSION;
	*out = s;
	return 0;
}

XMIG__API int xmig_session_run(struct xmig_session *s)
{
	int rc;

	if (!s)
		return xmig__fail(XMIG_EINVAL, "xmig_session_run: NULL session");
	if (s->ran)
		return xmig__serr(s, XMIG_EINVAL, "a session runs only once");
	s->ran = 1;
	s->t0 = xmig__now_ns();
	/* A peer that stops reading must not hold the migration for ever. */
	s->t->write_timeout_ms = (int)(s->role == XMIG__SENDER ? s->sp.timeout_ms
							    : s->rp.timeout_ms);
	xmig__status(s, XMIG_STATUS_SETUP);
	rc = s->role == XMIG__SENDER ? xmig__send_run(s) : xmig__recv_run(s);
	s->stats.total_ns = xmig__elapsed(s);
	if (rc < 0 && !s->err_code)
		xmig__serr(s, rc, "%s", xmig_strerror(rc));
	pthread_mutex_lock(&s->qlock);
	s->q.error_code = rc < 0 ? rc : 0;
	s->q.downtime_ns = s->stats.downtime_ns;
	s->q.bytes = s->stats.bytes;
	if (rc >= 0)
		s->q.remaining_pages = 0;
	pthread_mutex_unlock(&s->qlock);
	/* ESRCLEFT: the guest runs there all the same */
	xmig__status(s, rc >= 0 || rc == XMIG_ESRCLEFT ? XMIG_STATUS_COMPLETED
			: rc == XMIG_ECANCELED  ? XMIG_STATUS_CANCELLED
			: rc == XMIG_EAMBIGUOUS ? XMIG_STATUS_AMBIGUOUS
						: XMIG_STATUS_FAILED);
	return rc < 0 ? rc : 0;
}

static const char *const status_names[] = {
	"none", "setup", "active", "stop-copy", "commit", "completed", "failed", "cancelled",
	"ambiguous",
};

XMIG__API const char *xmig_status_name(int status)
{
	if (status < 0 || (size_t)status >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[status];
}

void xmig__status(struct xmig_session *s, int status)
{
	struct xmig_info copy;

	pthread_mutex_lock(&s->qlock);
	if (s->q.status == status) {
		pthread_mutex_unlock(&s->qlock);
		return;
	}
	s->q.status = status;
	s->q.elapsed_ns = xmig__elapsed(s);
	s->q.total_pages = s->info.nr_pages;
	s->q.expected_downtime_ns = s->expected_downtime_ns;
	copy = s->q;
	pthread_mutex_unlock(&s->qlock);
	if (s->event_fn)
		s->event_fn(&copy, s->event_payload);
}

void xmig__query_remaining(struct xmig_session *s, uint64_t pages)
{
	pthread_mutex_lock(&s->qlock);
	s->q.remaining_pages = pages;
	s->q.expected_downtime_ns = s->expected_downtime_ns;
	pthread_mutex_unlock(&s->qlock);
}

XMIG__API int xmig_session_query(struct xmig_session *s, struct xmig_info *out)
{
	if (!s || !out)
		return xmig__fail(XMIG_EINVAL, "xmig_session_query: NULL argument");
	pthread_mutex_lock(&s->qlock);
	*out = s->q;
	if (s->ran && s->q.status < XMIG_STATUS_COMPLETED)
		out->elapsed_ns = xmig__elapsed(s);
	pthread_mutex_unlock(&s->qlock);
	return 0;
}

XMIG__API int xmig_session_unpause(struct xmig_session *s)
{
	int rc;

	if (!s || s->role != XMIG__RECEIVER || !s->held)
		return xmig__fail(XMIG_EINVAL, "xmig_session_unpause: no guest left paused by "
				  "the commit here (start_paused, a run that succeeded, not "
				  "started yet)");
	rc = XMIG__HOOK(s, unpause);
	if (rc < 0)
		return xmig__serr_backend(s, rc, "unpause (the guest stays paused here, the only "
					  "copy)");
	s->held = 0;
	s->stats.timeline.dest_running = xmig__elapsed(s);
	xmig__log(s, XMIG_LOG_INFO, rc == 1 ? "guest committed earlier; its toolstack unpauses "
		  "it" : "guest started on the destination (it was left paused at the commit)");
	return rc;
}

XMIG__API void xmig_session_cancel(struct xmig_session *s)
{
	if (!s)
		return;
	atomic_store(&s->cancelled, 1);
	s->t->ops->shutdown(s->t);
}

XMIG__API int xmig_session_set_max_bandwidth(struct xmig_session *s, uint64_t bytes_per_s)
{
	if (!s || s->role != XMIG__SENDER)
		return xmig__fail(XMIG_EINVAL, "set_max_bandwidth: not a sender");
	atomic_store(&s->ctl_max_bandwidth, bytes_per_s);
	return 0;
}

XMIG__API int xmig_session_set_downtime(struct xmig_session *s, uint32_t target_ms)
{
	if (!s || s->role != XMIG__SENDER)
		return xmig__fail(XMIG_EINVAL, "set_downtime: not a sender");
	if (target_ms == 0)
		return xmig__fail(XMIG_EINVAL, "set_downtime: the target must be at least 1 ms");
	atomic_store(&s->ctl_target_ms, target_ms);
	return 0;
}

XMIG__API int xmig_session_stop_and_copy(struct xmig_session *s)
{
	if (!s || s->role != XMIG__SENDER)
		return xmig__fail(XMIG_EINVAL, "stop_and_copy: not a sender");
	atomic_store(&s->ctl_stop, 1);
	return 0;
}

XMIG__API const char *xmig_session_error(const struct xmig_session *s)
{
	return s ? s->err : "";
}

XMIG__API const char *xmig_session_annotations(const struct xmig_session *s)
{
	return s && s->annotations ? s->annotations : "";
}

XMIG__API const struct xmig_stats *xmig_session_stats(const struct xmig_session *s)
{
	return s ? &s->stats : NULL;
}

XMIG__API void xmig_session_free(struct xmig_session *s)
{
	if (!s)
		return;
	free(s->rounds);
	free(s->annotations);
	free(s->bitmap);
	free(s->pfns);
	free(s->ptrs);
	free(s->entries);
	free(s->iov);
	free(s->scratch);
	free(s->staging);
	xmig__reader_fini(&s->reader);
	pthread_mutex_destroy(&s->qlock);
	free(s);
}

int xmig__buffers_alloc(struct xmig_session *s)
{
	s->bitmap = calloc(xmig__bitmap_words(s->info.nr_pages), sizeof(uint64_t));
	s->pfns = calloc(XMIG_BATCH_MAX, sizeof(*s->pfns));
	s->ptrs = calloc(XMIG_BATCH_MAX, sizeof(*s->ptrs));
	s->entries = calloc(XMIG_BATCH_MAX + 1, 8);
	s->iov = calloc(XMIG_BATCH_MAX + 4, sizeof(*s->iov));
	s->scratch = calloc(XMIG_BATCH_MAX + 6, sizeof(*s->scratch));
	if (s->role == XMIG__SENDER)
		s->staging = malloc((size_t)XMIG_BATCH_MAX * s->info.page_size);
	if (!s->bitmap || !s->pfns || !s->ptrs || !s->entries || !s->iov || !s->scratch ||
	    (s->role == XMIG__SENDER && !s->staging))
		return xmig__serr(s, XMIG_ENOMEM, "no memory for the buffers of a %llu-page guest",
				  (unsigned long long)s->info.nr_pages);
	return 0;
}

struct xmig_round_stats *xmig__round_push(struct xmig_session *s)
{
	if (s->stats.nr_rounds == s->rounds_cap) {
		uint32_t cap = s->rounds_cap ? s->rounds_cap * 2 : 16;
		struct xmig_round_stats *nr = realloc(s->rounds, cap * sizeof(*nr));

		if (!nr)
			return NULL;
		s->rounds = nr;
		s->rounds_cap = cap;
	}
	s->stats.rounds = s->rounds;
	memset(&s->rounds[s->stats.nr_rounds], 0, sizeof(*s->rounds));
	return &s->rounds[s->stats.nr_rounds++];
}

void xmig__progress(struct xmig_session *s, const struct xmig_progress *p, int force)
{
	uint64_t now = xmig__now_ns();

	pthread_mutex_lock(&s->qlock);
	s->q.round = p->round;
	s->q.total_pages = s->info.nr_pages;
	s->q.remaining_pages = p->dirty_pages;
	s->q.bytes = p->bytes;
	s->q.bandwidth = p->bandwidth;
	s->q.dirty_rate = p->dirty_rate;
	s->q.expected_downtime_ns = p->expected_downtime_ns;
	s->q.elapsed_ns = p->elapsed_ns;
	pthread_mutex_unlock(&s->qlock);
	if (!s->progress_fn)
		return;
	if (!force && now - s->last_progress_ns < 100000000ull)
		return;
	s->last_progress_ns = now;
	s->progress_fn(p, s->progress_payload);
}

void xmig__send_error_rec(struct xmig_session *s)
{
	uint8_t body[8 + XMIG_ERROR_MSG_MAX];
	size_t n = strnlen(s->err, XMIG_ERROR_MSG_MAX);

	if ((!(s->t->flags & XMIG_TRANSPORT_DUPLEX) && s->role == XMIG__RECEIVER) ||
	    s->stream_broken)
		return;
	xmig__put_le32(body, (uint32_t)s->err_code);
	xmig__put_le32(body + 4, 0);
	memcpy(body + 8, s->err, n);
	(void)xmig__rec_write_simple(s->t, XMIG_REC_ERROR, body, 8 + n, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The TLS transport's I/O: GnuTLS over a socket no call ever blocks on.
 *
 * GnuTLS reads and writes the socket through our callbacks, which never
 * wait (MSG_DONTWAIT, so the caller's descriptor flags are left alone, and
 * MSG_NOSIGNAL, so a closed peer is EPIPE, not death). When one would
 * block, GnuTLS returns GNUTLS_E_AGAIN and we poll the socket together with
 * the eventfd that shutdown() makes readable, until the call's deadline:
 * shutdown() interrupts any call, from any thread or a signal handler, as
 * in the fd transport.
 *
 * The socket is TLS's alone: GnuTLS reads whole records from it, and the
 * part of a record a read did not ask for stays decrypted in GnuTLS's
 * buffer for the next read, never lost and never anyone else's.
 *
 * Writes gather small iovec entries (a record header, scattered 4 KiB
 * pages) into full 16 KiB records, and send runs of whole records straight
 * from the caller's memory (entries that lie end to end, as pages of one
 * guest mapping do, count as one run): one record per page would add 22
 * bytes and an AEAD call per page, and staging a run would add a copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls_internal.h"
#include "transport/internal.h"

static int tls_writev(struct xmig_transport *base, const struct iovec *iov, int iovcnt);
static int tls_read(struct xmig_transport *base, void *buf, size_t len, int timeout_ms);
static void tls_shutdown(struct xmig_transport *base);
static void tls_close(struct xmig_transport *base);

static const struct xmig_transport_ops tls_ops = {
	.version = XMIG_TRANSPORT_OPS_VERSION,
	.name = "tls",
	.writev = tls_writev,
	.read = tls_read,
	.shutdown = tls_shutdown,
	.close = tls_close,
};

static struct xmig__tls_transport *tls_of(struct xmig_transport *base)
{
	/* `base` is the first member. */
	return (struct xmig__tls_transport *)base;
}

/* ---- the socket, as GnuTLS sees it ---- */

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	struct xmig__tls_transport *t = ptr;
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;

	do
		n = sendmsg(t->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		t->sock_errno = errno;
		gnutls_transport_set_errno(t->session, errno);
		return -1;
	}
	t->pushed += (uint64_t)n;
	return n;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct xmig__tls_transport *t = ptr;
	ssize_t n;

	do
		n = recv(t->fd, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		t->sock_errno = errno;
		gnutls_transport_set_errno(t->session, errno);
		return -1;
	}
	if (n == 0)
		t->sock_eof = 1;
	return n;
}

/*
 * GnuTLS only asks this with a record or handshake timeout of its own,
 * which we never set (our deadlines are ours); answer honestly anyway,
 * still interruptible by shutdown().
 */
static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct xmig__tls_transport *t = ptr;
	struct pollfd p[2] = {
		{ .fd = t->fd, .events = POLLIN },
		{ .fd = t->efd, .events = POLLIN },
	};
	int n, wait = ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : ms > INT_MAX ? INT_MAX : (int)ms;

	do
		n = poll(p, 2, wait);
	while (n < 0 && errno == EINTR);
	if (n < 0 || p[1].revents) {
		gnutls_transport_set_errno(t->session, n < 0 ? errno : ECANCELED);
		return -1;
	}
	return n > 0;
}

int xmig__tls_wait(struct xmig__tls_transport *t, uint64_t deadline)
{
	/* Readable, writable or in error: the next GnuTLS call tells. */
	return xmig__wait_ready(t->fd, gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN,
				t->efd, &t->down, deadline);
}

/* ---- messages ---- */

/*
 * The message for a failed read or write: `grc` is the GnuTLS code when
 * GnuTLS failed (rc XMIG_EIO), else 0.
 */
static int tls_report(struct xmig__tls_transport *t, int rc, int grc, const char *what,
		      size_t done, size_t total, int timeout_ms)
{
	const char *peer = t->peer;

	switch (rc) {
	case XMIG_ECANCELED:
		return xmig__fail(rc, "tls transport (%s): shut down (%s stopped after %zu of %zu "
				  "bytes)", peer, what, done, total);
	case XMIG_ETIMEDOUT:
		return xmig__fail(rc, "tls transport (%s): %s timed out after %d ms (%zu of %zu "
				  "bytes)", peer, what, timeout_ms, done, total);
	case XMIG_EEOF:
		return xmig__fail(rc, "tls transport (%s): the peer ended the TLS session "
				  "(close_notify) after %zu of %zu bytes", peer, done, total);
	default:
		break;
	}
	switch (grc) {
	case 0:
		return xmig__fail_errno(rc, "tls transport (%s): %s failed after %zu of %zu bytes",
					peer, what, done, total);
	case GNUTLS_E_PREMATURE_TERMINATION:
		return xmig__fail(rc, "tls transport (%s): the connection was closed without a TLS "
				  "close_notify after %zu of %zu bytes: the stream was cut", peer,
				  done, total);
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		return xmig__fail(rc, "tls transport (%s): the peer sent a fatal TLS alert (%s) "
				  "after %zu of %zu bytes", peer,
				  gnutls_alert_get_name(gnutls_alert_get(t->session)), done, total);
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		errno = t->sock_errno;
		return xmig__fail_errno(rc, "tls transport (%s): %s failed after %zu of %zu bytes",
					peer, what, done, total);
	default:
		return xmig__fail(rc, "tls transport (%s): %s failed after %zu of %zu bytes: %s",
				  peer, what, done, total, gnutls_strerror(grc));
	}
}

/* ---- writing ---- */

/*
 * Hand `len` bytes to GnuTLS (whole records, the last one possibly short).
 * The deadline restarts whenever the socket takes bytes: a write times out
 * only when the peer accepted nothing for `limit` ms. After GNUTLS_E_AGAIN
 * GnuTLS wants the same arguments again, which is what the loop does.
 */
static int tls_send(struct xmig__tls_transport *t, const uint8_t *buf, size_t len, size_t *done,
		    int limit, int *grc)
{
	uint64_t deadline = xmig__deadline(limit), seen = t->pushed;
	size_t off = 0;
	ssize_t n;
	int rc;

	while (off < len) {
		if (atomic_load(&t->down))
			return XMIG_ECANCELED;
		n = gnutls_record_send(t->session, buf + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			*done += (size_t)n;
			deadline = xmig__deadline(limit);
			seen = t->pushed;
			continue;
		}
		if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED) {
			*grc = n ? (int)n : GNUTLS_E_INTERNAL_ERROR;
			return XMIG_EIO;
		}
		if (t->pushed != seen) {
			seen = t->pushed;
			deadline = xmig__deadline(limit);
		}
		rc = xmig__tls_wait(t, deadline);
		if (rc)
			return rc;
	}
	return 0;
}

/* Feed one iovec entry: gathered into stage[], or sent in place. */
static int tls_feed(struct xmig__tls_transport *t, const uint8_t *p, size_t n, size_t *done,
		    int limit, int *grc)
{
	size_t k;
	int rc;

	while (n) {
		if (t->staged == 0 && n >= XMIG__TLS_RECORD) {
			k = n - n % XMIG__TLS_RECORD;
			rc = tls_send(t, p, k, done, limit, grc);
			if (rc)
				return rc;
		} else {
			k = XMIG__TLS_RECORD - t->staged;
			if (k > n)
				k = n;
			memcpy(t->stage + t->staged, p, k);
			t->staged += k;
			if (t->staged == XMIG__TLS_RECORD) {
				t->staged = 0;
				rc = tls_send(t, t->stage, XMIG__TLS_RECORD, done, limit, grc);
				if (rc)
					return rc;
			}
		}
		p += k;
		n -= k;
	}
	return 0;
}

static int tls_writev(struct xmig_transport *base, const struct iovec *iov, int iovcnt)
{
	struct xmig__tls_transport *t = tls_of(base);
	int limit = base->write_timeout_ms > 0 ? base->write_timeout_ms : -1;
	size_t total = 0, done = 0, last;
	int rc = 0, grc = 0;

	if (t->broken)
		return xmig__fail(XMIG_EIO, "tls transport (%s): an earlier write failed part-way; "
				  "the TLS session cannot go on", t->peer);
	if (iovcnt < 0 || (iovcnt > 0 && !iov))
		return xmig__fail(XMIG_EINVAL, "tls transport: writev of %d entries", iovcnt);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	for (int i = 0; i < iovcnt && rc == 0;) {
		const uint8_t *run = iov[i].iov_base;
		size_t n = iov[i++].iov_len;

		if (n == 0)
			continue;
		/* Pages of one mapping lie end to end: one run, sent in place. */
		while (i < iovcnt && iov[i].iov_len && (const uint8_t *)iov[i].iov_base == run + n)
			n += iov[i++].iov_len;
		rc = tls_feed(t, run, n, &done, limit, &grc);
	}
	if (rc == 0 && t->staged) {
		last = t->staged;
		t->staged = 0;
		rc = tls_send(t, t->stage, last, &done, limit, &grc);
	}
	if (rc == 0)
		return 0;
	/* A record may be half out: nothing that follows could be framed. */
	t->broken = 1;
	t->staged = 0;
	if (atomic_load(&t->down))
		rc = XMIG_ECANCELED;
	return tls_report(t, rc, grc, "write", done, total, limit);
}

/* ---- reading ---- */

static int tls_read(struct xmig_transport *base, void *buf, size_t len, int timeout_ms)
{
	struct xmig__tls_transport *t = tls_of(base);
	uint64_t deadline = xmig__deadline(timeout_ms);
	size_t done = 0;
	ssize_t n;
	int rc = 0, grc = 0;

	if (len > 0 && !buf)
		return xmig__fail(XMIG_EINVAL, "tls transport: read into NULL");
	while (done < len) {
		if (atomic_load(&t->down)) {
			rc = XMIG_ECANCELED;
			break;
		}
		n = gnutls_record_recv(t->session, (char *)buf + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue; /* the deadline stands: trickled bytes do not extend it */
		}
		if (n == 0) {
			rc = XMIG_EEOF;
			break;
		}
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			rc = xmig__tls_wait(t, deadline);
			if (rc)
				break;
			continue;
		}
		if (!gnutls_error_is_fatal((int)n))
			continue; /* a warning alert: the session goes on */
		grc = (int)n;
		rc = XMIG_EIO;
		break;
	}
	if (rc == 0)
		return 0;
	if (atomic_load(&t->down))
		rc = XMIG_ECANCELED;
	return tls_report(t, rc, grc, "read", done, len, timeout_ms);
}

/* ---- shutdown and close ---- */

static void tls_shutdown(struct xmig_transport *base)
{
	struct xmig__tls_transport *t = tls_of(base);
	const uint64_t one = 1;
	int saved = errno; /* we may be in a signal handler */

	/* Only async-signal-safe calls from here on. */
	atomic_store(&t->down, 1);
	if (write(t->efd, &one, sizeof(one)) < 0) {
		/* The counter is saturated, so it is readable already. */
	}
	shutdown(t->fd, SHUT_RDWR);
	errno = saved;
}

/*
 * close_notify tells the peer the stream ended here on purpose. We do not
 * wait for the peer's own close_notify: it may be busy, and what it would
 * say no longer matters.
 */
static void tls_bye(struct xmig__tls_transport *t)
{
	uint64_t deadline = xmig__deadline(XMIG__TLS_BYE_MS);
	int grc;

	for (;;) {
		grc = gnutls_bye(t->session, GNUTLS_SHUT_WR);
		if (grc != GNUTLS_E_AGAIN && grc != GNUTLS_E_INTERRUPTED)
			return;
		if (xmig__tls_wait(t, deadline))
			return;
	}
}

static void tls_close(struct xmig_transport *base)
{
	struct xmig__tls_transport *t = tls_of(base);

	if (t->established && !t->broken && !atomic_load(&t->down))
		tls_bye(t);
	xmig__tls_free(t);
}

/* ---- construction ---- */

void xmig__tls_free(struct xmig__tls_transport *t)
{
	if (!t)
		return;
	if (t->session)
		gnutls_deinit(t->session);
	xmig__tls_creds_free(&t->creds);
	if (t->efd >= 0)
		close(t->efd);
	if (t->own && t->fd >= 0)
		close(t->fd);
	/* The staging buffer held plaintext guest memory. */
	explicit_bzero(t->stage, sizeof(t->stage));
	free(t);
}

int xmig__tls_new(struct xmig__tls_transport **out, int fd, int server, const char *peer,
		  const struct xmig_tls_params *p)
{
	struct xmig__tls_transport *t;
	const char *prio, *where = NULL;
	int rc, grc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return xmig__fail(XMIG_ENOMEM, "TLS: out of memory");
	t->fd = fd;
	t->server = server;
	t->base.ops = &tls_ops;
	t->base.flags = XMIG_TRANSPORT_DUPLEX;
	atomic_init(&t->down, 0);
	snprintf(t->peer, sizeof(t->peer), "%s", peer);
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		rc = xmig__fail_errno(XMIG_EIO, "TLS: eventfd");
		goto out;
	}
	rc = xmig__tls_creds_load(&t->creds, server, p);
	if (rc)
		goto out;
	grc = gnutls_init(&t->session, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
					       GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS);
	if (grc < 0) {
		t->session = NULL;
		rc = xmig__fail(grc == GNUTLS_E_MEMORY_ERROR ? XMIG_ENOMEM : XMIG_EIO,
				"TLS: gnutls_init: %s", gnutls_strerror(grc));
		goto out;
	}
	prio = t->creds.psk ? XMIG__TLS_PRIORITY_PSK : XMIG__TLS_PRIORITY_X509;
	grc = gnutls_priority_set_direct(t->session, prio, &where);
	if (grc < 0) {
		rc = xmig__fail(XMIG_EIO, "TLS: priority '%s' rejected at '%s': %s", prio,
				where ? where : "?", gnutls_strerror(grc));
		goto out;
	}
	rc = xmig__tls_creds_attach(&t->creds, t->session, server, p);
	if (rc)
		goto out;
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_vec_push_function(t->session, tls_push);
	gnutls_transport_set_pull_function(t->session, tls_pull);
	gnutls_transport_set_pull_timeout_function(t->session, tls_pull_timeout);
	/* Our deadline bounds the handshake; GnuTLS's own timer stays off. */
	gnutls_handshake_set_timeout(t->session, 0);
	*out = t;
	return 0;
out:
	xmig__tls_free(t);
	return rc;
}

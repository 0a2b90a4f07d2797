/* SPDX-License-Identifier: MIT */
/*
 * The fd transport: complete vectored writes and exact reads on file
 * descriptors, which shutdown() can interrupt from any thread or from a
 * signal handler.
 *
 * Interruptibility is why no call ever sits blocked inside read(2) or
 * write(2): every wait is a poll() on the descriptor plus an eventfd that
 * shutdown() makes readable. Each direction picks how it gets there once,
 * from what the descriptor is (see enum xmig__fd_mode):
 *  - sockets use MSG_DONTWAIT per call, so the caller's descriptor flags
 *    are left alone, and MSG_NOSIGNAL so a closed peer is EPIPE, not death;
 *  - regular files never wait, so they are written and read directly;
 *  - a blocking pipe is written through a private non-blocking reopen of
 *    it (/proc/self/fd/N gives a new open file description, so the
 *    caller's O_NONBLOCK is untouched); where that is impossible we poll
 *    first and write at most PIPE_BUF bytes, which a pipe reported
 *    writable always takes without blocking;
 *  - other blocking descriptors (ttys, /dev/null) poll first, then write;
 *  - reads from pipes and ttys poll first: once poll() says readable,
 *    read(2) returns what is there without waiting for more.
 * Pipes still raise SIGPIPE on a closed reader; writes to them run with
 * SIGPIPE blocked in the calling thread, and a SIGPIPE they raise is
 * consumed before it is unblocked. No process-wide disposition changes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"
#include "xmig/transport.h"

static int fd_writev(struct xmig_transport *base, const struct iovec *iov, int iovcnt);
static int fd_read(struct xmig_transport *base, void *buf, size_t len, int timeout_ms);
static void fd_shutdown(struct xmig_transport *base);
static void fd_close(struct xmig_transport *base);

/* One table per name the transport goes by; the hooks are the same. */
#define XMIG__FD_OPS(label)                                                 \
	{                                                                   \
		.version = XMIG_TRANSPORT_OPS_VERSION, .name = (label),     \
		.writev = fd_writev, .read = fd_read, .shutdown = fd_shutdown, \
		.close = fd_close,                                          \
	}

static const struct xmig_transport_ops fd_ops[] = {
	[XMIG__KIND_FD] = XMIG__FD_OPS("fd"),
	[XMIG__KIND_FILE] = XMIG__FD_OPS("file"),
	[XMIG__KIND_TCP] = XMIG__FD_OPS("tcp"),
	[XMIG__KIND_UNIX] = XMIG__FD_OPS("unix"),
};

static struct xmig__fd_transport *fd_of(struct xmig_transport *base)
{
	/* `base` is the first member. */
	return (struct xmig__fd_transport *)base;
}

/* ---- SIGPIPE, kept to the calling thread ---- */

struct sigpipe_guard {
	sigset_t old;
	int was_pending; /* a SIGPIPE from elsewhere: not ours to consume */
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe_set, pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

/* Restore the mask, first swallowing the SIGPIPE our EPIPE raised. */
static void sigpipe_unblock(struct sigpipe_guard *g, int got_epipe)
{
	static const struct timespec no_wait = { 0, 0 };
	int saved = errno;
	sigset_t pipe_set;

	if (got_epipe && !g->was_pending) {
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		while (sigtimedwait(&pipe_set, NULL, &no_wait) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	errno = saved;
}

/* ---- waiting ---- */

int xmig__wait_ready(int fd, short events, int efd, atomic_int *down, uint64_t deadline)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = events },
		{ .fd = efd, .events = POLLIN },
	};
	int n;

	for (;;) {
		if (atomic_load(down))
			return XMIG_ECANCELED;
		n = poll(p, 2, xmig__ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return XMIG_EIO;
		if (p[1].revents)
			return XMIG_ECANCELED;
		if (n == 0)
			return XMIG_ETIMEDOUT;
		if (p[0].revents & POLLNVAL) {
			errno = EBADF;
			return XMIG_EIO;
		}
		return 0;
	}
}

static int fd_wait(struct xmig__fd_transport *t, int fd, short events, uint64_t deadline)
{
	return xmig__wait_ready(fd, events, t->efd, &t->down, deadline);
}

/* Turn a failure code into this thread's message and return it. */
static int fd_report(struct xmig__fd_transport *t, int rc, const char *what, size_t done,
		     size_t total, int timeout_ms)
{
	const char *name = t->base.ops->name;

	switch (rc) {
	case XMIG_ECANCELED:
		return xmig__fail(rc, "%s transport: shut down (%s stopped after %zu of %zu bytes)",
				  name, what, done, total);
	case XMIG_ETIMEDOUT:
		return xmig__fail(rc, "%s transport: %s timed out after %d ms (%zu of %zu bytes)",
				  name, what, timeout_ms, done, total);
	case XMIG_EEOF:
		return xmig__fail(rc, "%s transport: end of stream after %zu of %zu bytes", name,
				  done, total);
	default:
		return xmig__fail_errno(rc, "%s transport: %s failed after %zu of %zu bytes", name,
					what, done, total);
	}
}

/* ---- writing ---- */

/* A writev() of whole entries, at most `cap` bytes, but never nothing. */
static ssize_t writev_capped(int fd, const struct iovec *v, int cnt, size_t cap)
{
	size_t sum = 0;
	int n = 0;

	while (n < cnt && sum + v[n].iov_len <= cap)
		sum += v[n++].iov_len;
	if (n == 0)
		return write(fd, v[0].iov_base, cap);
	return writev(fd, v, n);
}

static ssize_t fd_write_once(struct xmig__fd_transport *t, struct iovec *v, int cnt)
{
	struct msghdr msg = { .msg_iov = v, .msg_iovlen = (size_t)cnt };

	switch (t->wmode) {
	case XMIG__FD_SOCKET:
		return sendmsg(t->wio, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	case XMIG__FD_POLL:
		return writev_capped(t->wio, v, cnt, t->wcap);
	default:
		return writev(t->wio, v, cnt);
	}
}

/* Write all of the window `v[0..cnt)` (no empty entries), consuming it. */
static int fd_write_window(struct xmig__fd_transport *t, struct iovec *v, int cnt, size_t *done)
{
	int wait_first = t->wmode == XMIG__FD_POLL;
	int limit = t->base.write_timeout_ms > 0 ? t->base.write_timeout_ms : -1;
	uint64_t deadline = xmig__deadline(limit);
	ssize_t n;
	size_t left;
	int rc;

	while (cnt > 0) {
		if (atomic_load(&t->down))
			return XMIG_ECANCELED;
		if (wait_first) {
			rc = fd_wait(t, t->wio, POLLOUT, deadline);
			if (rc)
				return rc;
		}
		n = fd_write_once(t, v, cnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_first = 1;
			continue;
		}
		if (n < 0)
			return XMIG_EIO;
		if (n == 0) {
			/* Only a broken device accepts nothing; don't spin on it. */
			errno = EIO;
			return XMIG_EIO;
		}
		wait_first = t->wmode == XMIG__FD_POLL;
		deadline = xmig__deadline(limit); /* progress: the peer reads */
		*done += (size_t)n;
		left = (size_t)n;
		while (cnt > 0 && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			cnt--;
		}
		if (left) {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	return 0;
}

static int fd_writev(struct xmig_transport *base, const struct iovec *iov, int iovcnt)
{
	struct xmig__fd_transport *t = fd_of(base);
	struct sigpipe_guard guard;
	int guarded, next = 0, cnt, rc = 0;
	size_t total = 0, done = 0;

	if (t->wmode == XMIG__FD_UNUSED)
		return xmig__fail(XMIG_ENOTSUP, "%s transport: not open for writing",
				  base->ops->name);
	if (iovcnt < 0 || (iovcnt > 0 && !iov))
		return xmig__fail(XMIG_EINVAL, "%s transport: writev of %d entries", base->ops->name,
				  iovcnt);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;

	guarded = t->wmode == XMIG__FD_NONBLOCK || t->wmode == XMIG__FD_POLL;
	if (guarded)
		sigpipe_block(&guard);
	while (next < iovcnt && rc == 0) {
		/* The caller's array is const and may be longer than IOV_MAX. */
		for (cnt = 0; next < iovcnt && cnt < XMIG__IOV_WINDOW; next++)
			if (iov[next].iov_len)
				t->iov[cnt++] = iov[next];
		rc = fd_write_window(t, t->iov, cnt, &done);
	}
	if (guarded)
		sigpipe_unblock(&guard, rc == XMIG_EIO && errno == EPIPE);
	if (rc && atomic_load(&t->down))
		rc = XMIG_ECANCELED;
	return rc ? fd_report(t, rc, "write", done, total,
			      t->base.write_timeout_ms > 0 ? t->base.write_timeout_ms : -1)
		  : 0;
}

/* ---- reading ---- */

static ssize_t fd_read_once(struct xmig__fd_transport *t, void *buf, size_t len)
{
	if (t->rmode == XMIG__FD_SOCKET)
		return recv(t->rfd, buf, len, MSG_DONTWAIT);
	return read(t->rfd, buf, len);
}

static int fd_read(struct xmig_transport *base, void *buf, size_t len, int timeout_ms)
{
	struct xmig__fd_transport *t = fd_of(base);
	uint64_t deadline = xmig__deadline(timeout_ms);
	int wait_first = t->rmode == XMIG__FD_POLL;
	size_t done = 0;
	ssize_t n;
	int rc = 0;

	if (t->rmode == XMIG__FD_UNUSED)
		return xmig__fail(XMIG_ENOTSUP, "%s transport: not open for reading",
				  base->ops->name);
	if (len > 0 && !buf)
		return xmig__fail(XMIG_EINVAL, "%s transport: read into NULL", base->ops->name);
	while (done < len) {
		if (atomic_load(&t->down)) {
			rc = XMIG_ECANCELED;
			break;
		}
		if (wait_first) {
			rc = fd_wait(t, t->rfd, POLLIN, deadline);
			if (rc)
				break;
		}
		n = fd_read_once(t, (char *)buf + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			wait_first = t->rmode == XMIG__FD_POLL;
			continue; /* the deadline stands: trickled bytes do not extend it */
		}
		if (n == 0) {
			rc = XMIG_EEOF;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			wait_first = 1;
			continue;
		}
		rc = XMIG_EIO;
		break;
	}
	/* A socket shut down reads as end of stream; say what really happened. */
	if (rc && atomic_load(&t->down))
		rc = XMIG_ECANCELED;
	return rc ? fd_report(t, rc, "read", done, len, timeout_ms) : 0;
}

/* ---- shutdown and close ---- */

static void fd_shutdown(struct xmig_transport *base)
{
	struct xmig__fd_transport *t = fd_of(base);
	const uint64_t one = 1;
	int saved = errno; /* we may be in a signal handler */

	/* Only async-signal-safe calls from here on. */
	atomic_store(&t->down, 1);
	if (write(t->efd, &one, sizeof(one)) < 0) {
		/* The counter is saturated, so it is readable already. */
	}
	if (t->rmode == XMIG__FD_SOCKET)
		shutdown(t->rfd, SHUT_RDWR);
	if (t->wmode == XMIG__FD_SOCKET && t->wfd != t->rfd)
		shutdown(t->wfd, SHUT_RDWR);
	errno = saved;
}

static void fd_close(struct xmig_transport *base)
{
	struct xmig__fd_transport *t = fd_of(base);

	close(t->efd);
	if (t->wio != t->wfd)
		close(t->wio);
	if (t->own) {
		if (t->rfd >= 0)
			close(t->rfd);
		if (t->wfd >= 0 && t->wfd != t->rfd)
			close(t->wfd);
	}
	free(t);
}

/* ---- construction ---- */

static enum xmig__fd_mode fd_mode_of(int fd, const struct stat *st)
{
	int fl;

	if (S_ISSOCK(st->st_mode))
		return XMIG__FD_SOCKET;
	if (S_ISREG(st->st_mode) || S_ISBLK(st->st_mode))
		return XMIG__FD_FILE;
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		return XMIG__FD_NONBLOCK;
	return XMIG__FD_POLL;
}

/*
 * A new, non-blocking open file description of the pipe behind `fd`, or
 * -1 (no /proc, or no reader left: then O_NONBLOCK open fails with ENXIO).
 */
static int pipe_reopen_nonblocking(int fd)
{
	char path[40];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
}

int xmig__fd_transport_new(struct xmig_transport **out, int rfd, int wfd, int own,
			   enum xmig__fd_kind kind)
{
	struct xmig__fd_transport *t;
	struct stat rst, wst;
	int fd;

	*out = NULL;
	if (rfd < 0 && wfd < 0)
		return xmig__fail(XMIG_EINVAL, "%s transport: needs a descriptor to read or write",
				  fd_ops[kind].name);
	if (rfd >= 0 && fstat(rfd, &rst) < 0)
		return xmig__fail_errno(XMIG_EINVAL, "%s transport: read descriptor %d",
					fd_ops[kind].name, rfd);
	if (wfd >= 0 && fstat(wfd, &wst) < 0)
		return xmig__fail_errno(XMIG_EINVAL, "%s transport: write descriptor %d",
					fd_ops[kind].name, wfd);

	t = calloc(1, sizeof(*t));
	if (!t)
		return xmig__fail(XMIG_ENOMEM, "%s transport: out of memory", fd_ops[kind].name);
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		free(t);
		return xmig__fail_errno(XMIG_EIO, "%s transport: eventfd", fd_ops[kind].name);
	}
	t->base.ops = &fd_ops[kind];
	t->base.flags = rfd >= 0 && wfd >= 0 ? XMIG_TRANSPORT_DUPLEX : 0;
	t->rfd = rfd;
	t->wfd = wfd;
	t->wio = wfd;
	t->own = own;
	t->rmode = rfd >= 0 ? fd_mode_of(rfd, &rst) : XMIG__FD_UNUSED;
	t->wmode = wfd >= 0 ? fd_mode_of(wfd, &wst) : XMIG__FD_UNUSED;
	t->wcap = SIZE_MAX;
	atomic_init(&t->down, 0);
	if (t->wmode == XMIG__FD_POLL && S_ISFIFO(wst.st_mode)) {
		fd = pipe_reopen_nonblocking(wfd);
		if (fd >= 0) {
			t->wio = fd;
			t->wmode = XMIG__FD_NONBLOCK;
		} else {
			/* What a pipe reported writable always takes at once. */
			t->wcap = PIPE_BUF;
		}
	}
	*out = &t->base;
	return 0;
}

XMIG__API int xmig_transport_fd(struct xmig_transport **out, int rfd, int wfd,
				unsigned int flags)
{
	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_transport_fd: out is NULL");
	*out = NULL;
	int rc;

	if (flags & ~(XMIG_FD_OWN | XMIG_FD_WHOLE))
		return xmig__fail(XMIG_EINVAL, "xmig_transport_fd: unknown flags 0x%x",
				  flags & ~(XMIG_FD_OWN | XMIG_FD_WHOLE));
	if ((flags & XMIG_FD_WHOLE) && rfd < 0)
		return xmig__fail(XMIG_EINVAL,
				  "xmig_transport_fd: XMIG_FD_WHOLE needs a descriptor to read");
	rc = xmig__fd_transport_new(out, rfd, wfd, !!(flags & XMIG_FD_OWN), XMIG__KIND_FD);
	if (rc == 0 && (flags & XMIG_FD_WHOLE))
		(*out)->flags |= XMIG_TRANSPORT_WHOLE;
	return rc;
}

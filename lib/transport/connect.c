/* SPDX-License-Identifier: MIT */
/* xmig_transport_connect: the sending side of a TCP or unix connection. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"
#include "xmig/transport.h"

/* Connect the non-blocking `fd`; XMIG_EIO leaves the reason in errno. */
static int connect_wait(int fd, const struct sockaddr *sa, socklen_t len, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int n, err = 0;

	if (connect(fd, sa, len) == 0)
		return 0;
	/* After EINTR the connection goes on in the background, as after EINPROGRESS. */
	if (errno != EINPROGRESS && errno != EINTR)
		return errno == ETIMEDOUT ? XMIG_ETIMEDOUT : XMIG_EIO;
	for (;;) {
		n = poll(&p, 1, xmig__ms_left(deadline));
		if (n > 0)
			break;
		if (n == 0) {
			errno = ETIMEDOUT;
			return XMIG_ETIMEDOUT;
		}
		if (errno != EINTR)
			return XMIG_EIO;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return XMIG_EIO;
	if (err) {
		errno = err;
		return err == ETIMEDOUT ? XMIG_ETIMEDOUT : XMIG_EIO;
	}
	return 0;
}

static int connect_tcp(int *out, const struct xmig__addr *a, const char *address, int timeout_ms)
{
	uint64_t deadline = xmig__deadline(timeout_ms);
	struct addrinfo *res, *ai;
	char where[INET6_ADDRSTRLEN + 16] = "";
	int fd = -1, rc, err = 0, tried = 0, fl;

	rc = xmig__addr_resolve(a, 0, &res);
	if (rc)
		return rc;
	rc = XMIG_EIO;
	for (ai = res; ai; ai = ai->ai_next) {
		tried++;
		xmig__sockaddr_str(ai->ai_addr, ai->ai_addrlen, where, sizeof(where));
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			rc = XMIG_EIO;
			err = errno;
			continue;
		}
		/* Before connect(): the window scale is agreed in the handshake. */
		xmig__tcp_tune(fd);
		rc = connect_wait(fd, ai->ai_addr, ai->ai_addrlen, deadline);
		if (rc == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
		if (xmig__ms_left(deadline) == 0)
			break; /* no time left for the other addresses */
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = err;
		if (rc == XMIG_ETIMEDOUT && timeout_ms >= 0)
			return xmig__fail(rc, "connect to '%s' (%s): no answer within %d ms", address,
					  where, timeout_ms);
		if (tried > 1)
			return xmig__fail_errno(rc, "connect to '%s' (tried %d addresses, last %s)",
						address, tried, where);
		return xmig__fail_errno(rc, "connect to '%s' (%s)", address, where);
	}

	/* Ours from now on: the transports' own calls never block anyway. */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	*out = fd;
	return 0;
}

static int connect_unix(int *out, const struct xmig__addr *a, const char *address, int timeout_ms)
{
	struct timeval tv = { 0, 0 };
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return xmig__fail_errno(XMIG_EIO, "connect to '%s': socket", address);
	/*
	 * A unix connect() only waits when the listener's backlog is full, and
	 * a non-blocking one then fails at once instead of waiting: bound the
	 * blocking wait with the send timeout, which is what it obeys.
	 */
	if (timeout_ms >= 0) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		if (timeout_ms == 0)
			tv.tv_usec = 1; /* 0 would mean for ever */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while ((rc = connect(fd, (const struct sockaddr *)&a->un, a->un_len)) < 0 &&
	       errno == EINTR)
		;
	if (rc < 0 && errno == EISCONN)
		rc = 0; /* an interrupted attempt had completed */
	if (rc < 0) {
		rc = errno == EAGAIN ? XMIG_ETIMEDOUT : XMIG_EIO;
		if (rc == XMIG_ETIMEDOUT)
			xmig__fail(rc, "connect to '%s': not accepted within %d ms", address,
				   timeout_ms);
		else
			xmig__fail_errno(rc, "connect to '%s'", address);
		close(fd);
		return rc;
	}
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*out = fd;
	return 0;
}

int xmig__connect_fd(int *fd, enum xmig__fd_kind *kind, const char *address, int timeout_ms)
{
	struct xmig__addr a;
	int rc;

	*fd = -1;
	rc = xmig__addr_parse(&a, address, 0);
	if (rc)
		return rc;
	*kind = a.is_unix ? XMIG__KIND_UNIX : XMIG__KIND_TCP;
	if (a.is_unix)
		return connect_unix(fd, &a, address, timeout_ms);
	return connect_tcp(fd, &a, address, timeout_ms);
}

XMIG__API int xmig_transport_connect(struct xmig_transport **out, const char *address,
				     int timeout_ms)
{
	enum xmig__fd_kind kind;
	int fd, rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_transport_connect: out is NULL");
	*out = NULL;
	rc = xmig__connect_fd(&fd, &kind, address, timeout_ms);
	if (rc)
		return rc;
	rc = xmig__fd_transport_new(out, fd, fd, 1, kind);
	if (rc)
		close(fd);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* xmig_listener_*: the receiving side waits for one connection. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"
#include "xmig/transport.h"

struct xmig_listener {
	int fd; /* non-blocking, so a connection gone before accept() can't hang us */
	int is_unix;
	unsigned int port;
	/* The unix socket file we created, to remove on close (only if it is still ours). */
	int created;
	dev_t dev;
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char address[256]; /* for messages */
};

/*
 * bind() found the path taken: say by what. A socket nobody listens on is
 * stale (its receiver ended without removing it) or not listening yet (a
 * receiver between its bind and its listen): why we only say so and never
 * remove it.
 */
static int unix_path_taken(const struct xmig__addr *a, const char *address)
{
	const char *path = a->un.sun_path;
	struct stat st;

	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return xmig__fail(XMIG_EIO, "listen on '%s': bind: Address already in use: '%s' "
				  "exists and is not a socket", address, path);
	switch (xmig__unix_listening(a)) {
	case 0:
		return xmig__fail(XMIG_EIO, "listen on '%s': bind: Address already in use: '%s' is "
				  "a stale socket, nobody listens on it (left by a receiver that "
				  "ended?); remove it (rm '%s') if no program uses it", address,
				  path, path);
	case 1:
		return xmig__fail(XMIG_EIO, "listen on '%s': bind: Address already in use: another "
				  "program listens on '%s'", address, path);
	default:
		errno = EADDRINUSE;
		return xmig__fail_errno(XMIG_EIO, "listen on '%s': bind", address);
	}
}

static int listen_unix(struct xmig_listener *l, const struct xmig__addr *a, const char *address)
{
	struct stat st;

	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return xmig__fail_errno(XMIG_EIO, "listen on '%s': socket", address);
	/* An existing file, even a stale socket, may be someone's: never remove it. */
	if (bind(l->fd, (const struct sockaddr *)&a->un, a->un_len) < 0)
		return errno == EADDRINUSE ? unix_path_taken(a, address)
					   : xmig__fail_errno(XMIG_EIO, "listen on '%s': bind",
							      address);
	memcpy(l->path, a->un.sun_path, sizeof(l->path));
	if (stat(l->path, &st) == 0) {
		l->created = 1;
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	if (listen(l->fd, SOMAXCONN) < 0)
		return xmig__fail_errno(XMIG_EIO, "listen on '%s'", address);
	return 0;
}

static int listen_tcp(struct xmig_listener *l, const struct xmig__addr *a, const char *address)
{
	const int one = 1;
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char where[INET6_ADDRSTRLEN + 16] = "";
	const char *step = "socket";
	int fd = -1, rc, err = 0;

	rc = xmig__addr_resolve(a, 1, &res);
	if (rc)
		return rc;
	for (ai = res; ai; ai = ai->ai_next) {
		xmig__sockaddr_str(ai->ai_addr, ai->ai_addrlen, where, sizeof(where));
		step = "socket";
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* Listen where we were told: "[::]" must not also take IPv4. */
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		/* Accepted sockets inherit these; the receive buffer must be set
		 * before the handshake to get a large window. */
		xmig__tcp_tune(fd);
		step = "bind";
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			step = "listen";
			if (listen(fd, SOMAXCONN) == 0)
				break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = err;
		return xmig__fail_errno(XMIG_EIO, "listen on '%s': %s %s", address, step, where);
	}
	l->fd = fd;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
		return xmig__fail_errno(XMIG_EIO, "listen on '%s': getsockname", address);
	if (ss.ss_family == AF_INET6)
		l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

XMIG__API int xmig_listener_open(struct xmig_listener **out, const char *address)
{
	struct xmig_listener *l;
	struct xmig__addr a;
	int rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_listener_open: out is NULL");
	*out = NULL;
	rc = xmig__addr_parse(&a, address, 1);
	if (rc)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l)
		return xmig__fail(XMIG_ENOMEM, "listen on '%s': out of memory", address);
	l->fd = -1;
	l->is_unix = a.is_unix;
	snprintf(l->address, sizeof(l->address), "%s", address);
	rc = a.is_unix ? listen_unix(l, &a, address) : listen_tcp(l, &a, address);
	if (rc) {
		xmig_listener_close(l);
		return rc;
	}
	*out = l;
	return 0;
}

XMIG__API unsigned int xmig_listener_port(const struct xmig_listener *l)
{
	return l ? l->port : 0;
}

int xmig__listener_accept_fd(int *out, enum xmig__fd_kind *kind, struct xmig_listener *l,
			     int timeout_ms)
{
	uint64_t deadline = xmig__deadline(timeout_ms);
	struct pollfd p;
	int fd, n;

	*out = -1;
	for (;;) {
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		/* A connection that died in the queue is not our failure. */
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return xmig__fail_errno(XMIG_EIO, "accept on '%s'", l->address);
		p.fd = l->fd;
		p.events = POLLIN;
		p.revents = 0;
		n = poll(&p, 1, xmig__ms_left(deadline));
		if (n == 0)
			return xmig__fail(XMIG_ETIMEDOUT, "accept on '%s': no connection within %d ms",
					  l->address, timeout_ms);
		if (n < 0 && errno != EINTR)
			return xmig__fail_errno(XMIG_EIO, "accept on '%s': poll", l->address);
	}
	if (!l->is_unix)
		xmig__tcp_tune(fd);
	*kind = l->is_unix ? XMIG__KIND_UNIX : XMIG__KIND_TCP;
	*out = fd;
	return 0;
}

XMIG__API int xmig_listener_accept(struct xmig_listener *l, struct xmig_transport **out,
				   int timeout_ms)
{
	enum xmig__fd_kind kind;
	int fd, rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_listener_accept: out is NULL");
	*out = NULL;
	if (!l)
		return xmig__fail(XMIG_EINVAL, "xmig_listener_accept: no listener");
	rc = xmig__listener_accept_fd(&fd, &kind, l, timeout_ms);
	if (rc)
		return rc;
	rc = xmig__fd_transport_new(out, fd, fd, 1, kind);
	if (rc)
		close(fd);
	return rc;
}

XMIG__API void xmig_listener_close(struct xmig_listener *l)
{
	struct stat st;

	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	/* Someone may have replaced the file since: remove only our socket. */
	if (l->created && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->path);
	free(l);
}

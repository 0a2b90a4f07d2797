/* SPDX-License-Identifier: MIT */
/* The TLS transport's constructors: connect, accept, or a caller's socket. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls_internal.h"
#include "transport/internal.h"
#include "xmig/transport.h"

XMIG__API int xmig_tls_params_init(struct xmig_tls_params *p, unsigned int version)
{
	const struct xmig_tls_params def = XMIG_TLS_PARAMS_INIT;

	if (!p)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_params_init: p is NULL");
	if (version != XMIG_TLS_PARAMS_VERSION)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_params_init: version %u, this library "
				  "has %u", version, XMIG_TLS_PARAMS_VERSION);
	*p = def;
	return 0;
}

static int check_version(const struct xmig_tls_params *p, const char *fn)
{
	if (!p)
		return xmig__fail(XMIG_EINVAL, "%s: no TLS parameters (credentials are required)",
				  fn);
	if (p->version != XMIG_TLS_PARAMS_VERSION)
		return xmig__fail(XMIG_EINVAL, "%s: params version %u, this library has %u", fn,
				  p->version, XMIG_TLS_PARAMS_VERSION);
	return 0;
}

/* The peer's address for messages ("10.0.0.2:7000", "unix:/run/x.sock"). */
static void peer_of(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		snprintf(buf, size, "the peer");
	else if (ss.ss_family == AF_UNIX)
		snprintf(buf, size, "a unix socket peer");
	else
		xmig__sockaddr_str((struct sockaddr *)&ss, len, buf, size);
}

/*
 * Handshake on `fd`; on success the transport owns `fd` if `own`. On
 * failure `fd` is left open for the caller.
 */
static int tls_open(struct xmig_transport **out, int fd, int own, int server, const char *peer,
		    const struct xmig_tls_params *p)
{
	struct xmig__tls_transport *t;
	int rc;

	rc = xmig__tls_new(&t, fd, server, peer, p);
	if (rc)
		return rc;
	rc = xmig__tls_handshake(t, p);
	if (rc) {
		xmig__tls_free(t); /* t->own is 0: fd stays open */
		return rc;
	}
	t->own = own;
	t->established = 1;
	*out = &t->base;
	return 0;
}

XMIG__API int xmig_tls_connect(struct xmig_transport **out, const char *address, int timeout_ms,
			       const struct xmig_tls_params *p)
{
	enum xmig__fd_kind kind;
	int fd, rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_connect: out is NULL");
	*out = NULL;
	rc = check_version(p, "xmig_tls_connect");
	if (rc)
		return rc;
	rc = xmig__connect_fd(&fd, &kind, address, timeout_ms);
	if (rc)
		return rc;
	rc = tls_open(out, fd, 1, 0, address, p);
	if (rc)
		close(fd);
	return rc;
}

XMIG__API int xmig_tls_accept(struct xmig_transport **out, struct xmig_listener *l, int timeout_ms,
			      const struct xmig_tls_params *p)
{
	enum xmig__fd_kind kind;
	char peer[128];
	int fd, rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_accept: out is NULL");
	*out = NULL;
	if (!l)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_accept: no listener");
	rc = check_version(p, "xmig_tls_accept");
	if (rc)
		return rc;
	rc = xmig__listener_accept_fd(&fd, &kind, l, timeout_ms);
	if (rc)
		return rc;
	peer_of(fd, peer, sizeof(peer));
	rc = tls_open(out, fd, 1, 1, peer, p);
	if (rc)
		close(fd);
	return rc;
}

XMIG__API int xmig_tls_fd(struct xmig_transport **out, int fd, int role, unsigned int flags,
			  const struct xmig_tls_params *p)
{
	struct stat st;
	char peer[128];
	int rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_fd: out is NULL");
	*out = NULL;
	rc = check_version(p, "xmig_tls_fd");
	if (rc)
		return rc;
	if (role != XMIG_TLS_CLIENT && role != XMIG_TLS_SERVER)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_fd: role %d is neither XMIG_TLS_CLIENT "
				  "nor XMIG_TLS_SERVER", role);
	if (flags & ~XMIG_FD_OWN)
		return xmig__fail(XMIG_EINVAL, "xmig_tls_fd: unknown flags 0x%x",
				  flags & ~XMIG_FD_OWN);
	if (fd < 0 || fstat(fd, &st) < 0)
		return xmig__fail_errno(XMIG_EINVAL, "xmig_tls_fd: descriptor %d", fd);
	if (!S_ISSOCK(st.st_mode))
		return xmig__fail(XMIG_EINVAL, "xmig_tls_fd: descriptor %d is not a socket", fd);
	peer_of(fd, peer, sizeof(peer));
	return tls_open(out, fd, !!(flags & XMIG_FD_OWN), role == XMIG_TLS_SERVER, peer, p);
}

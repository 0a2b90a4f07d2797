/* SPDX-License-Identifier: MIT */
/* Internals shared by the transports in lib/transport/ (never installed). */
#ifndef XMIG_LIB_TRANSPORT_INTERNAL_H
#define XMIG_LIB_TRANSPORT_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "common.h"
#include "xmig/sys/transport.h"

struct addrinfo;

/*
 * One writev() takes at most this many entries (Linux's IOV_MAX and
 * UIO_MAXIOV); longer arrays go out in windows of this size.
 */
#define XMIG__IOV_WINDOW 1024

/* How the fd transport drives one direction of its descriptor. */
enum xmig__fd_mode {
	XMIG__FD_UNUSED = 0,
	XMIG__FD_SOCKET,   /* send/recv with MSG_DONTWAIT, poll on EAGAIN */
	XMIG__FD_FILE,     /* regular file or block device: never waits */
	XMIG__FD_NONBLOCK, /* a non-blocking description: try, poll on EAGAIN */
	XMIG__FD_POLL,     /* a blocking pipe or tty: poll first, then write `wcap` */
};

/*
 * The fd transport, which every shipped transport is: a file, a TCP or unix
 * socket, or descriptors the caller hands over. Tests may look at the
 * descriptors; nothing else outside fd.c touches the fields.
 */
struct xmig__fd_transport {
	struct xmig_transport base;
	int rfd, wfd;     /* as given; -1 when the direction is unused */
	int wio;          /* what writes go to: wfd or a private reopen of it */
	int efd;          /* eventfd that shutdown() makes readable */
	int own;          /* close rfd/wfd in close() */
	enum xmig__fd_mode rmode, wmode;
	size_t wcap;      /* most one write may carry in XMIG__FD_POLL mode */
	atomic_int down;  /* set by shutdown(); async-signal safe */
	struct iovec iov[XMIG__IOV_WINDOW]; /* the caller's array is const */
};

/* Kinds of transport the fd transport presents itself as (ops->name). */
enum xmig__fd_kind {
	XMIG__KIND_FD,
	XMIG__KIND_FILE,
	XMIG__KIND_TCP,
	XMIG__KIND_UNIX,
};

/*
 * Wrap descriptors in an fd transport. On failure nothing is closed: the
 * caller still owns `rfd` and `wfd`, whatever `own` says.
 */
int xmig__fd_transport_new(struct xmig_transport **out, int rfd, int wfd, int own,
			   enum xmig__fd_kind kind);

/*
 * The connected socket behind xmig_transport_connect, for transports that
 * run their own protocol over it (TLS). Non-blocking off, TCP tuned; the
 * caller owns *fd. Fails as xmig_transport_connect does.
 */
int xmig__connect_fd(int *fd, enum xmig__fd_kind *kind, const char *address, int timeout_ms);

struct xmig_listener;

/* The accepted socket behind xmig_listener_accept (the caller owns *fd). */
int xmig__listener_accept_fd(int *fd, enum xmig__fd_kind *kind, struct xmig_listener *l,
			     int timeout_ms);

/*
 * Wait until `fd` is ready for `events` (POLLIN, POLLOUT), `efd` (a
 * transport's shutdown eventfd) becomes readable or *down is set
 * (XMIG_ECANCELED), or `deadline` passes (XMIG_ETIMEDOUT). 0 also when the
 * descriptor is in error: the next I/O call tells which error. XMIG_EIO
 * leaves errno set. Shared by the fd and TLS transports.
 */
int xmig__wait_ready(int fd, short events, int efd, atomic_int *down, uint64_t deadline);

/* A parsed address (see xmig/transport.h for the forms). */
struct xmig__addr {
	int is_unix;
	/* tcp */
	char host[256];     /* without the brackets */
	int host_bracketed; /* "[v6]:port": numeric IPv6 only */
	char port[6];       /* decimal, for getaddrinfo */
	unsigned int port_num;
	/* unix */
	struct sockaddr_un un;
	socklen_t un_len;
};

/*
 * Parse `address` strictly. Port 0 is accepted only when `for_listen`.
 * Fails with XMIG_EINVAL and a message naming the problem.
 */
int xmig__addr_parse(struct xmig__addr *a, const char *address, int for_listen);

/* Resolve a parsed TCP address (freeaddrinfo the result). */
int xmig__addr_resolve(const struct xmig__addr *a, int passive, struct addrinfo **res);

/* "127.0.0.1:7000" or "[::1]:7000" for a socket address. */
void xmig__sockaddr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* TCP_NODELAY and 4 MiB buffers; best effort, failures are ignored. */
void xmig__tcp_tune(int fd);

/*
 * Does a process listen on the unix socket file of `a` (unix_probe.c)? 1
 * yes, 0 no (a stale socket), -1 cannot tell (no socket there, say). Never
 * connects to a listener it can see, so it never disturbs one.
 */
int xmig__unix_listening(const struct xmig__addr *a);

#endif

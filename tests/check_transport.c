/* SPDX-License-Identifier: MIT */
/*
 * The shipped transports: fd (socketpair, pipe), file, TCP (IPv4, IPv6),
 * unix sockets; timeouts, end of stream, shutdown from another thread and
 * from a signal handler, SIGPIPE, address parsing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "transport/internal.h"
#include "xmig/errors.h"
#include "xmig/sys/transport.h"
#include "xmig/transport.h"

#define CK_MSG_HAS(needle)                                                            \
	ck_assert_msg(strstr(xmig_error_last(), (needle)) != NULL,                    \
		      "message '%s' does not mention '%s'", xmig_error_last(), (needle))

static double ms_since(uint64_t start_ns)
{
	return (double)(xmig__now_ns() - start_ns) / 1e6;
}

static int fd_of(struct xmig_transport *t)
{
	struct xmig__fd_transport *ft = (struct xmig__fd_transport *)t;

	return ft->rfd >= 0 ? ft->rfd : ft->wfd;
}

/* ---- payloads: >1024 entries of varying sizes, every byte checked ---- */

#define PAYLOAD_ENTRIES XMIG_TEST_PAYLOAD_ENTRIES

/* About 6 MiB in PAYLOAD_ENTRIES pieces of 0..12 KiB. */
static void payload_make(struct test_payload *p, uint32_t seed)
{
	uint32_t r = seed | 1;
	size_t sizes[PAYLOAD_ENTRIES], len = 0;

	for (int i = 0; i < PAYLOAD_ENTRIES; i++) {
		r = r * 1103515245u + 12345u;
		sizes[i] = i % 97 == 5 ? 0 : (r >> 8) % 12289;
		if (i % 211 == 7)
			sizes[i] = 1;
		len += sizes[i];
	}
	ck_assert_uint_gt(len, 4u << 20);
	test_payload_fill(p, seed, sizes);
}

/* Read in pieces of odd sizes, so reads end inside the writer's entries. */
static const size_t read_pieces[] = { 1, 7, 4096, 65536, 3, 1 << 20, 12289 };

/* Send a payload from `w` to `r`, read in a thread, and check it. */
static void roundtrip(struct xmig_transport *w, struct xmig_transport *r, uint32_t seed)
{
	struct test_payload *p = calloc(1, sizeof(*p));
	struct test_reader rd = { .t = r, .pieces = read_pieces,
				  .npieces = XMIG__ARRAY_SIZE(read_pieces) };
	pthread_t th;

	ck_assert_ptr_nonnull(p);
	payload_make(p, seed);
	rd.len = p->len;
	rd.buf = malloc(p->len);
	ck_assert_ptr_nonnull(rd.buf);
	ck_assert_int_eq(pthread_create(&th, NULL, test_reader_main, &rd), 0);
	CK_RC(w->ops->writev(w, p->iov, PAYLOAD_ENTRIES), 0);
	ck_assert_msg(memcmp(p->iov, p->copy, sizeof(p->iov)) == 0,
		      "writev changed the caller's iovec array");
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(rd.rc == 0, "reader: %s: %s", xmig_error_name(rd.rc), rd.msg);
	test_payload_check(rd.buf, rd.len, seed);
	free(rd.buf);
	free(p->buf);
	free(p);
}

/* ---- fd transport ---- */

START_TEST(test_socketpair_roundtrip)
{
	struct xmig_transport *a, *b;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&a, sv[0], sv[0], XMIG_FD_OWN), 0);
	CK_RC(xmig_transport_fd(&b, sv[1], sv[1], XMIG_FD_OWN), 0);
	ck_assert_str_eq(a->ops->name, "fd");
	ck_assert_uint_eq(a->ops->version, XMIG_TRANSPORT_OPS_VERSION);
	ck_assert_uint_eq(a->flags & XMIG_TRANSPORT_DUPLEX, XMIG_TRANSPORT_DUPLEX);
	roundtrip(a, b, 1);
	roundtrip(b, a, 2);
	/* Nothing to write and nothing to read are no-ops. */
	CK_RC(a->ops->writev(a, NULL, 0), 0);
	CK_RC(a->ops->read(a, NULL, 0, 0), 0);
	xmig_transport_close(a);
	xmig_transport_close(b);
}
END_TEST

static void pipe_roundtrip(int nonblocking)
{
	struct xmig_transport *w, *r;
	int p[2], fl;
	char c;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)), 0);
	CK_RC(xmig_transport_fd(&w, -1, p[1], XMIG_FD_OWN), 0);
	CK_RC(xmig_transport_fd(&r, p[0], -1, XMIG_FD_OWN), 0);
	ck_assert_uint_eq(w->flags & XMIG_TRANSPORT_DUPLEX, 0);
	ck_assert_uint_eq(r->flags & XMIG_TRANSPORT_DUPLEX, 0);
	roundtrip(w, r, 3);
	/* The caller's descriptor keeps its flags. */
	fl = fcntl(p[1], F_GETFL);
	ck_assert_int_eq(!!(fl & O_NONBLOCK), nonblocking);
	/* One-way: the wrong direction is refused, not attempted. */
	CK_RC(w->ops->read(w, &c, 1, 0), XMIG_ENOTSUP);
	CK_RC(r->ops->writev(r, &(struct iovec){ &c, 1 }, 1), XMIG_ENOTSUP);
	/* Closing the writer (and any private reopen of it) ends the stream. */
	xmig_transport_close(w);
	CK_RC(r->ops->read(r, &c, 1, 5000), XMIG_EEOF);
	xmig_transport_close(r);
}

START_TEST(test_pipe_roundtrip)
{
	pipe_roundtrip(0);
}
END_TEST

START_TEST(test_pipe_nonblocking_roundtrip)
{
	pipe_roundtrip(1);
}
END_TEST

/* Undo the private non-blocking reopen: what a machine without /proc gets. */
static void force_poll_mode(struct xmig_transport *t)
{
	struct xmig__fd_transport *ft = (struct xmig__fd_transport *)t;

	if (ft->wio != ft->wfd)
		close(ft->wio);
	ft->wio = ft->wfd;
	ft->wmode = XMIG__FD_POLL;
	ft->wcap = PIPE_BUF;
}

START_TEST(test_pipe_poll_mode_roundtrip)
{
	struct xmig_transport *w, *r;
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&w, -1, p[1], XMIG_FD_OWN), 0);
	CK_RC(xmig_transport_fd(&r, p[0], -1, XMIG_FD_OWN), 0);
	force_poll_mode(w);
	roundtrip(w, r, 4);
	xmig_transport_close(w);
	xmig_transport_close(r);
}
END_TEST

START_TEST(test_fd_arguments)
{
	struct xmig_transport *t = (void *)1;
	int sv[2], fd;

	CK_RC(xmig_transport_fd(&t, -1, -1, 0), XMIG_EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&t, sv[0], sv[0], 0x80), XMIG_EINVAL);
	CK_MSG_HAS("flags");
	fd = dup(sv[0]);
	close(fd);
	CK_RC(xmig_transport_fd(&t, fd, -1, 0), XMIG_EINVAL);
	CK_MSG_HAS("descriptor");

	/* Without XMIG_FD_OWN the descriptors outlive the transport... */
	CK_RC(xmig_transport_fd(&t, sv[0], sv[0], 0), 0);
	xmig_transport_close(t);
	ck_assert_int_ne(fcntl(sv[0], F_GETFD), -1);
	/* ...with it, close() closes them. */
	CK_RC(xmig_transport_fd(&t, sv[0], sv[0], XMIG_FD_OWN), 0);
	xmig_transport_close(t);
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	close(sv[1]);

	xmig_transport_close(NULL);
	xmig_listener_close(NULL);
	ck_assert_uint_eq(xmig_listener_port(NULL), 0);
}
END_TEST

/* ---- file transport ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xmig-check-transport-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

START_TEST(test_file_write_read)
{
	struct xmig_transport *t;
	struct test_payload *p = calloc(1, sizeof(*p));
	char path[128], c;
	struct stat st;
	uint8_t *back;
	size_t done;
	FILE *f;

	ck_assert_ptr_nonnull(p);
	make_tmpdir();
	snprintf(path, sizeof(path), "%s/stream", tmpdir);
	umask(022);
	/* Longer than the stream: for_write must truncate it. */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < (8 << 20); i++)
		fputc('x', f);
	fclose(f);

	payload_make(p, 5);
	CK_RC(xmig_transport_file(&t, path, 1), 0);
	ck_assert_str_eq(t->ops->name, "file");
	ck_assert_uint_eq(t->flags & XMIG_TRANSPORT_DUPLEX, 0);
	CK_RC(t->ops->writev(t, p->iov, PAYLOAD_ENTRIES), 0);
	CK_RC(t->ops->writev(t, p->iov, 1), 0);
	CK_RC(t->ops->read(t, &c, 1, 0), XMIG_ENOTSUP);
	xmig_transport_close(t);

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((size_t)st.st_size, p->len + p->iov[0].iov_len);

	back = malloc(p->len);
	ck_assert_ptr_nonnull(back);
	CK_RC(xmig_transport_file(&t, path, 0), 0);
	ck_assert_uint_eq(t->flags & XMIG_TRANSPORT_DUPLEX, 0);
	for (done = 0; done < p->len; done += 100000) {
		size_t n = p->len - done < 100000 ? p->len - done : 100000;

		CK_RC(t->ops->read(t, back + done, n, -1), 0);
	}
	test_payload_check(back, p->len, 5);
	/* The repeated first entry, then the end part-way through a read. */
	CK_RC(t->ops->read(t, back, p->iov[0].iov_len, -1), 0);
	CK_RC(t->ops->read(t, back, 10, 1000), XMIG_EEOF);
	CK_MSG_HAS("0 of 10");
	CK_RC(t->ops->writev(t, p->iov, 1), XMIG_ENOTSUP);
	xmig_transport_close(t);

	/* Created 0600 (the stream holds guest memory). */
	unlink(path);
	CK_RC(xmig_transport_file(&t, path, 1), 0);
	xmig_transport_close(t);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	unlink(path);

	/* A character device: written whole, and reads end at once. */
	CK_RC(xmig_transport_file(&t, "/dev/null", 1), 0);
	CK_RC(t->ops->writev(t, p->iov, PAYLOAD_ENTRIES), 0);
	xmig_transport_close(t);
	CK_RC(xmig_transport_file(&t, "/dev/null", 0), 0);
	CK_RC(t->ops->read(t, back, 1, 1000), XMIG_EEOF);
	xmig_transport_close(t);

	CK_RC(xmig_transport_file(&t, path, 0), XMIG_EIO);
	ck_assert_ptr_null(t);
	CK_MSG_HAS(path);
	CK_MSG_HAS("No such file");
	ck_assert_int_eq(rmdir(tmpdir), 0);
	free(back);
	free(p->buf);
	free(p);
}
END_TEST

/* ---- TCP and unix sockets ---- */

/* Connect to `address` and accept it on `l`: a connected pair. */
static void connect_pair(struct xmig_listener *l, const char *address, struct xmig_transport **c,
			 struct xmig_transport **s)
{
	CK_RC(xmig_transport_connect(c, address, 5000), 0);
	CK_RC(xmig_listener_accept(l, s, 5000), 0);
	ck_assert_uint_eq((*c)->flags & XMIG_TRANSPORT_DUPLEX, XMIG_TRANSPORT_DUPLEX);
	ck_assert_uint_eq((*s)->flags & XMIG_TRANSPORT_DUPLEX, XMIG_TRANSPORT_DUPLEX);
}

static void check_nodelay(struct xmig_transport *t)
{
	int v = 0;
	socklen_t len = sizeof(v);

	ck_assert_int_eq(getsockopt(fd_of(t), IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	ck_assert_msg(v != 0, "TCP_NODELAY is not set");
}

/* A short exchange both ways. */
static void ping(struct xmig_transport *a, struct xmig_transport *b)
{
	char buf[6] = "";

	CK_RC(a->ops->writev(a, &(struct iovec){ "hello", 5 }, 1), 0);
	CK_RC(b->ops->read(b, buf, 5, 5000), 0);
	ck_assert_str_eq(buf, "hello");
	CK_RC(b->ops->writev(b, &(struct iovec){ "world", 5 }, 1), 0);
	CK_RC(a->ops->read(a, buf, 5, 5000), 0);
	ck_assert_str_eq(buf, "world");
}

START_TEST(test_tcp_ipv4)
{
	struct xmig_listener *l;
	struct xmig_transport *c, *s;
	char address[64];
	unsigned int port;

	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	port = xmig_listener_port(l);
	ck_assert_uint_ne(port, 0);

	snprintf(address, sizeof(address), "127.0.0.1:%u", port);
	connect_pair(l, address, &c, &s);
	ck_assert_str_eq(c->ops->name, "tcp");
	ck_assert_str_eq(s->ops->name, "tcp");
	check_nodelay(c);
	check_nodelay(s);
	roundtrip(c, s, 6);
	roundtrip(s, c, 7);
	xmig_transport_close(c);
	xmig_transport_close(s);

	snprintf(address, sizeof(address), "tcp:127.0.0.1:%u", port);
	connect_pair(l, address, &c, &s);
	ping(c, s);
	xmig_transport_close(c);
	xmig_transport_close(s);

	/* A name, resolved (it may also resolve to ::1, where nobody listens). */
	snprintf(address, sizeof(address), "localhost:%u", port);
	connect_pair(l, address, &c, &s);
	ping(c, s);
	xmig_transport_close(c);
	xmig_transport_close(s);
	xmig_listener_close(l);

	/* The IPv4 wildcard. */
	CK_RC(xmig_listener_open(&l, "tcp:0.0.0.0:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	connect_pair(l, address, &c, &s);
	ping(c, s);
	xmig_transport_close(c);
	xmig_transport_close(s);
	xmig_listener_close(l);
}
END_TEST

static int have_ipv6_loopback(void)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0) {
		fprintf(stderr, "\n*** check_transport: SKIPPING the IPv6 test: no IPv6 sockets (%s) ***\n\n",
			strerror(errno));
		return 0;
	}
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (!ok)
		fprintf(stderr,
			"\n*** check_transport: SKIPPING the IPv6 test: cannot bind [::1] (%s) ***\n\n",
			strerror(errno));
	close(fd);
	return ok;
}

START_TEST(test_tcp_ipv6)
{
	struct xmig_listener *l;
	struct xmig_transport *c, *s;
	char address[64];
	unsigned int port;

	if (!have_ipv6_loopback())
		return;
	CK_RC(xmig_listener_open(&l, "[::1]:0"), 0);
	port = xmig_listener_port(l);
	ck_assert_uint_ne(port, 0);
	snprintf(address, sizeof(address), "[::1]:%u", port);
	connect_pair(l, address, &c, &s);
	ck_assert_str_eq(c->ops->name, "tcp");
	check_nodelay(c);
	check_nodelay(s);
	roundtrip(c, s, 8);
	ping(c, s);
	xmig_transport_close(c);
	xmig_transport_close(s);
	snprintf(address, sizeof(address), "tcp:[::1]:%u", port);
	connect_pair(l, address, &c, &s);
	ping(c, s);
	xmig_transport_close(c);
	xmig_transport_close(s);
	xmig_listener_close(l);

	/* "[::]" listens on IPv6 only (IPV6_V6ONLY). */
	CK_RC(xmig_listener_open(&l, "[::]:0"), 0);
	port = xmig_listener_port(l);
	snprintf(address, sizeof(address), "[::1]:%u", port);
	connect_pair(l, address, &c, &s);
	ping(c, s);
	xmig_transport_close(c);
	xmig_transport_close(s);
	snprintf(address, sizeof(address), "127.0.0.1:%u", port);
	CK_RC(xmig_transport_connect(&c, address, 2000), XMIG_EIO);
	xmig_listener_close(l);
}
END_TEST

START_TEST(test_unix_socket)
{
	struct xmig_listener *l, *l2;
	struct xmig_transport *c, *s;
	char address[128];
	struct stat st;

	make_tmpdir();
	snprintf(address, sizeof(address), "unix:%s/sock", tmpdir);
	CK_RC(xmig_listener_open(&l, address), 0);
	ck_assert_uint_eq(xmig_listener_port(l), 0);
	connect_pair(l, address, &c, &s);
	ck_assert_str_eq(c->ops->name, "unix");
	ck_assert_str_eq(s->ops->name, "unix");
	roundtrip(c, s, 9);
	roundtrip(s, c, 10);
	xmig_transport_close(c);
	xmig_transport_close(s);

	/* The path is taken; a failed listener must not remove it, nor
	 * disturb the live one by connecting to it (the ping below). */
	CK_RC(xmig_listener_open(&l2, address), XMIG_EIO);
	CK_MSG_HAS("in use");
	CK_MSG_HAS("another program listens");
	ck_assert_int_eq(stat(address + 5, &st), 0);
	connect_pair(l, address, &c, &s);
	ping(c, s);
	xmig_transport_close(c);
	xmig_transport_close(s);

	xmig_listener_close(l);
	ck_assert_int_eq(stat(address + 5, &st), -1);
	CK_RC(xmig_transport_connect(&c, address, 1000), XMIG_EIO);
	CK_MSG_HAS(address);
	CK_MSG_HAS("No such file");
	ck_assert_int_eq(rmdir(tmpdir), 0);
}
END_TEST

/* A socket file nobody listens on is named stale, with the hint; never removed. */
START_TEST(test_unix_stale_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct xmig_listener *l;
	char address[128];
	struct stat st;
	int fd;

	make_tmpdir();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale", tmpdir);
	snprintf(address, sizeof(address), "unix:%s", sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* as a receiver that was killed leaves it */
	CK_RC(xmig_listener_open(&l, address), XMIG_EIO);
	CK_MSG_HAS("in use");
	CK_MSG_HAS("stale socket, nobody listens on it");
	CK_MSG_HAS("rm '");
	ck_assert_int_eq(stat(sa.sun_path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(unlink(sa.sun_path), 0);

	/* A file that is no socket is left alone too, and named as such. */
	fd = open(sa.sun_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	CK_RC(xmig_listener_open(&l, address), XMIG_EIO);
	CK_MSG_HAS("is not a socket");
	ck_assert_int_eq(stat(sa.sun_path, &st), 0);
	ck_assert_int_eq(unlink(sa.sun_path), 0);

	/* Once removed, the path can be listened on. */
	CK_RC(xmig_listener_open(&l, address), 0);
	xmig_listener_close(l);
	ck_assert_int_eq(rmdir(tmpdir), 0);
}
END_TEST

/* A listener whose backlog is full makes connect() wait: bounded by the timeout. */
START_TEST(test_unix_connect_timeout)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct xmig_transport *c[10];
	char address[128];
	uint64_t start;
	int fd, rc = 0, n;

	make_tmpdir();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/full", tmpdir);
	snprintf(address, sizeof(address), "unix:%s", sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 0), 0);
	for (n = 0; n < 10; n++) {
		start = xmig__now_ns();
		rc = xmig_transport_connect(&c[n], address, 200);
		if (rc)
			break;
	}
	CK_RC(rc, XMIG_ETIMEDOUT);
	ck_assert_double_ge(ms_since(start), 150);
	ck_assert_double_lt(ms_since(start), 2000);
	while (n-- > 0)
		xmig_transport_close(c[n]);
	close(fd);
	unlink(sa.sun_path);
	ck_assert_int_eq(rmdir(tmpdir), 0);
}
END_TEST

START_TEST(test_accept_timeout)
{
	struct xmig_listener *l;
	struct xmig_transport *t = (void *)1;
	uint64_t start;

	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	start = xmig__now_ns();
	CK_RC(xmig_listener_accept(l, &t, 200), XMIG_ETIMEDOUT);
	ck_assert_ptr_null(t);
	ck_assert_double_ge(ms_since(start), 150);
	ck_assert_double_lt(ms_since(start), 2000);
	CK_MSG_HAS("no connection");
	xmig_listener_close(l);
}
END_TEST

START_TEST(test_connect_closed_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct xmig_transport *t = (void *)1;
	char address[64], port[16];
	int fd;

	/* Bound but not listening: the port is ours, and connecting is refused. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	snprintf(address, sizeof(address), "127.0.0.1:%s", port);
	CK_RC(xmig_transport_connect(&t, address, 2000), XMIG_EIO);
	ck_assert_ptr_null(t);
	CK_MSG_HAS("127.0.0.1");
	CK_MSG_HAS(port);
	CK_MSG_HAS("refused");
	close(fd);
}
END_TEST

/* ---- addresses ---- */

static const struct {
	const char *address, *problem;
} bad_connect[] = {
	{ "", "empty address" },
	{ "127.0.0.1", "missing port" },
	{ "127.0.0.1:", "missing port" },
	{ "tcp:", "missing port" },
	{ "localhost:http", "not a number" },
	{ "127.0.0.1:-1", "not a number" },
	{ "127.0.0.1:+80", "not a number" },
	{ "127.0.0.1: 80", "not a number" },
	{ "127.0.0.1:80x", "not a number" },
	{ "127.0.0.1:0", "port 0" },
	{ "127.0.0.1:65536", "out of range" },
	{ "127.0.0.1:99999999999999999999999", "out of range" },
	{ ":80", "empty host" },
	{ "tcp::80", "empty host" },
	{ "[]:80", "empty host" },
	{ "[::1]", "missing port" },
	{ "[::1]:", "missing port" },
	{ "[::1:80", "closing ']'" },
	{ "[::1]80", "expected ':'" },
	{ "::1:80", "brackets" },
	{ "[127.0.0.1]:80", "not a numeric IPv6 address" },
	{ "unix:", "empty unix socket path" },
	{ "file:/tmp/stream", "xmig_transport_file" },
};

START_TEST(test_bad_addresses)
{
	struct xmig_transport *t;
	struct xmig_listener *l;
	char longpath[300];

	for (size_t i = 0; i < XMIG__ARRAY_SIZE(bad_connect); i++) {
		t = (void *)1;
		CK_RC(xmig_transport_connect(&t, bad_connect[i].address, 1000), XMIG_EINVAL);
		ck_assert_ptr_null(t);
		ck_assert_msg(strstr(xmig_error_last(), bad_connect[i].problem),
			      "'%s': message '%s' does not mention '%s'", bad_connect[i].address,
			      xmig_error_last(), bad_connect[i].problem);
	}
	CK_RC(xmig_transport_connect(&t, NULL, 1000), XMIG_EINVAL);

	/* A unix path that does not fit is refused, not cut short. */
	snprintf(longpath, sizeof(longpath), "unix:/tmp/%0200d", 7);
	CK_RC(xmig_transport_connect(&t, longpath, 1000), XMIG_EINVAL);
	CK_MSG_HAS("longer than");
	CK_RC(xmig_listener_open(&l, longpath), XMIG_EINVAL);
	CK_MSG_HAS("longer than");

	l = (void *)1;
	CK_RC(xmig_listener_open(&l, "127.0.0.1:65536"), XMIG_EINVAL);
	ck_assert_ptr_null(l);
	CK_MSG_HAS("out of range");
	CK_RC(xmig_listener_open(&l, "127.0.0.1"), XMIG_EINVAL);
	CK_MSG_HAS("missing port");
	CK_RC(xmig_listener_open(&l, ":0"), XMIG_EINVAL);
	CK_MSG_HAS("empty host");
	CK_RC(xmig_listener_open(&l, "[::1]"), XMIG_EINVAL);
	CK_MSG_HAS("missing port");
	CK_RC(xmig_listener_open(&l, "::1:0"), XMIG_EINVAL);
	CK_MSG_HAS("brackets");
}
END_TEST

/* ---- timeouts and end of stream ---- */

START_TEST(test_read_timeout)
{
	struct xmig_transport *a, *b, *r;
	char buf[16];
	uint64_t start;
	int sv[2], p[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&a, sv[0], sv[0], XMIG_FD_OWN), 0);
	CK_RC(xmig_transport_fd(&b, sv[1], sv[1], XMIG_FD_OWN), 0);

	start = xmig__now_ns();
	CK_RC(a->ops->read(a, buf, sizeof(buf), 300), XMIG_ETIMEDOUT);
	ck_assert_double_ge(ms_since(start), 250);
	ck_assert_double_lt(ms_since(start), 2000);
	CK_MSG_HAS("timed out");

	/* Part of the data is no better than none. */
	CK_RC(b->ops->writev(b, &(struct iovec){ "abc", 3 }, 1), 0);
	start = xmig__now_ns();
	CK_RC(a->ops->read(a, buf, sizeof(buf), 200), XMIG_ETIMEDOUT);
	ck_assert_double_ge(ms_since(start), 150);
	CK_MSG_HAS("3 of 16");

	/* 0 polls once. */
	CK_RC(a->ops->read(a, buf, 1, 0), XMIG_ETIMEDOUT);
	CK_RC(b->ops->writev(b, &(struct iovec){ "d", 1 }, 1), 0);
	CK_RC(a->ops->read(a, buf, 1, 0), 0);
	ck_assert_int_eq(buf[0], 'd');
	xmig_transport_close(a);
	xmig_transport_close(b);

	/* A blocking pipe. */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&r, p[0], -1, XMIG_FD_OWN), 0);
	start = xmig__now_ns();
	CK_RC(r->ops->read(r, buf, sizeof(buf), 200), XMIG_ETIMEDOUT);
	ck_assert_double_ge(ms_since(start), 150);
	ck_assert_double_lt(ms_since(start), 2000);
	xmig_transport_close(r);
	close(p[1]);
}
END_TEST

START_TEST(test_eof_partway)
{
	struct xmig_transport *a, *r;
	char buf[10];
	int sv[2], p[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&a, sv[0], sv[0], XMIG_FD_OWN), 0);
	ck_assert_int_eq(write(sv[1], "12345", 5), 5);
	close(sv[1]);
	CK_RC(a->ops->read(a, buf, sizeof(buf), -1), XMIG_EEOF);
	CK_MSG_HAS("5 of 10");
	xmig_transport_close(a);

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&r, p[0], -1, XMIG_FD_OWN), 0);
	ck_assert_int_eq(write(p[1], "123", 3), 3);
	close(p[1]);
	CK_RC(r->ops->read(r, buf, sizeof(buf), 5000), XMIG_EEOF);
	CK_MSG_HAS("3 of 10");
	xmig_transport_close(r);
}
END_TEST

/* ---- shutdown ---- */

struct later {
	struct xmig_transport *t;
	int ms;
};

static void *shutdown_later(void *arg)
{
	struct later *l = arg;

	usleep((useconds_t)l->ms * 1000);
	l->t->ops->shutdown(l->t);
	return NULL;
}

static int is_shutdown_error(int rc)
{
	return rc == XMIG_ECANCELED || rc == XMIG_EIO;
}

/* `t` must be blocked in read; shut it down from a thread. */
static void check_read_unblocked(struct xmig_transport *t)
{
	struct later l = { t, 200 };
	char buf[64];
	uint64_t start = xmig__now_ns();
	pthread_t th;
	int rc;

	ck_assert_int_eq(pthread_create(&th, NULL, shutdown_later, &l), 0);
	rc = t->ops->read(t, buf, sizeof(buf), -1);
	ck_assert_msg(is_shutdown_error(rc), "read after shutdown: %s (%s)", xmig_error_name(rc),
		      xmig_error_last());
	ck_assert_double_lt(ms_since(start), 1000);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	/* And it stays down. */
	rc = t->ops->read(t, buf, 1, 0);
	ck_assert_msg(is_shutdown_error(rc), "later read: %s", xmig_error_name(rc));
}

/* `t` must be blocked in writev; shut it down from a thread. */
static void check_write_unblocked(struct xmig_transport *t)
{
	const size_t len = 16u << 20;
	struct later l = { t, 200 };
	uint64_t start = xmig__now_ns();
	struct iovec v;
	pthread_t th;
	int rc;

	v.iov_base = calloc(1, len);
	v.iov_len = len;
	ck_assert_ptr_nonnull(v.iov_base);
	ck_assert_int_eq(pthread_create(&th, NULL, shutdown_later, &l), 0);
	rc = t->ops->writev(t, &v, 1);
	ck_assert_msg(is_shutdown_error(rc), "writev after shutdown: %s (%s)", xmig_error_name(rc),
		      xmig_error_last());
	ck_assert_double_lt(ms_since(start), 1000);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	v.iov_len = 1;
	rc = t->ops->writev(t, &v, 1);
	ck_assert_msg(is_shutdown_error(rc), "later writev: %s", xmig_error_name(rc));
	free(v.iov_base);
}

START_TEST(test_shutdown_unblocks_read)
{
	struct xmig_transport *a, *r;
	int sv[2], p[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&a, sv[0], sv[0], XMIG_FD_OWN), 0);
	check_read_unblocked(a);
	xmig_transport_close(a);
	close(sv[1]);

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&r, p[0], -1, XMIG_FD_OWN), 0);
	check_read_unblocked(r);
	xmig_transport_close(r);
	close(p[1]);
}
END_TEST

START_TEST(test_shutdown_unblocks_tcp_read)
{
	struct xmig_listener *l;
	struct xmig_transport *c, *s;
	char address[64];

	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	connect_pair(l, address, &c, &s);
	check_read_unblocked(s);
	xmig_transport_close(c);
	xmig_transport_close(s);
	xmig_listener_close(l);
}
END_TEST

START_TEST(test_shutdown_unblocks_write)
{
	struct xmig_transport *a, *w;
	int sv[2], p[2];

	/* Nobody reads the other end: the write fills the buffer and waits. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&a, sv[0], sv[0], XMIG_FD_OWN), 0);
	check_write_unblocked(a);
	xmig_transport_close(a);
	close(sv[1]);

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&w, -1, p[1], XMIG_FD_OWN), 0);
	check_write_unblocked(w);
	xmig_transport_close(w);
	close(p[0]);

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&w, -1, p[1], XMIG_FD_OWN), 0);
	force_poll_mode(w);
	check_write_unblocked(w);
	xmig_transport_close(w);
	close(p[0]);
}
END_TEST

static struct xmig_transport *alarm_target;

static void on_alarm(int sig)
{
	(void)sig;
	alarm_target->ops->shutdown(alarm_target);
}

START_TEST(test_shutdown_from_signal_handler)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = { .it_value = { 0, 200000 } };
	struct xmig_transport *a;
	char buf[8];
	uint64_t start;
	int sv[2], rc;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&a, sv[0], sv[0], XMIG_FD_OWN), 0);
	alarm_target = a;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	start = xmig__now_ns();
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	rc = a->ops->read(a, buf, sizeof(buf), 5000);
	ck_assert_msg(is_shutdown_error(rc), "read: %s (%s)", xmig_error_name(rc),
		      xmig_error_last());
	ck_assert_double_lt(ms_since(start), 1000);
	xmig_transport_close(a);
	close(sv[1]);
}
END_TEST

/* ---- SIGPIPE ---- */

/* Make sure a stray SIGPIPE would kill this test process. */
static void sigpipe_default(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static int sigpipe_pending(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigpending(&set);
	return sigismember(&set, SIGPIPE);
}

static int sigpipe_blocked(void)
{
	sigset_t set;

	pthread_sigmask(SIG_BLOCK, NULL, &set);
	return sigismember(&set, SIGPIPE);
}

static void check_write_to_closed(struct xmig_transport *t)
{
	static char data[100000];
	struct iovec v[2] = { { data, sizeof(data) }, { data, 10 } };

	int rc, err;

	errno = 0;
	rc = t->ops->writev(t, v, 2);
	err = errno;
	CK_RC(rc, XMIG_EIO);
	ck_assert_msg(err == EPIPE || err == ECONNRESET, "errno %d (%s)", err, strerror(err));
	CK_MSG_HAS("write failed");
	ck_assert_int_eq(sigpipe_pending(), 0);
	ck_assert_int_eq(sigpipe_blocked(), 0);
}

START_TEST(test_write_closed_peer)
{
	struct xmig_transport *t;
	int sv[2], p[2];

	sigpipe_default();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CK_RC(xmig_transport_fd(&t, sv[0], sv[0], XMIG_FD_OWN), 0);
	close(sv[1]);
	check_write_to_closed(t);
	xmig_transport_close(t);

	/* Reader gone after the transport was made (non-blocking reopen)... */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&t, -1, p[1], XMIG_FD_OWN), 0);
	close(p[0]);
	check_write_to_closed(t);
	xmig_transport_close(t);

	/* ...and before (no reopen possible: poll, then write). */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	CK_RC(xmig_transport_fd(&t, -1, p[1], XMIG_FD_OWN), 0);
	check_write_to_closed(t);
	xmig_transport_close(t);
}
END_TEST

START_TEST(test_write_closed_tcp_peer)
{
	struct xmig_listener *l;
	struct xmig_transport *c, *s;
	char address[64];

	sigpipe_default();
	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	connect_pair(l, address, &c, &s);
	xmig_transport_close(s);
	/* The first write may be taken before the reset comes back. */
	for (int i = 0; i < 100; i++) {
		static char data[65536];
		struct iovec v = { data, sizeof(data) };
		int rc = c->ops->writev(c, &v, 1), err = errno;

		if (rc) {
			ck_assert_int_eq(rc, XMIG_EIO);
			ck_assert_msg(err == EPIPE || err == ECONNRESET, "errno %d", err);
			break;
		}
		ck_assert_int_lt(i, 99);
		usleep(10000);
	}
	xmig_transport_close(c);
	xmig_listener_close(l);
}
END_TEST

/* A SIGPIPE that was pending before belongs to the caller: leave it. */
START_TEST(test_foreign_sigpipe_kept)
{
	struct xmig_transport *t;
	sigset_t set;
	char c = 0;
	int p[2], sig;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	raise(SIGPIPE);
	ck_assert_int_eq(sigpipe_pending(), 1);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	CK_RC(xmig_transport_fd(&t, -1, p[1], XMIG_FD_OWN), 0);
	close(p[0]);
	CK_RC(t->ops->writev(t, &(struct iovec){ &c, 1 }, 1), XMIG_EIO);
	ck_assert_int_eq(sigpipe_pending(), 1);
	ck_assert_int_eq(sigpipe_blocked(), 1);
	ck_assert_int_eq(sigwait(&set, &sig), 0);
	ck_assert_int_eq(sig, SIGPIPE);
	xmig_transport_close(t);
}
END_TEST

/* A peer that accepts nothing: the write gives up after write_timeout_ms. */
START_TEST(test_write_timeout)
{
	static char big[4 << 20];
	struct xmig_transport *t;
	struct iovec v = { big, sizeof(big) };
	struct timespec a, b;
	int sv[2], rc;
	double ms;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(xmig_transport_fd(&t, sv[0], sv[0], XMIG_FD_OWN), 0);
	t->write_timeout_ms = 200;
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = t->ops->writev(t, &v, 1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	ck_assert_int_eq(rc, XMIG_ETIMEDOUT);
	ck_assert_msg(ms >= 150 && ms < 5000, "gave up after %.0f ms", ms);
	xmig_transport_close(t);
	close(sv[1]);
}
END_TEST

static Suite *transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc;

	tc = tcase_create("fd");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_socketpair_roundtrip);
	tcase_add_test(tc, test_write_timeout);
	tcase_add_test(tc, test_pipe_roundtrip);
	tcase_add_test(tc, test_pipe_nonblocking_roundtrip);
	tcase_add_test(tc, test_pipe_poll_mode_roundtrip);
	tcase_add_test(tc, test_fd_arguments);
	tcase_add_test(tc, test_file_write_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("socket");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tcp_ipv4);
	tcase_add_test(tc, test_tcp_ipv6);
	tcase_add_test(tc, test_unix_socket);
	tcase_add_test(tc, test_unix_stale_socket);
	tcase_add_test(tc, test_unix_connect_timeout);
	tcase_add_test(tc, test_accept_timeout);
	tcase_add_test(tc, test_connect_closed_port);
	tcase_add_test(tc, test_bad_addresses);
	suite_add_tcase(s, tc);

	tc = tcase_create("failure");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_read_timeout);
	tcase_add_test(tc, test_eof_partway);
	tcase_add_test(tc, test_shutdown_unblocks_read);
	tcase_add_test(tc, test_shutdown_unblocks_tcp_read);
	tcase_add_test(tc, test_shutdown_unblocks_write);
	tcase_add_test(tc, test_shutdown_from_signal_handler);
	tcase_add_test(tc, test_write_closed_peer);
	tcase_add_test(tc, test_write_closed_tcp_peer);
	tcase_add_test(tc, test_foreign_sigpipe_kept);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(transport_suite());
}

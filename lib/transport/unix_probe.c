/* SPDX-License-Identifier: MIT */
/*
 * Does anyone listen on a unix socket file? Asked when bind() finds the
 * path taken, to tell a live receiver from a stale socket.
 *
 * Connecting would answer, but a live listener would accept that
 * connection as a sender's: a receiver started twice by mistake would break
 * the first one's migration. So we first ask the kernel (sock_diag, what
 * `ss -xl` uses) for the listening unix sockets of this network namespace
 * and look for the file's inode among them; only when none has it do we
 * connect, which then either is refused (stale) or reaches a listener of
 * another namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

#define UNIX_LISTEN_STATE 10 /* TCP_LISTEN, which unix sockets use too */

/* sock_diag gives the device as the kernel encodes it: major << 20 | minor. */
static int same_file(const struct unix_diag_vfs *v, const struct stat *st)
{
	return v->udiag_vfs_ino == (uint32_t)st->st_ino &&
	       v->udiag_vfs_dev >> 20 == major(st->st_dev) &&
	       (v->udiag_vfs_dev & 0xfffff) == minor(st->st_dev);
}

/* Does one listening socket of this message sit on the file `st`? */
static int msg_matches(const struct nlmsghdr *h, const struct stat *st)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a = (const struct rtattr *)(m + 1);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == UNIX_DIAG_VFS &&
		    RTA_PAYLOAD(a) >= sizeof(struct unix_diag_vfs) && same_file(RTA_DATA(a), st))
			return 1;
	return 0;
}

/* 1: a socket of this namespace listens on `st`; 0: none does; -1: unknown. */
static int diag_listening(const struct stat *st)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} q = {
		.nlh = { .nlmsg_len = sizeof(q), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = 1u << UNIX_LISTEN_STATE,
			 .udiag_show = UDIAG_SHOW_VFS },
	};
	_Alignas(struct nlmsghdr) char buf[16384];
	int fd, found = 0, rc = -1;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	if (send(fd, &q, sizeof(q), 0) != (ssize_t)sizeof(q))
		goto out;
	while (rc < 0) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				rc = found;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				goto out;
			found |= msg_matches(h, st);
		}
	}
out:
	close(fd);
	return rc;
}

int xmig__unix_listening(const struct xmig__addr *a)
{
	struct stat st;
	int fd, rc, err;

	if (stat(a->un.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -1;
	rc = diag_listening(&st);
	if (rc != 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)&a->un, a->un_len);
	err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN)
		return 1;
	return err == ECONNREFUSED ? 0 : -1;
}

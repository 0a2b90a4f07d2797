/* SPDX-License-Identifier: MIT */
/* Parsing, checking and opening the tools' stream endpoints (see endpoint.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint.h"
#include "tls_opts.h"
#include "toolutil.h"
#include "transport/internal.h"
#include "xmig/sys/backend.h"
#include "xmig/transport.h"

static void set_id(struct endpoint *ep, const struct stat *st)
{
	ep->have_id = 1;
	ep->dev = st->st_dev;
	ep->ino = st->st_ino;
}

/*
 * Is the stream's file the one behind descriptor `fd`? A character device
 * that is no terminal (/dev/null) holds nothing a message could corrupt.
 */
static int same_as_fd(const struct endpoint *ep, int fd)
{
	struct stat st;

	return ep->have_id && fstat(fd, &st) == 0 && !S_ISCHR(st.st_mode) &&
	       st.st_dev == ep->dev && st.st_ino == ep->ino;
}

/* The tool's messages must never land in the stream. */
static void check_stdio(struct endpoint *ep)
{
	if ((ep->kind == ENDPOINT_FD && ep->fd == STDERR_FILENO) ||
	    same_as_fd(ep, STDERR_FILENO))
		usage_error("%s '%s': stderr goes there too, and this tool's messages would "
			    "corrupt the stream; redirect stderr elsewhere", ep->opt, ep->spec);
	if ((ep->kind == ENDPOINT_FD && ep->fd == STDOUT_FILENO) ||
	    same_as_fd(ep, STDOUT_FILENO))
		ep->on_stdout = 1;
}

/* `n` must be open in the stream's direction; `what` names it in messages. */
static void parse_fd(struct endpoint *ep, int n, const char *what)
{
	int send = ep->dir == ENDPOINT_SEND;
	struct stat st;
	int fl, acc;

	ep->kind = ENDPOINT_FD;
	ep->fd = n;
	fl = fcntl(n, F_GETFL);
	if (fl < 0 || fstat(n, &st) < 0)
		usage_error("%s '%s': %s is not open", ep->opt, ep->spec, what);
	acc = fl & O_ACCMODE;
	if (send ? acc == O_RDONLY : acc == O_WRONLY)
		usage_error("%s '%s': %s is open for %s only", ep->opt, ep->spec, what,
			    acc == O_RDONLY ? "reading" : "writing");
	if (isatty(n))
		usage_error("%s '%s': %s is a terminal; %s", ep->opt, ep->spec, what,
			    send ? "redirect it to a file or a pipe" : "redirect a stream into it");
	set_id(ep, &st);
	check_stdio(ep);
}

/* fd:N. A socket carries answers back too: then it is a live migration. */
static void parse_fd_number(struct endpoint *ep, const char *s)
{
	char what[32];
	struct stat st;
	long v = 0;

	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > INT_MAX / 10)
			usage_error("%s '%s': N in fd:N must be a descriptor number", ep->opt,
				    ep->spec);
		v = v * 10 + (*p - '0');
	}
	if (!*s || v > INT_MAX)
		usage_error("%s '%s': N in fd:N must be a descriptor number", ep->opt, ep->spec);
	snprintf(what, sizeof(what), "descriptor %ld", v);
	parse_fd(ep, (int)v, what);
	ep->own_fd = 1;
	ep->duplex = fstat((int)v, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* file:PATH that a sender writes: never over an existing file by accident. */
static void parse_save_file(struct endpoint *ep)
{
	const char *path = ep->path;
	struct stat st, lst;
	int have = stat(path, &st) == 0;
	char *dir;

	if (have) {
		set_id(ep, &st);
		/* file:/dev/stdout, or the very file stdout goes to: that is --to -. */
		if (same_as_fd(ep, STDOUT_FILENO)) {
			parse_fd(ep, STDOUT_FILENO, "stdout");
			return;
		}
		if (S_ISDIR(st.st_mode))
			usage_error("%s '%s': '%s' is a directory", ep->opt, ep->spec, path);
		check_stdio(ep);
		/* A named pipe or a device is written in place: nothing to replace. */
		if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
			ep->in_place = 1;
			return;
		}
	}
	if (lstat(path, &lst) == 0) {
		if (!ep->force)
			usage_error("%s '%s': '%s' exists; use --force to overwrite it", ep->opt,
				    ep->spec, path);
		ep->in_place = have && S_ISBLK(st.st_mode);
		ep->exists = 1;
		return;
	}
	if (errno != ENOENT)
		usage_error("%s '%s': cannot use '%s': %s", ep->opt, ep->spec, path, strerror(errno));
	dir = save_file_dir(path);
	if (!dir || access(dir, W_OK | X_OK) < 0)
		usage_error("%s '%s': cannot create a file in '%s': %s", ep->opt, ep->spec,
			    dir ? dir : path, dir ? strerror(errno) : "out of memory");
	free(dir);
}

/* file:PATH that a receiver reads. */
static void parse_read_file(struct endpoint *ep)
{
	struct stat st;

	if (stat(ep->path, &st) < 0 || access(ep->path, R_OK) < 0)
		usage_error("%s '%s': cannot read '%s': %s", ep->opt, ep->spec, ep->path,
			    strerror(errno));
	if (S_ISDIR(st.st_mode))
		usage_error("%s '%s': '%s' is a directory", ep->opt, ep->spec, ep->path);
	set_id(ep, &st);
	check_stdio(ep);
}

void endpoint_parse(struct endpoint *ep, const char *opt, const char *spec,
		    enum endpoint_dir dir, int force)
{
	int socket_only = dir == ENDPOINT_LISTEN || dir == ENDPOINT_CONNECT;
	struct xmig__addr a;

	memset(ep, 0, sizeof(*ep));
	ep->opt = opt;
	ep->spec = spec;
	ep->dir = dir;
	ep->fd = -1;
	ep->force = force;
	ep->save.fd = -1;
	if (socket_only && (!strcmp(spec, "-") || !strncmp(spec, "fd:", 3) ||
			    !strncmp(spec, "file:", 5)))
		usage_error("%s '%s': give a socket address (HOST:PORT, [V6]:PORT or unix:PATH)",
			    opt, spec);
	if (!strcmp(spec, "-")) {
		if (dir == ENDPOINT_SEND) {
			parse_fd(ep, STDOUT_FILENO, "stdout");
		} else {
			parse_fd(ep, STDIN_FILENO, "stdin");
			ep->whole = 1;
		}
	} else if (!strncmp(spec, "fd:", 3)) {
		parse_fd_number(ep, spec + 3);
	} else if (dir == ENDPOINT_RECV && !strcmp(spec, "stdio")) {
		int fl = fcntl(STDOUT_FILENO, F_GETFL);

		parse_fd(ep, STDIN_FILENO, "stdin");
		if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY || isatty(STDOUT_FILENO))
			usage_error("%s stdio: stdout carries the answers: it must be open for "
				    "writing and not a terminal", opt);
		ep->stdio = 1;
		ep->duplex = 1;
		ep->on_stdout = 1;
	} else if (!strncmp(spec, "file:", 5)) {
		ep->kind = ENDPOINT_FILE;
		ep->path = spec + 5;
		if (!*ep->path)
			usage_error("%s '%s': empty path (expected file:PATH)", opt, spec);
		if (dir == ENDPOINT_SEND)
			parse_save_file(ep);
		else
			parse_read_file(ep);
	} else if (dir == ENDPOINT_RECV) {
		usage_error("%s '%s': give file:PATH, -, fd:N or stdio (to receive over the "
			    "network, use --listen)", opt, spec);
	} else if (xmig__addr_parse(&a, spec, dir == ENDPOINT_LISTEN) < 0) {
		usage_error("%s: %s", opt, xmig_error_last());
	} else {
		ep->kind = ENDPOINT_NET;
		ep->duplex = 1;
	}
}

int endpoint_holds(const struct endpoint *ep, const char *path)
{
	struct stat st;

	if (!strcmp(path, "-"))
		return ep->on_stdout;
	if (ep->kind == ENDPOINT_FILE && !strcmp(path, ep->path))
		return 1;
	return ep->have_id && stat(path, &st) == 0 && !S_ISCHR(st.st_mode) &&
	       st.st_dev == ep->dev && st.st_ino == ep->ino;
}

/* A new file, or one replaced: through a temporary file (savefile.h). */
static int open_save(struct endpoint *ep, struct xmig_transport **out)
{
	struct stat st;
	char *target = NULL;
	int rc;

	/* Through a symbolic link, replace the file it names, not the link. */
	if (lstat(ep->path, &st) == 0 && S_ISLNK(st.st_mode))
		target = realpath(ep->path, NULL);
	rc = save_file_create(&ep->save, target ? target : ep->path, ep->force);
	free(target);
	if (rc < 0)
		return XMIG_EIO;
	rc = xmig__fd_transport_new(out, -1, ep->save.fd, 0, XMIG__KIND_FILE);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		save_file_discard(&ep->save);
	}
	return rc;
}

int endpoint_open(struct endpoint *ep, struct xmig_transport **out, int connect_ms)
{
	int send = ep->dir == ENDPOINT_SEND;
	unsigned int flags = (ep->own_fd ? XMIG_FD_OWN : 0) | (ep->whole ? XMIG_FD_WHOLE : 0);
	int rc;

	*out = NULL;
	if (ep->tls && tls_opts_on(ep->tls) && ep->kind == ENDPOINT_NET)
		rc = tls_opts_connect(ep->tls, out, ep->spec, connect_ms);
	else if (ep->stdio)
		rc = xmig_transport_fd(out, STDIN_FILENO, STDOUT_FILENO, 0);
	else if (ep->tls && tls_opts_on(ep->tls))
		rc = tls_opts_fd(ep->tls, out, ep->fd, send ? XMIG_TLS_CLIENT : XMIG_TLS_SERVER,
				 ep->own_fd ? XMIG_FD_OWN : 0);
	else if (ep->kind == ENDPOINT_NET)
		rc = xmig_transport_connect(out, ep->spec, connect_ms);
	else if (ep->kind == ENDPOINT_FD)
		rc = xmig_transport_fd(out, send && !ep->duplex ? -1 : ep->fd,
				       send || ep->duplex ? ep->fd : -1, flags);
	else if (!send || ep->in_place)
		rc = xmig_transport_file(out, ep->path, send);
	else
		return open_save(ep, out);
	if (rc < 0)
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
	return rc;
}

int endpoint_reconnect(struct endpoint *ep, struct xmig_transport **out, int connect_ms)
{
	*out = NULL;
	if (ep->kind != ENDPOINT_NET)
		return xmig_backend_error(XMIG_EINVAL, "%s %s is no address to connect to again",
					  ep->opt, ep->spec);
	if (ep->tls && tls_opts_on(ep->tls))
		return tls_opts_connect(ep->tls, out, ep->spec, connect_ms);
	return xmig_transport_connect(out, ep->spec, connect_ms);
}

int endpoint_close(struct endpoint *ep, struct xmig_transport *t, int keep)
{
	int rc = 0, fd;

	xmig_transport_close(t);
	if (ep->save.tmp) {
		if (keep) {
			rc = save_file_commit(&ep->save);
		} else {
			save_file_discard(&ep->save);
			fprintf(stderr, "%s: the incomplete stream was removed: '%s' %s\n",
				tool_name, ep->path, ep->exists ? "is as it was" : "was not created");
		}
	}
	if (ep->on_stdout && ep->dir == ENDPOINT_SEND) {
		/* The reader waits for the end of the stream, not for our exit. */
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
	}
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* xmig_transport_file: a stream saved to, or replayed from, a file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"
#include "xmig/transport.h"

XMIG__API int xmig_transport_file(struct xmig_transport **out, const char *path, int for_write)
{
	int fd, rc;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "xmig_transport_file: out is NULL");
	*out = NULL;
	if (!path || !*path)
		return xmig__fail(XMIG_EINVAL, "file transport: empty path");
	/* A saved stream holds guest memory: readable by its owner only. */
	if (for_write)
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xmig__fail_errno(XMIG_EIO, "file transport: open '%s' for %s", path,
					for_write ? "writing" : "reading");
	/* One-way: a file carries no answers back, so never DUPLEX. */
	rc = xmig__fd_transport_new(out, for_write ? -1 : fd, for_write ? fd : -1, 1,
				    XMIG__KIND_FILE);
	if (rc)
		close(fd);
	else if (!for_write)
		(*out)->flags |= XMIG_TRANSPORT_WHOLE;
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the whole receive path. The input is a stream, read as
 * a file would be (the transport is the whole stream), restored into a sim
 * destination with small limits. Every outcome is fine except a crash, a
 * sanitizer report, a leak or a hang: the receiver must reject what it
 * cannot take, with a message, and free everything.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xmig/backend/sim.h"
#include "xmig/session.h"
#include "xmig/sys/backend.h"
#include "xmig/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_transport *t = NULL;
	struct xmig_backend *dst = NULL;
	struct xmig_session *s = NULL;
	size_t done = 0;
	int fd;

	fd = memfd_create("xmig-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	if (xmig_transport_fd(&t, fd, -1, XMIG_FD_OWN | XMIG_FD_WHOLE) < 0)
		abort();
	if (xmig_sim_new_dest(&dst) < 0)
		abort();
	rp.max_mem_bytes = 64u << 20; /* a guest of 16384 pages at most */
	rp.max_vcpus = 8;
	rp.timeout_ms = 2000;
	rp.log_level = -1;
	if (xmig_recv_new(&s, dst, t, &rp) == 0)
		(void)xmig_session_run(s);
	xmig_session_free(s);
	dst->ops->free(dst);
	xmig_transport_close(t);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The transport interface: how the engine moves bytes.
 *
 * A transport carries the stream from sender to receiver and, when it is
 * duplex, the receiver's answers (READY, DONE, errors) back. xmig ships fd,
 * TCP and unix-socket transports (see xmig/transport.h); a toolstack may
 * bring its own by embedding `struct xmig_transport` first in its state and
 * filling in this table. Every hook must be implemented.
 *
 * Threading: one thread uses a transport at a time, except `shutdown`,
 * which may be called from any thread to make blocked calls fail promptly.
 */
#ifndef XMIG_SYS_TRANSPORT_H
#define XMIG_SYS_TRANSPORT_H

#include <stddef.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 2: read's timeout bounds the whole call (a deadline), no longer the
 * silence between bytes, so a peer that trickles bytes cannot hold a read.
 */
#define XMIG_TRANSPORT_OPS_VERSION 2

/* Capability flags of a transport. */
#define XMIG_TRANSPORT_DUPLEX 0x1u /* can read what the peer writes back */
/*
 * The transport carries one stream and nothing else, to its very end (a
 * file read back): a receiver checks that nothing follows END. Without it
 * (a socket, a pipe shared with a toolstack) the receiver stops reading at
 * END and leaves whatever follows to its owner.
 */
#define XMIG_TRANSPORT_WHOLE 0x2u

struct xmig_transport;

struct xmig_transport_ops {
	unsigned int version; /* XMIG_TRANSPORT_OPS_VERSION */
	const char *name;     /* "fd", "tcp", "unix", ... */

	/*
	 * Write all of `iov` (iovcnt <= 1030), retrying short writes and EINTR;
	 * return 0 once everything was accepted, or a negative XMIG_E* code
	 * (XMIG_EIO, with errno set; XMIG_ETIMEDOUT if the peer accepted
	 * nothing for write_timeout_ms). The buffers may be guest memory: the
	 * transport must not keep pointers to them after returning.
	 */
	int (*writev)(struct xmig_transport *t, const struct iovec *iov, int iovcnt);

	/*
	 * Read exactly `len` bytes. Return 0, XMIG_EEOF if the peer closed the
	 * stream (even part-way), XMIG_ETIMEDOUT if the `len` bytes did not all
	 * arrive within `timeout_ms` of the call (>= 0: a deadline for the
	 * whole read, however the bytes trickle in), or XMIG_EIO. timeout_ms <
	 * 0 waits for ever. Never read more than `len` bytes from the
	 * underlying channel: what follows a stream may belong to someone else.
	 */
	int (*read)(struct xmig_transport *t, void *buf, size_t len, int timeout_ms);

	/* Make every blocked or later call fail; async-signal and thread safe. */
	void (*shutdown)(struct xmig_transport *t);

	/* Release the transport (closing descriptors it owns). */
	void (*close)(struct xmig_transport *t);
};

/* The base of every transport: embed it first. */
struct xmig_transport {
	const struct xmig_transport_ops *ops;
	unsigned int flags; /* XMIG_TRANSPORT_* */
	/*
	 * The longest a writev may wait while the peer accepts nothing, in ms;
	 * 0 waits for ever. A session sets it from its timeout when it runs, so
	 * a peer that stops reading cannot hold a migration (and a paused
	 * guest) for ever.
	 */
	int write_timeout_ms;
};

#ifdef __cplusplus
}
#endif
#endif

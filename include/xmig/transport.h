/* SPDX-License-Identifier: MIT */
/*
 * The transports xmig ships: file descriptors, TCP and unix sockets.
 *
 * Addresses, as the tools accept them:
 *   HOST:PORT, tcp:HOST:PORT   TCP; HOST is a name, an IPv4 address or an
 *                              IPv6 address in brackets ("[::1]:7000")
 *   unix:PATH                  a unix stream socket
 *   file:PATH                  a file (one-way; see xmig_transport_file)
 *   -, fd:N                    stdout or stdin, an inherited descriptor (the
 *                              tools' own forms, on xmig_transport_fd)
 *
 * Functions that are not tied to a session leave a one-line description of
 * their last failure in xmig_error_last() (per thread).
 */
#ifndef XMIG_TRANSPORT_H
#define XMIG_TRANSPORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xmig_transport;
struct xmig_listener;

/* Flags of xmig_transport_fd. */
#define XMIG_FD_OWN 0x1u   /* close the descriptors in close() */
#define XMIG_FD_WHOLE 0x2u /* rfd carries one stream to its end: data after END
			      is an error (XMIG_TRANSPORT_WHOLE) */

/*
 * Wrap descriptors: `rfd` to read from and `wfd` to write to (the same
 * descriptor for a socket; -1 for a direction that is not used). The
 * transport is duplex when both are given.
 */
int xmig_transport_fd(struct xmig_transport **out, int rfd, int wfd, unsigned int flags);

/*
 * Open a file to write a stream to (created/truncated) or read one from; a
 * file read back is the whole stream (XMIG_TRANSPORT_WHOLE): bytes after
 * END make the receiver fail.
 */
int xmig_transport_file(struct xmig_transport **out, const char *path, int for_write);

/*
 * Connect to a "HOST:PORT", "tcp:HOST:PORT" or "unix:PATH" address, trying
 * every address the name resolves to. timeout_ms < 0 waits for ever.
 * TCP sockets get TCP_NODELAY and large buffers.
 */
int xmig_transport_connect(struct xmig_transport **out, const char *address, int timeout_ms);

/*
 * Listen on an address of the same forms ("HOST:0" picks a free port). A
 * unix:PATH that exists is never removed; the message says whether another
 * program listens there, the file is no socket, or it is a stale socket
 * nobody listens on (to remove if no program uses it).
 */
int xmig_listener_open(struct xmig_listener **out, const char *address);

/* The bound TCP port (useful after ":0"), or 0 for a unix socket. */
unsigned int xmig_listener_port(const struct xmig_listener *l);

/* Accept one connection; timeout_ms < 0 waits for ever. */
int xmig_listener_accept(struct xmig_listener *l, struct xmig_transport **out, int timeout_ms);

/* Stop listening (and unlink a unix socket's path). */
void xmig_listener_close(struct xmig_listener *l);

/* Release a transport made by any constructor (calls its ops->close). */
void xmig_transport_close(struct xmig_transport *t);

/* The description of this thread's last failure of a session-less call. */
const char *xmig_error_last(void);

#ifdef __cplusplus
}
#endif
#endif

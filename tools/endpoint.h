/* SPDX-License-Identifier: MIT */
/*
 * Where a tool's stream goes to or comes from, as the command line names it:
 *
 *   HOST:PORT, [V6]:PORT, tcp:..., unix:PATH   a socket (xmig/transport.h)
 *   file:PATH                                  a file
 *   -                                          stdout (--to), stdin (--from)
 *   fd:N                                       a descriptor the tool inherited
 *   stdio                                      (--from) the stream on stdin,
 *                                              the answers on stdout: the far
 *                                              end of `xmig-send --ssh`
 *
 * endpoint_parse() checks everything the command line alone can tell (the
 * syntax, a port's range, an empty path, a descriptor that is not open, a
 * file that exists) before any guest starts or any connection is made;
 * endpoint_open() then opens it. A stream never shares a file with the
 * tool's own output: one on stdout sends every message to stderr
 * (`on_stdout`), and one that is the same file as stderr is refused.
 */
#ifndef XMIG_TOOLS_ENDPOINT_H
#define XMIG_TOOLS_ENDPOINT_H

#include <sys/types.h>

#include "savefile.h"

struct tls_opts;
struct xmig_transport;

enum endpoint_dir {
	ENDPOINT_SEND,    /* --to: any form */
	ENDPOINT_RECV,    /* --from: file:PATH, - or fd:N */
	ENDPOINT_LISTEN,  /* --listen: a socket address (port 0 allowed) */
	ENDPOINT_CONNECT, /* --forward-to: a socket address */
};

enum endpoint_kind { ENDPOINT_NET, ENDPOINT_FILE, ENDPOINT_FD };

struct endpoint {
	const char *opt;  /* the option, for messages */
	const char *spec; /* its value, as given */
	enum endpoint_dir dir;
	enum endpoint_kind kind;
	const char *path; /* ENDPOINT_FILE */
	int fd;           /* ENDPOINT_FD: the descriptor (- is 1 or 0) */
	int own_fd;       /* fd:N: the tool's to close when the stream ends */
	int whole;        /* - of --from: the stream is all of stdin */
	int duplex;       /* answers come back: a socket, or fd:N of a socket */
	int stdio;        /* --from stdio: read stdin, answer on stdout */
	int on_stdout;    /* the stream is this process's stdout */
	int in_place;     /* file:PATH written directly: a FIFO or a device */
	int force;        /* --force: file:PATH may replace an existing file */
	int exists;       /* file:PATH of a sender existed (and --force was given) */
	int have_id;      /* dev/ino identify the stream's file */
	dev_t dev;
	ino_t ino;
	struct save_file save;
	/* TLS on the stream (set by the tool after tls_opts_check()); NULL: none */
	const struct tls_opts *tls;
};

/*
 * Parse and check `spec`, the value of `opt`; on a problem exit with a
 * usage error (2) naming both. `force` allows replacing an existing file.
 */
void endpoint_parse(struct endpoint *ep, const char *opt, const char *spec,
		    enum endpoint_dir dir, int force);

/* Would writing `path` (- for stdout) write into the stream's file? */
int endpoint_holds(const struct endpoint *ep, const char *path);

/*
 * Open a parsed endpoint (ENDPOINT_SEND or ENDPOINT_RECV) as a transport:
 * with `tls` set, a TLS client (--to) or server (--from fd:N of a socket)
 * whose handshake is done when this returns. 0, or < 0 with the reason
 * printed.
 */
int endpoint_open(struct endpoint *ep, struct xmig_transport **out, int connect_ms);

/*
 * A new connection to a network endpoint (ENDPOINT_NET: HOST:PORT or
 * unix:PATH), TLS as for endpoint_open: for an outcome query after a lost
 * connection. 0, or < 0 with the reason in xmig_error_last() (not printed).
 */
int endpoint_reconnect(struct endpoint *ep, struct xmig_transport **out, int connect_ms);

/*
 * Close the transport. `keep`: the stream is complete, so a saved file is
 * synced and renamed into place; otherwise what was written of it is
 * removed. A stream on stdout is followed by /dev/null there, so its reader
 * sees the end at once. 0, or -1 with the reason printed.
 */
int endpoint_close(struct endpoint *ep, struct xmig_transport *t, int keep);

#endif

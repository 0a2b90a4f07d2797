/* SPDX-License-Identifier: MIT */
/*
 * The tools' --tls-* options (xmig-send and xmig-recv): parsed, checked
 * against the endpoint before anything runs, and used to open the stream
 * over the TLS transport (xmig/tls.h).
 *
 * Any --tls-* option puts the network endpoint (HOST:PORT, unix:PATH, or
 * fd:N of a socket) on TLS; on file:, - or fd:N of a pipe or a file it is
 * a usage error. A build without TLS (no XMIG_HAVE_TLS) knows the options
 * and refuses each of them with a usage error that says so.
 */
#ifndef XMIG_TOOLS_TLS_OPTS_H
#define XMIG_TOOLS_TLS_OPTS_H

#include <getopt.h>

#include "xmig/tls.h"

struct endpoint;
struct xmig_listener;
struct xmig_transport;

enum {
	OPT_TLS_CA = 512, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_PEER_NAME, OPT_TLS_PSK_IDENTITY,
	OPT_TLS_PSK_FILE, OPT_TLS_HANDSHAKE_TIMEOUT,
};

/* The entries of a tool's getopt_long table. */
#define TLS_OPTS_LONG                                                              \
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },                         \
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },                     \
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },                       \
	{ "tls-peer-name", required_argument, NULL, OPT_TLS_PEER_NAME },           \
	{ "tls-psk-identity", required_argument, NULL, OPT_TLS_PSK_IDENTITY },     \
	{ "tls-psk-file", required_argument, NULL, OPT_TLS_PSK_FILE },             \
	{ "tls-handshake-timeout", required_argument, NULL, OPT_TLS_HANDSHAKE_TIMEOUT }

/* The options' part of --help. */
#define TLS_OPTS_USAGE                                                                   \
	"TLS (TLS 1.3, both sides authenticated; docs/security.md):\n"                  \
	"  --tls-ca FILE           X.509: the CA (PEM) the peer's certificate must\n"   \
	"                          chain to; needs --tls-cert and --tls-key\n"           \
	"  --tls-cert FILE         X.509: our certificate (PEM, a chain may follow)\n"   \
	"  --tls-key FILE          X.509: our private key (PEM, not encrypted)\n"        \
	"  --tls-peer-name NAME    X.509, optional: the DNS name or IP address the\n"    \
	"                          peer's certificate must carry (default: any\n"        \
	"                          certificate the CA signed)\n"                         \
	"  --tls-psk-identity NAME PSK (labs; instead of X.509): the identity\n"         \
	"  --tls-psk-file FILE     PSK: the key, 32 to 128 hex digits\n"                 \
	"  --tls-handshake-timeout DUR  the whole handshake's deadline (default 30s)\n"

struct tls_opts {
	struct xmig_tls_params p;
	const char *first; /* the first --tls-* option given; NULL: no TLS */
};

void tls_opts_init(struct tls_opts *t);

/*
 * Take option `c` if it is one of TLS_OPTS_LONG: returns 1, or exits with a
 * usage error (a build without TLS refuses every one). 0: not ours.
 */
int tls_opts_parse(struct tls_opts *t, int c, const char *arg);

/*
 * With any --tls-* option given: check that the options form one mode,
 * that their files can be read, and that `ep` is a stream TLS can run on;
 * exits with a usage error naming the option (and file) otherwise.
 */
void tls_opts_check(const struct tls_opts *t, const struct endpoint *ep);

/* Is TLS on? */
static inline int tls_opts_on(const struct tls_opts *t)
{
	return t->first != NULL;
}

/* The client's side: connect to `address` and run the handshake. */
int tls_opts_connect(const struct tls_opts *t, struct xmig_transport **out, const char *address,
		     int timeout_ms);

/* TLS on a connected socket `fd` in `role` (XMIG_TLS_CLIENT/SERVER). */
int tls_opts_fd(const struct tls_opts *t, struct xmig_transport **out, int fd, int role,
		unsigned int flags);

/*
 * Wait up to `timeout_ms` for a connection on `l`, then run the server's
 * handshake. `*arrived` tells the caller whether a connection came, so that
 * a handshake that timed out is not taken for a wait that timed out.
 */
int tls_opts_accept(const struct tls_opts *t, struct xmig_listener *l,
		    struct xmig_transport **out, int timeout_ms, int *arrived);

#endif

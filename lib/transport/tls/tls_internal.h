/* SPDX-License-Identifier: MIT */
/* Internals of the TLS transport (lib/transport/tls/; never installed). */
#ifndef XMIG_LIB_TLS_INTERNAL_H
#define XMIG_LIB_TLS_INTERNAL_H

#include <gnutls/gnutls.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "xmig/sys/transport.h"
#include "xmig/tls.h"

/*
 * TLS 1.3 and nothing else. With PSK, only the ECDHE variant (TLS 1.3's
 * psk_dhe_ke): the key exchange is ephemeral, so the session has forward
 * secrecy although the key is long-lived.
 */
#define XMIG__TLS_PRIORITY_X509 "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define XMIG__TLS_PRIORITY_PSK "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK"

/* The most plaintext one TLS record carries (RFC 8446, 5.1). */
#define XMIG__TLS_RECORD 16384

/* The byte a server sends once it accepted the client (see xmig/tls.h). */
#define XMIG__TLS_ACCEPTED 0x01

/* How long close() waits for the socket to take close_notify. */
#define XMIG__TLS_BYE_MS 1000

#define XMIG__TLS_NAME_MAX 255 /* peer_name */
#define XMIG__TLS_PSK_MAX_IDENTITY 128
#define XMIG__TLS_PSK_MIN_KEY 16
#define XMIG__TLS_PSK_MAX_KEY 64

/* What the credentials are, and what the handshake needs to explain itself. */
struct xmig__tls_creds {
	int psk; /* PSK mode, else X.509 */
	gnutls_certificate_credentials_t x509;
	gnutls_psk_client_credentials_t psk_client;
	gnutls_psk_server_credentials_t psk_server;
	/* PSK server: the one identity and key it accepts */
	char identity[XMIG__TLS_PSK_MAX_IDENTITY + 1];
	uint8_t key[XMIG__TLS_PSK_MAX_KEY];
	size_t key_len;
	/* X.509: what the peer's certificate is verified for (GnuTLS keeps a pointer) */
	gnutls_typed_vdata_st vdata[2];
	char peer_name[XMIG__TLS_NAME_MAX + 1];
	/* PSK server: set when a client asked for another identity */
	int unknown_identity;
	char asked_identity[XMIG__TLS_PSK_MAX_IDENTITY + 1];
};

struct xmig__tls_transport {
	struct xmig_transport base;
	gnutls_session_t session;
	struct xmig__tls_creds creds;
	int fd;
	int own;           /* close fd in close() */
	int efd;           /* eventfd that shutdown() makes readable */
	int server;
	int established;   /* the handshake completed: close() says goodbye */
	int broken;        /* a write failed part-way: the session cannot go on */
	atomic_int down;   /* set by shutdown(); async-signal safe */
	uint64_t pushed;   /* bytes the socket took, to tell progress from stalls */
	int sock_errno;    /* what the last failed push or pull said */
	int sock_eof;      /* the socket read end of file */
	char peer[128];    /* "10.0.0.2:7000", for messages */
	size_t staged;     /* bytes in stage[] */
	uint8_t stage[XMIG__TLS_RECORD]; /* small iovec entries, gathered into records */
};

/*
 * A transport around the connected socket `fd`, without the handshake:
 * GnuTLS session, credentials (from `p`), I/O callbacks. On failure
 * nothing is left and `fd` is not closed.
 */
int xmig__tls_new(struct xmig__tls_transport **out, int fd, int server, const char *peer,
		  const struct xmig_tls_params *p);

/* Run the handshake and the server's confirmation within p's deadline. */
int xmig__tls_handshake(struct xmig__tls_transport *t, const struct xmig_tls_params *p);

/* Release the transport (without close_notify if the handshake did not finish). */
void xmig__tls_free(struct xmig__tls_transport *t);

/*
 * Wait until the socket is ready for what GnuTLS was last blocked on
 * (gnutls_record_get_direction), shutdown() is called or `deadline`
 * passes: 0, XMIG_ECANCELED, XMIG_ETIMEDOUT or XMIG_EIO (errno set).
 */
int xmig__tls_wait(struct xmig__tls_transport *t, uint64_t deadline);

/* Load the credentials `p` names (X.509 files or PSK) into `c`. */
int xmig__tls_creds_load(struct xmig__tls_creds *c, int server, const struct xmig_tls_params *p);

/* Attach the credentials to a session (and, X.509, what to verify). */
int xmig__tls_creds_attach(struct xmig__tls_creds *c, gnutls_session_t s, int server,
			   const struct xmig_tls_params *p);

/* Free the credentials and wipe the key material. */
void xmig__tls_creds_free(struct xmig__tls_creds *c);

/*
 * Turn the handshake's failure `err` (a GnuTLS code) into this thread's
 * message and an XMIG_E* code: which side refused, and why.
 */
int xmig__tls_handshake_failed(struct xmig__tls_transport *t, const struct xmig_tls_params *p,
			       int err);

/* "the server" or "the client": the peer of `t`, for messages. */
const char *xmig__tls_peer_role(const struct xmig__tls_transport *t);

#endif

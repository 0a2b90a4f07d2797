/* SPDX-License-Identifier: MIT */
/*
 * The TLS transport: a stream over TCP (or a unix socket) with mutual
 * authentication and encryption, on GnuTLS.
 *
 * Present when libxmig was built with GnuTLS (CMake option XMIG_WITH_TLS,
 * AUTO by default: on when libgnutls28-dev is installed); the build then
 * defines XMIG_HAVE_TLS for its users, as it defines XMIG_HAVE_XEN.
 *
 * What it guarantees:
 *  - TLS 1.3 only. A peer that offers an older version is refused.
 *  - Both sides authenticate, in one of two modes (exactly one per call):
 *      X.509: each side presents its certificate and proves it holds the
 *        key; each side requires the other's certificate and verifies it
 *        against its own CA file: signature chain, validity period (an
 *        expired or not yet valid certificate is refused), and extended key
 *        usage if the certificate has one (the server's must allow TLS
 *        server authentication, the client's TLS client authentication).
 *        A client that sends no certificate is refused by the server.
 *      PSK: both sides hold the same identity and key. For labs and test
 *        rigs, where a CA is a burden: a pre-shared key alone has no
 *        forward secrecy (whoever later learns the key can decrypt a
 *        recorded session), so xmig only offers PSK with an ephemeral
 *        ECDHE exchange (TLS 1.3 psk_dhe_ke), which restores it; the key
 *        still authenticates both sides, so anyone who has it can send or
 *        receive guests. Use X.509 in production.
 *  - The handshake is done when the constructor returns, within
 *    handshake_timeout_ms: a peer that fails authentication (wrong CA,
 *    expired certificate, no client certificate, wrong PSK) is refused
 *    before a single byte of the xmig stream is read or written. To make
 *    that hold for the client too (in TLS 1.3 a client finishes its
 *    handshake before the server has checked the client's certificate),
 *    the server confirms with one byte once it accepted the client, and
 *    the client's constructor waits for it: a refusal reaches the client
 *    as the server's TLS alert, in its constructor. Both ends must be
 *    xmig's TLS transport.
 *  - The transport then behaves as xmig/sys/transport.h says: writev writes
 *    everything or fails (write_timeout_ms applies), read reads exactly
 *    `len` bytes within its deadline. Decrypted bytes beyond what a read
 *    asked for stay in the TLS transport for the next read (the socket
 *    belongs to TLS: nothing else reads it).
 *  - End of stream is authenticated: a peer that closes properly sends a
 *    TLS close_notify and a read then fails with XMIG_EEOF; a connection
 *    cut without one (a crash, or an attacker truncating the stream) fails
 *    with XMIG_EIO and says so, never as a silent short stream.
 *  - close() sends close_notify (waiting at most a second for the socket to
 *    take it) and closes the socket.
 *
 * Errors of the constructors (the reason in xmig_error_last()):
 *   XMIG_EINVAL    bad parameters; a credential file that cannot be read or
 *                  parsed (its name is in the message)
 *   XMIG_EAUTH     authentication failed, on our side or the peer's. The
 *                  message says which side refused and why, e.g.
 *                  "TLS with 10.0.0.2:7000: the server's certificate
 *                  'CN=dst' is not signed by the CA in /etc/xmig/ca.pem",
 *                  "... has expired (not after 2024-05-01 12:00:00 UTC)",
 *                  "... the client sent no certificate",
 *                  "... the server refused our certificate (TLS alert:
 *                  Certificate is bad)", "... the pre-shared keys differ"
 *   XMIG_EPROTO    the peer does not speak TLS 1.3 (or not TLS at all)
 *   XMIG_ETIMEDOUT the connection (connect, accept) or the handshake did
 *                  not complete in time
 *   XMIG_EIO       the connection failed or was closed during the handshake
 *   XMIG_ENOMEM
 *
 * How to use it (sender and receiver):
 *
 *     struct xmig_tls_params tp = XMIG_TLS_PARAMS_INIT;
 *     tp.ca_file = "/etc/xmig/ca.pem";
 *     tp.cert_file = "/etc/xmig/host.pem";
 *     tp.key_file = "/etc/xmig/host.key";
 *     tp.peer_name = "dst.example.org";          // sender: whom we expect
 *     rc = xmig_tls_connect(&t, "dst.example.org:7000", 10000, &tp);
 *
 *     rc = xmig_listener_open(&l, "0.0.0.0:7000");
 *     rc = xmig_tls_accept(&t, l, -1, &tp);       // receiver
 *
 * and then xmig_send_new()/xmig_recv_new() on `t` as on any transport.
 */
#ifndef XMIG_TLS_H
#define XMIG_TLS_H

#ifdef __cplusplus
extern "C" {
#endif

struct xmig_transport;
struct xmig_listener;

#define XMIG_TLS_PARAMS_VERSION 1

struct xmig_tls_params {
	unsigned int version; /* XMIG_TLS_PARAMS_VERSION */

	/*
	 * X.509 mode: all three files are required, on both sides. PEM files;
	 * the certificate file may hold a chain (ours first, then
	 * intermediates). The key must not be encrypted.
	 */
	const char *ca_file;   /* the CA(s) the peer's certificate must chain to */
	const char *cert_file; /* our certificate */
	const char *key_file;  /* our private key */
	/*
	 * X.509 mode, optional: the name the peer's certificate must carry, a
	 * DNS name or an IP address matched against its subjectAltName (or
	 * its CN when it has none), by RFC 6125's rules. A client sets the
	 * server's name; a server may set the one client it accepts. NULL:
	 * no name is checked, and any certificate the CA signed (and that is
	 * valid and fit for the purpose) is accepted: the CA then decides
	 * alone who may connect, which is right for a CA that signs only the
	 * hosts of one migration domain and wrong for a public or shared one.
	 */
	const char *peer_name;

	/*
	 * PSK mode (instead of the X.509 files): the identity (printable
	 * ASCII, 1..128 bytes) and a file holding the key as hexadecimal
	 * digits (16 to 64 bytes of key, i.e. 32 to 128 digits; whitespace
	 * around them is ignored), e.g. made by
	 *     od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > key.hex
	 * The server accepts only this identity with this key. Keep the file
	 * readable by its owner only.
	 */
	const char *psk_identity;
	const char *psk_file;

	/*
	 * The deadline of the whole handshake, from its start to the server's
	 * confirmation, however the peer trickles bytes; < 0 waits for ever.
	 * Default 30000. It bounds what a peer that connects and stalls can
	 * hold (on a receiver, the listener).
	 */
	int handshake_timeout_ms;
};

#define XMIG_TLS_PARAMS_INIT                                                   \
	{                                                                      \
		.version = XMIG_TLS_PARAMS_VERSION, .handshake_timeout_ms = 30000, \
	}

/* Fill `p` with the defaults; `version` must be XMIG_TLS_PARAMS_VERSION. */
int xmig_tls_params_init(struct xmig_tls_params *p, unsigned int version);

/*
 * Connect to a "HOST:PORT", "tcp:HOST:PORT" or "unix:PATH" address (as
 * xmig_transport_connect does, within timeout_ms; < 0 waits for ever) and
 * run the client's handshake (within p->handshake_timeout_ms). The
 * transport's ops->name is "tls".
 */
int xmig_tls_connect(struct xmig_transport **out, const char *address, int timeout_ms,
		     const struct xmig_tls_params *p);

/*
 * Accept one connection on `l` (within timeout_ms, as xmig_listener_accept)
 * and run the server's handshake. A client that fails the handshake is
 * disconnected and the call fails; the listener stays open, so the caller
 * may accept again.
 */
int xmig_tls_accept(struct xmig_transport **out, struct xmig_listener *l, int timeout_ms,
		    const struct xmig_tls_params *p);

/* Roles of xmig_tls_fd. */
#define XMIG_TLS_CLIENT 0
#define XMIG_TLS_SERVER 1

/*
 * Run TLS over a connected stream socket `fd` the caller made (for a
 * toolstack that connects its own way). `role` is XMIG_TLS_CLIENT or
 * XMIG_TLS_SERVER; with XMIG_FD_OWN in `flags` (xmig/transport.h) the
 * transport closes `fd` in close(). The socket must carry nothing but TLS
 * from now on. On failure `fd` is left open, whatever the flags.
 */
int xmig_tls_fd(struct xmig_transport **out, int fd, int role, unsigned int flags,
		const struct xmig_tls_params *p);

#ifdef __cplusplus
}
#endif
#endif

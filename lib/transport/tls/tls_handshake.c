/* SPDX-License-Identifier: MIT */
/*
 * The TLS handshake, under one deadline, and the server's confirmation.
 *
 * In TLS 1.3 the client's handshake ends when it has sent its Finished,
 * before the server has looked at the client's certificate: a client left
 * alone would start writing its stream to a server that is about to refuse
 * it, and learn why only from a failed write or read later. So the server,
 * once its handshake succeeded (the client authenticated), sends one byte,
 * and the client's constructor waits for it. A refusal reaches the client
 * as the server's alert, in the constructor, before either side has passed
 * one byte of the xmig stream.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "tls_internal.h"

/* "(last received: ClientHello, last sent: ServerHello)": where it stopped. */
static void handshake_where(struct xmig__tls_transport *t, char *buf, size_t size)
{
	gnutls_handshake_description_t last_in = gnutls_handshake_get_last_in(t->session);
	gnutls_handshake_description_t last_out = gnutls_handshake_get_last_out(t->session);
	const char *in = gnutls_handshake_description_get_name(last_in);
	const char *out = gnutls_handshake_description_get_name(last_out);

	snprintf(buf, size, "last received: %s, last sent: %s", in ? in : "nothing",
		 out ? out : "nothing");
}

static int handshake_stuck(struct xmig__tls_transport *t, const struct xmig_tls_params *p,
			   int rc, const char *step)
{
	char where[128];

	handshake_where(t, where, sizeof(where));
	if (rc == XMIG_ETIMEDOUT)
		return xmig__fail(rc, "TLS with %s: %s did not complete within %d ms (%s)", t->peer,
				  step, p->handshake_timeout_ms, where);
	return xmig__fail_errno(rc, "TLS with %s: %s: waiting for the socket", t->peer, step);
}

/* The alert that says why we refused the peer's certificate. */
static gnutls_alert_description_t cert_alert(struct xmig__tls_transport *t)
{
	unsigned int st = gnutls_session_get_verify_cert_status(t->session);

	if (st & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return GNUTLS_A_UNKNOWN_CA;
	if (st & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		return GNUTLS_A_CERTIFICATE_EXPIRED;
	if (st & GNUTLS_CERT_REVOKED)
		return GNUTLS_A_CERTIFICATE_REVOKED;
	return GNUTLS_A_BAD_CERTIFICATE;
}

/*
 * We refused the peer: tell it why with the matching alert (GnuTLS sends
 * none by itself), so its operator reads the reason, not "connection
 * reset". Best effort, and brief: the refusal stands either way.
 */
static void tell_peer(struct xmig__tls_transport *t, int err, uint64_t deadline)
{
	uint64_t soon = xmig__deadline(200);
	int grc;

	switch (err) {
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PULL_ERROR:
	case GNUTLS_E_PUSH_ERROR:
		return; /* the peer refused, or the connection is gone */
	default:
		break;
	}
	if (soon > deadline)
		soon = deadline;
	for (;;) {
		if (err == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
			grc = gnutls_alert_send(t->session, GNUTLS_AL_FATAL, cert_alert(t));
		else
			grc = gnutls_alert_send_appropriate(t->session, err);
		if (grc != GNUTLS_E_AGAIN && grc != GNUTLS_E_INTERRUPTED)
			return;
		if (xmig__tls_wait(t, soon))
			return;
	}
}

/* After the handshake: what we asked for is what we got. */
static int check_session(struct xmig__tls_transport *t)
{
	gnutls_kx_algorithm_t kx = gnutls_kx_get(t->session);

	if (gnutls_protocol_get_version(t->session) != GNUTLS_TLS1_3)
		return xmig__fail(XMIG_EPROTO, "TLS with %s: negotiated %s, not TLS 1.3", t->peer,
				  gnutls_protocol_get_name(gnutls_protocol_get_version(t->session)));
	if (t->creds.psk && kx != GNUTLS_KX_ECDHE_PSK)
		return xmig__fail(XMIG_EPROTO, "TLS with %s: PSK key exchange %s, not ECDHE-PSK",
				  t->peer, gnutls_kx_get_name(kx));
	return 0;
}

static int confirm_send(struct xmig__tls_transport *t, const struct xmig_tls_params *p,
			uint64_t deadline)
{
	static const uint8_t accepted = XMIG__TLS_ACCEPTED;
	ssize_t n;
	int rc;

	for (;;) {
		n = gnutls_record_send(t->session, &accepted, 1);
		if (n == 1)
			return 0;
		if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
			return xmig__fail(XMIG_EIO, "TLS with %s: confirming the handshake: %s",
					  t->peer, gnutls_strerror((int)n));
		rc = xmig__tls_wait(t, deadline);
		if (rc)
			return handshake_stuck(t, p, rc, "confirming the handshake");
	}
}

static int confirm_recv(struct xmig__tls_transport *t, const struct xmig_tls_params *p,
			uint64_t deadline)
{
	uint8_t byte;
	ssize_t n;
	int rc;

	for (;;) {
		n = gnutls_record_recv(t->session, &byte, 1);
		if (n == 1)
			break;
		if (n == 0)
			return xmig__fail(XMIG_EIO, "TLS with %s: the server ended the session "
					  "without accepting us", t->peer);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			rc = xmig__tls_wait(t, deadline);
			if (rc)
				return handshake_stuck(t, p, rc, "the server's acceptance");
			continue;
		}
		if (gnutls_error_is_fatal((int)n))
			return xmig__tls_handshake_failed(t, p, (int)n);
	}
	if (byte != XMIG__TLS_ACCEPTED)
		return xmig__fail(XMIG_EPROTO, "TLS with %s: the server sent 0x%02x where xmig's "
				  "acceptance (0x%02x) belongs: not an xmig TLS receiver?", t->peer,
				  byte, XMIG__TLS_ACCEPTED);
	return 0;
}

int xmig__tls_handshake(struct xmig__tls_transport *t, const struct xmig_tls_params *p)
{
	uint64_t deadline = xmig__deadline(p->handshake_timeout_ms);
	int grc, rc;

	for (;;) {
		grc = gnutls_handshake(t->session);
		if (grc == GNUTLS_E_SUCCESS)
			break;
		if (grc == GNUTLS_E_AGAIN || grc == GNUTLS_E_INTERRUPTED) {
			rc = xmig__tls_wait(t, deadline);
			if (rc)
				return handshake_stuck(t, p, rc, "the handshake");
			continue;
		}
		if (!gnutls_error_is_fatal(grc))
			continue; /* a warning alert */
		rc = xmig__tls_handshake_failed(t, p, grc);
		tell_peer(t, grc, deadline);
		return rc;
	}
	rc = check_session(t);
	if (rc)
		return rc;
	return t->server ? confirm_send(t, p, deadline) : confirm_recv(t, p, deadline);
}

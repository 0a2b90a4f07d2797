/* SPDX-License-Identifier: MIT */
/*
 * Why a TLS handshake failed, in words an operator can act on: which side
 * refused whom, and for what ("the server's certificate 'CN=dst' has
 * expired (not after ...)", "the client sent no certificate"), instead of
 * GnuTLS's "Error in the certificate verification".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tls_internal.h"

const char *xmig__tls_peer_role(const struct xmig__tls_transport *t)
{
	return t->server ? "the client" : "the server";
}

/* ---- the peer's certificate, refused by us ---- */

struct peer_cert {
	char dn[160];        /* "'CN=dst,O=lab'" or "" */
	char not_before[40]; /* "2024-05-01 12:00:00 UTC" */
	char not_after[40];
};

static void utc(char *buf, size_t size, time_t when)
{
	struct tm tm;

	if (when == (time_t)-1 || !gmtime_r(&when, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "(unknown)");
}

static void peer_cert_describe(gnutls_session_t s, struct peer_cert *pc)
{
	const gnutls_datum_t *der;
	gnutls_datum_t dn = { NULL, 0 };
	gnutls_x509_crt_t crt;
	unsigned int n = 0;

	memset(pc, 0, sizeof(*pc));
	snprintf(pc->not_before, sizeof(pc->not_before), "(unknown)");
	snprintf(pc->not_after, sizeof(pc->not_after), "(unknown)");
	der = gnutls_certificate_get_peers(s, &n);
	if (!der || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &der[0], GNUTLS_X509_FMT_DER) == 0) {
		if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
			/* The peer wrote it: the message sanitiser makes it printable. */
			snprintf(pc->dn, sizeof(pc->dn), " '%.*s'", (int)dn.size, (char *)dn.data);
			gnutls_free(dn.data);
		}
		utc(pc->not_before, sizeof(pc->not_before),
		    gnutls_x509_crt_get_activation_time(crt));
		utc(pc->not_after, sizeof(pc->not_after), gnutls_x509_crt_get_expiration_time(crt));
	}
	gnutls_x509_crt_deinit(crt);
}

/* Append a reason to the list in `buf` (cut if it does not fit). */
static void add(char *buf, size_t size, const char *what)
{
	size_t used = strlen(buf);

	if (snprintf(buf + used, size - used, "%s%s", used ? "; " : "", what) < 0)
		buf[used] = '\0';
}

static int cert_refused(struct xmig__tls_transport *t, const struct xmig_tls_params *p)
{
	unsigned int st = gnutls_session_get_verify_cert_status(t->session);
	unsigned int known = GNUTLS_CERT_INVALID;
	gnutls_datum_t other = { NULL, 0 };
	struct peer_cert pc;
	char why[320] = "", one[320];

	peer_cert_describe(t->session, &pc);
	if (st & GNUTLS_CERT_SIGNER_NOT_FOUND) {
		snprintf(one, sizeof(one), "is not signed by the CA in %s", p->ca_file);
		add(why, sizeof(why), one);
	}
	if (st & GNUTLS_CERT_SIGNER_NOT_CA)
		add(why, sizeof(why), "is signed by a certificate that is not a CA");
	if (st & GNUTLS_CERT_SIGNATURE_FAILURE)
		add(why, sizeof(why), "has a signature that does not verify");
	if (st & GNUTLS_CERT_EXPIRED) {
		snprintf(one, sizeof(one), "has expired (not after %s)", pc.not_after);
		add(why, sizeof(why), one);
	}
	if (st & GNUTLS_CERT_NOT_ACTIVATED) {
		snprintf(one, sizeof(one), "is not valid yet (not before %s)", pc.not_before);
		add(why, sizeof(why), one);
	}
	if (st & GNUTLS_CERT_UNEXPECTED_OWNER) {
		snprintf(one, sizeof(one), "is not for '%s'", p->peer_name ? p->peer_name : "?");
		add(why, sizeof(why), one);
	}
	if (st & GNUTLS_CERT_PURPOSE_MISMATCH)
		add(why, sizeof(why), t->server ? "is not for TLS client authentication "
						  "(extended key usage)"
						: "is not for TLS server authentication "
						  "(extended key usage)");
	if (st & GNUTLS_CERT_INSECURE_ALGORITHM)
		add(why, sizeof(why), "is signed with an insecure algorithm");
	if (st & GNUTLS_CERT_REVOKED)
		add(why, sizeof(why), "is revoked");
	known |= GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA |
		 GNUTLS_CERT_SIGNATURE_FAILURE | GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED |
		 GNUTLS_CERT_UNEXPECTED_OWNER | GNUTLS_CERT_PURPOSE_MISMATCH |
		 GNUTLS_CERT_INSECURE_ALGORITHM | GNUTLS_CERT_REVOKED;
	if ((st & ~known) || !why[0]) {
		/* Whatever else GnuTLS found, in its words. */
		if (gnutls_certificate_verification_status_print(st & ~known ? st & ~known : st,
								  GNUTLS_CRT_X509, &other, 0) == 0) {
			snprintf(one, sizeof(one), "failed verification: %.*s", (int)other.size,
				 (char *)other.data);
			gnutls_free(other.data);
		} else {
			snprintf(one, sizeof(one), "failed verification (status 0x%x)", st);
		}
		add(why, sizeof(why), one);
	}
	return xmig__fail(XMIG_EAUTH, "TLS with %s: %s's certificate%s %s", t->peer,
			  t->server ? "the client" : "the server", pc.dn, why);
}

/* ---- refused by the peer ---- */

static int alert_received(struct xmig__tls_transport *t)
{
	gnutls_alert_description_t a = gnutls_alert_get(t->session);
	const char *name = gnutls_alert_get_name(a), *who = xmig__tls_peer_role(t);

	if (!name)
		name = "unknown";
	switch (a) {
	case GNUTLS_A_UNKNOWN_CA:
		return xmig__fail(XMIG_EAUTH, "TLS with %s: %s does not trust our certificate: not "
				  "signed by its CA (TLS alert: %s)", t->peer, who, name);
	case GNUTLS_A_CERTIFICATE_EXPIRED:
		return xmig__fail(XMIG_EAUTH, "TLS with %s: %s refused our certificate as expired "
				  "(TLS alert: %s)", t->peer, who, name);
	case GNUTLS_A_CERTIFICATE_REQUIRED:
		return xmig__fail(XMIG_EAUTH, "TLS with %s: %s requires a certificate (TLS alert: "
				  "%s)", t->peer, who, name);
	case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_CERTIFICATE_REVOKED:
	case GNUTLS_A_ACCESS_DENIED:
		return xmig__fail(XMIG_EAUTH, "TLS with %s: %s refused our certificate (TLS alert: "
				  "%s)", t->peer, who, name);
	case GNUTLS_A_UNKNOWN_PSK_IDENTITY:
	case GNUTLS_A_DECRYPT_ERROR:
	case GNUTLS_A_BAD_RECORD_MAC:
	case GNUTLS_A_ILLEGAL_PARAMETER:
		if (t->creds.psk)
			return xmig__fail(XMIG_EAUTH, "TLS with %s: %s refused us: the pre-shared "
					  "keys differ, or it does not know the identity '%s' "
					  "(TLS alert: %s)", t->peer, who, t->creds.identity, name);
		break;
	case GNUTLS_A_PROTOCOL_VERSION:
		return xmig__fail(XMIG_EPROTO, "TLS with %s: %s does not accept TLS 1.3 (TLS alert: "
				  "%s)", t->peer, who, name);
	case GNUTLS_A_HANDSHAKE_FAILURE:
	case GNUTLS_A_INSUFFICIENT_SECURITY:
		return xmig__fail(XMIG_EPROTO, "TLS with %s: %s found no parameters in common with "
				  "ours: both sides need TLS 1.3 and the same kind of credentials, "
				  "X.509 or PSK (TLS alert: %s)", t->peer, who, name);
	default:
		break;
	}
	return xmig__fail(XMIG_EAUTH, "TLS with %s: %s refused the handshake (TLS alert: %s)",
			  t->peer, who, name);
}

/* ---- everything else ---- */

static int psk_refused(struct xmig__tls_transport *t, int err)
{
	if (t->creds.unknown_identity)
		return xmig__fail(XMIG_EAUTH, "TLS with %s: the client's PSK identity is '%s', not "
				  "'%s'", t->peer, t->creds.asked_identity, t->creds.identity);
	return xmig__fail(XMIG_EAUTH, "TLS with %s: the pre-shared keys differ: the client's "
			  "proof for identity '%s' does not verify with our key (%s)", t->peer,
			  t->creds.identity, gnutls_strerror(err));
}

int xmig__tls_handshake_failed(struct xmig__tls_transport *t, const struct xmig_tls_params *p,
			       int err)
{
	const char *who = xmig__tls_peer_role(t);

	if (t->creds.unknown_identity)
		return psk_refused(t, err);
	switch (err) {
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_ERROR:
		return cert_refused(t, p);
	case GNUTLS_E_CERTIFICATE_REQUIRED:
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
		return xmig__fail(XMIG_EAUTH, "TLS with %s: %s sent no certificate", t->peer, who);
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		return alert_received(t);
	case GNUTLS_E_DECRYPTION_FAILED:
	case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
		/* TLS 1.3: the client's PSK binder does not verify with our key */
		if (t->creds.psk)
			return psk_refused(t, err);
		break;
	case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
		return xmig__fail(XMIG_EPROTO, "TLS with %s: %s offers no key exchange our "
				  "credentials allow (ours: %s; both sides need the same kind, "
				  "X.509 or PSK, and a PSK goes only with ECDHE): %s", t->peer, who,
				  t->creds.psk ? "a PSK" : "X.509", gnutls_strerror(err));
	case GNUTLS_E_PULL_ERROR:
	case GNUTLS_E_PUSH_ERROR:
		errno = t->sock_errno;
		return xmig__fail_errno(XMIG_EIO, "TLS with %s: the connection failed during the "
					"handshake", t->peer);
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
		if (t->sock_eof || err == GNUTLS_E_PREMATURE_TERMINATION)
			return xmig__fail(XMIG_EIO, "TLS with %s: %s closed the connection during "
					  "the handshake", t->peer, who);
		__attribute__((fallthrough)); /* else a malformed record */
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
	case GNUTLS_E_UNEXPECTED_PACKET:
	case GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET:
	case GNUTLS_E_RECORD_OVERFLOW:
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_INSUFFICIENT_SECURITY:
		return xmig__fail(XMIG_EPROTO, "TLS with %s: %s does not speak TLS 1.3 as we do: %s",
				  t->peer, who, gnutls_strerror(err));
	default:
		break;
	}
	return xmig__fail(XMIG_EAUTH, "TLS with %s: the handshake failed: %s", t->peer,
			  gnutls_strerror(err));
}

/* SPDX-License-Identifier: MIT */
/*
 * The TLS transport's credentials: X.509 files (CA, certificate, key) or a
 * pre-shared key, loaded and checked before anything touches the network,
 * so a wrong path or a broken file is named as such, not reported as a
 * handshake failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_internal.h"

/* The largest PSK key file we read: the key, whitespace and a newline. */
#define PSK_FILE_MAX 4096

/* "cannot read": say so with errno before GnuTLS says "file error". */
static int check_readable(const char *what, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return xmig__fail_errno(XMIG_EINVAL, "TLS: cannot read the %s '%s'", what, path);
	close(fd);
	return 0;
}

/* ---- X.509 ---- */

/* After GnuTLS refused the pair: which of the two files is at fault. */
static int explain_cert_key(const struct xmig_tls_params *p, int grc)
{
	gnutls_datum_t data = { NULL, 0 };
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	int rc, e;

	if (grc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return xmig__fail(XMIG_EINVAL, "TLS: the key in '%s' does not belong to the "
				  "certificate in '%s'", p->key_file, p->cert_file);
	rc = xmig__fail(XMIG_EINVAL, "TLS: cannot load the certificate '%s' with the key '%s': %s",
			p->cert_file, p->key_file, gnutls_strerror(grc));
	if (gnutls_load_file(p->cert_file, &data) == 0 && gnutls_x509_crt_init(&crt) == 0) {
		e = gnutls_x509_crt_import(crt, &data, GNUTLS_X509_FMT_PEM);
		if (e < 0)
			rc = xmig__fail(XMIG_EINVAL, "TLS: the certificate file '%s' holds no PEM "
					"certificate: %s", p->cert_file, gnutls_strerror(e));
		gnutls_x509_crt_deinit(crt);
		gnutls_free(data.data);
		data.data = NULL;
		if (e < 0)
			return rc;
	}
	if (gnutls_load_file(p->key_file, &data) == 0 && gnutls_x509_privkey_init(&key) == 0) {
		e = gnutls_x509_privkey_import2(key, &data, GNUTLS_X509_FMT_PEM, NULL, 0);
		if (e < 0)
			rc = xmig__fail(XMIG_EINVAL, "TLS: the key file '%s' holds no unencrypted PEM "
					"private key: %s", p->key_file, gnutls_strerror(e));
		gnutls_x509_privkey_deinit(key);
		gnutls_memset(data.data, 0, data.size);
		gnutls_free(data.data);
	}
	return rc;
}

static int load_x509(struct xmig__tls_creds *c, const struct xmig_tls_params *p)
{
	int rc, n;

	if ((rc = check_readable("CA file", p->ca_file)) ||
	    (rc = check_readable("certificate file", p->cert_file)) ||
	    (rc = check_readable("key file", p->key_file)))
		return rc;
	n = gnutls_certificate_allocate_credentials(&c->x509);
	if (n < 0) {
		c->x509 = NULL;
		return xmig__fail(XMIG_ENOMEM, "TLS: %s", gnutls_strerror(n));
	}
	n = gnutls_certificate_set_x509_trust_file(c->x509, p->ca_file, GNUTLS_X509_FMT_PEM);
	if (n < 0)
		return xmig__fail(XMIG_EINVAL, "TLS: the CA file '%s': %s", p->ca_file,
				  gnutls_strerror(n));
	if (n == 0)
		return xmig__fail(XMIG_EINVAL, "TLS: the CA file '%s' holds no PEM certificate",
				  p->ca_file);
	n = gnutls_certificate_set_x509_key_file2(c->x509, p->cert_file, p->key_file,
						  GNUTLS_X509_FMT_PEM, NULL, 0);
	if (n < 0)
		return explain_cert_key(p, n);
	return 0;
}

/* ---- PSK ---- */

static int hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* The key in `text` (hex digits, whitespace around them) into c->key. */
static int parse_psk_key(struct xmig__tls_creds *c, const char *path, const char *text,
			 size_t len)
{
	size_t start = 0, end = len, digits;
	int hi, lo;

	while (start < end && is_space(text[start]))
		start++;
	while (end > start && is_space(text[end - 1]))
		end--;
	digits = end - start;
	if (digits % 2 || digits < 2 * XMIG__TLS_PSK_MIN_KEY || digits > 2 * XMIG__TLS_PSK_MAX_KEY)
		return xmig__fail(XMIG_EINVAL, "TLS: the PSK file '%s' must hold %d to %d hex "
				  "digits (a key of %d to %d bytes), not %zu characters", path,
				  2 * XMIG__TLS_PSK_MIN_KEY, 2 * XMIG__TLS_PSK_MAX_KEY,
				  XMIG__TLS_PSK_MIN_KEY, XMIG__TLS_PSK_MAX_KEY, digits);
	for (size_t i = 0; i < digits; i += 2) {
		hi = hex_value((unsigned char)text[start + i]);
		lo = hex_value((unsigned char)text[start + i + 1]);
		if (hi < 0 || lo < 0)
			return xmig__fail(XMIG_EINVAL, "TLS: the PSK file '%s': character %zu is not "
					  "a hex digit", path, start + i + (hi < 0 ? 1 : 2));
		c->key[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	c->key_len = digits / 2;
	return 0;
}

static int read_psk_file(struct xmig__tls_creds *c, const char *path)
{
	char text[PSK_FILE_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xmig__fail_errno(XMIG_EINVAL, "TLS: cannot read the PSK file '%s'", path);
	while (len < sizeof(text)) {
		n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0)
		rc = xmig__fail_errno(XMIG_EINVAL, "TLS: reading the PSK file '%s'", path);
	else if (len > PSK_FILE_MAX)
		rc = xmig__fail(XMIG_EINVAL, "TLS: the PSK file '%s' is longer than %d bytes", path,
				PSK_FILE_MAX);
	else
		rc = parse_psk_key(c, path, text, len);
	close(fd);
	explicit_bzero(text, sizeof(text));
	return rc;
}

/*
 * Server: the key of the one identity we accept. Any other identity gets
 * a random key, so the handshake fails exactly as with a wrong key: the
 * client cannot tell identities that exist from ones that do not. We
 * know, and say so in our own message.
 */
static int psk_lookup(gnutls_session_t s, const gnutls_datum_t *username, gnutls_datum_t *key)
{
	struct xmig__tls_creds *c = gnutls_session_get_ptr(s);
	size_t n = strlen(c->identity), shown;
	int known = username->size == n && memcmp(username->data, c->identity, n) == 0;

	if (!known) {
		c->unknown_identity = 1;
		shown = username->size < XMIG__TLS_PSK_MAX_IDENTITY ? username->size
								     : XMIG__TLS_PSK_MAX_IDENTITY;
		memcpy(c->asked_identity, username->data, shown);
		c->asked_identity[shown] = '\0';
		xmig__sanitize(c->asked_identity); /* it came off the wire */
	}
	key->data = gnutls_malloc(c->key_len);
	if (!key->data)
		return -1;
	if (known)
		memcpy(key->data, c->key, c->key_len);
	else if (gnutls_rnd(GNUTLS_RND_NONCE, key->data, c->key_len) < 0)
		memset(key->data, 0xa5, c->key_len); /* still not the key */
	key->size = (unsigned int)c->key_len;
	return 0;
}

static int check_identity(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > XMIG__TLS_PSK_MAX_IDENTITY)
		return xmig__fail(XMIG_EINVAL, "TLS: the PSK identity must be 1 to %d bytes, not %zu",
				  XMIG__TLS_PSK_MAX_IDENTITY, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] >= 0x7f)
			return xmig__fail(XMIG_EINVAL, "TLS: the PSK identity must be printable "
					  "ASCII (byte %zu is 0x%02x)", i, (unsigned char)id[i]);
	return 0;
}

static int load_psk(struct xmig__tls_creds *c, int server, const struct xmig_tls_params *p)
{
	gnutls_datum_t key;
	int rc, grc;

	rc = check_identity(p->psk_identity);
	if (rc)
		return rc;
	rc = read_psk_file(c, p->psk_file);
	if (rc)
		return rc;
	snprintf(c->identity, sizeof(c->identity), "%s", p->psk_identity);
	if (server) {
		grc = gnutls_psk_allocate_server_credentials(&c->psk_server);
		if (grc < 0) {
			c->psk_server = NULL;
			return xmig__fail(XMIG_ENOMEM, "TLS: %s", gnutls_strerror(grc));
		}
		gnutls_psk_set_server_credentials_function2(c->psk_server, psk_lookup);
		return 0;
	}
	grc = gnutls_psk_allocate_client_credentials(&c->psk_client);
	if (grc < 0) {
		c->psk_client = NULL;
		return xmig__fail(XMIG_ENOMEM, "TLS: %s", gnutls_strerror(grc));
	}
	key.data = c->key;
	key.size = (unsigned int)c->key_len;
	grc = gnutls_psk_set_client_credentials(c->psk_client, c->identity, &key,
						GNUTLS_PSK_KEY_RAW);
	if (grc < 0)
		return xmig__fail(XMIG_EINVAL, "TLS: the PSK from '%s': %s", p->psk_file,
				  gnutls_strerror(grc));
	return 0;
}

/* ---- the parameters ---- */

static int set(const char *s)
{
	return s && *s;
}

static int check_params(const struct xmig_tls_params *p)
{
	int x509 = set(p->ca_file) || set(p->cert_file) || set(p->key_file);
	int psk = set(p->psk_identity) || set(p->psk_file);

	if (x509 && psk)
		return xmig__fail(XMIG_EINVAL, "TLS: give either X.509 files (ca_file, cert_file, "
				  "key_file) or a PSK (psk_identity, psk_file), not both");
	if (!x509 && !psk)
		return xmig__fail(XMIG_EINVAL, "TLS: no credentials: give ca_file, cert_file and "
				  "key_file, or psk_identity and psk_file");
	if (x509 && !(set(p->ca_file) && set(p->cert_file) && set(p->key_file)))
		return xmig__fail(XMIG_EINVAL, "TLS: X.509 needs all of ca_file, cert_file and "
				  "key_file (missing: %s)",
				  !set(p->ca_file) ? "ca_file" : !set(p->cert_file) ? "cert_file"
										  : "key_file");
	if (psk && !(set(p->psk_identity) && set(p->psk_file)))
		return xmig__fail(XMIG_EINVAL, "TLS: PSK needs both psk_identity and psk_file");
	if (psk && set(p->peer_name))
		return xmig__fail(XMIG_EINVAL, "TLS: peer_name is for X.509; a PSK names no host");
	if (set(p->peer_name) && strlen(p->peer_name) > XMIG__TLS_NAME_MAX)
		return xmig__fail(XMIG_EINVAL, "TLS: peer_name is longer than %d bytes",
				  XMIG__TLS_NAME_MAX);
	return 0;
}

int xmig__tls_creds_load(struct xmig__tls_creds *c, int server, const struct xmig_tls_params *p)
{
	int rc = check_params(p);

	if (rc)
		return rc;
	c->psk = set(p->psk_file);
	return c->psk ? load_psk(c, server, p) : load_x509(c, p);
}

int xmig__tls_creds_attach(struct xmig__tls_creds *c, gnutls_session_t s, int server,
			   const struct xmig_tls_params *p)
{
	int grc, n = 0;

	gnutls_session_set_ptr(s, c); /* for psk_lookup */
	if (c->psk) {
		grc = gnutls_credentials_set(s, GNUTLS_CRD_PSK,
					     server ? (void *)c->psk_server : (void *)c->psk_client);
		goto out;
	}
	grc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->x509);
	if (grc < 0)
		goto out;
	if (server) {
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		/*
		 * Do not list our CAs in the request: a GnuTLS client then sends
		 * no certificate rather than one from another CA, and we could
		 * only say "no certificate" where "not signed by our CA" is
		 * the truth. (The list would also tell anyone who knocks which
		 * CA we trust.)
		 */
		gnutls_certificate_send_x509_rdn_sequence(s, 1);
	}
	/*
	 * Verified during the handshake, which fails if this does: the chain
	 * to our CA, the validity period, the purpose (a server's certificate
	 * must not pass as a client's, if its issuer said so), and the name.
	 * GnuTLS keeps a pointer to this array: it lives in `c`.
	 */
	c->vdata[n].type = GNUTLS_DT_KEY_PURPOSE_OID;
	c->vdata[n].data = (unsigned char *)(server ? GNUTLS_KP_TLS_WWW_CLIENT
						    : GNUTLS_KP_TLS_WWW_SERVER);
	c->vdata[n++].size = 0;
	if (p->peer_name && *p->peer_name) {
		snprintf(c->peer_name, sizeof(c->peer_name), "%s", p->peer_name);
		c->vdata[n].type = GNUTLS_DT_DNS_HOSTNAME;
		c->vdata[n].data = (unsigned char *)c->peer_name;
		c->vdata[n++].size = 0;
	}
	gnutls_session_set_verify_cert2(s, c->vdata, (unsigned int)n, 0);
out:
	if (grc < 0)
		return xmig__fail(XMIG_EIO, "TLS: setting the credentials: %s", gnutls_strerror(grc));
	return 0;
}

void xmig__tls_creds_free(struct xmig__tls_creds *c)
{
	if (c->x509)
		gnutls_certificate_free_credentials(c->x509);
	if (c->psk_client)
		gnutls_psk_free_client_credentials(c->psk_client);
	if (c->psk_server)
		gnutls_psk_free_server_credentials(c->psk_server);
	c->x509 = NULL;
	c->psk_client = NULL;
	c->psk_server = NULL;
	explicit_bzero(c->key, sizeof(c->key));
	c->key_len = 0;
}

/* SPDX-License-Identifier: MIT */
/* The throw-away PKI of tls_certs.h, made with GnuTLS's X.509 API. */
#define _GNU_SOURCE
#include <dirent.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tls_certs.h"

#define DAY (24 * 3600)

/* A certificate being made: what differs between the ones we need. */
struct spec {
	const char *name; /* file name, without .pem/.key */
	const char *dn;
	int is_ca;
	const char *purpose; /* extended key usage OID, or NULL */
	const char *dns;     /* subjectAltName DNS name, or NULL */
	int with_ip;         /* subjectAltName IP 127.0.0.1 */
	time_t not_before, not_after;
};

/* A made CA, to sign with. */
struct issuer {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
};

static int write_file(const char *path, const gnutls_datum_t *d)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(d->data, 1, d->size, f) == d->size;
	return fclose(f) == 0 && ok ? 0 : -1;
}

#define TRY(expr)                                                               \
	do {                                                                    \
		int e_ = (expr);                                                \
		if (e_ < 0) {                                                   \
			snprintf(err, errlen, "%s: %s", #expr, gnutls_strerror(e_)); \
			goto out;                                               \
		}                                                               \
	} while (0)

/*
 * Make the key and certificate of `s` in `dir`, signed by `by` (NULL:
 * self-signed). With `keep`, the result is kept to sign others with.
 */
static int make(const char *dir, const struct spec *s, const struct issuer *by,
		struct issuer *keep, struct tls_cred *paths, char *err, size_t errlen)
{
	static unsigned int serial = 1;
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	unsigned char id[64], sn[8];
	size_t idlen = sizeof(id);
	const unsigned char ip[4] = { 127, 0, 0, 1 };
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	int rc = -1;

	snprintf(cert_path, sizeof(cert_path), "%s/%s.pem", dir, s->name);
	snprintf(key_path, sizeof(key_path), "%s/%s.key", dir, s->name);
	TRY(gnutls_x509_privkey_init(&key));
	TRY(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
	TRY(gnutls_x509_crt_init(&crt));
	TRY(gnutls_x509_crt_set_version(crt, 3));
	memset(sn, 0, sizeof(sn));
	sn[0] = 0x40;
	sn[7] = (unsigned char)serial++;
	TRY(gnutls_x509_crt_set_serial(crt, sn, sizeof(sn)));
	TRY(gnutls_x509_crt_set_dn(crt, s->dn, NULL));
	TRY(gnutls_x509_crt_set_key(crt, key));
	TRY(gnutls_x509_crt_set_activation_time(crt, s->not_before));
	TRY(gnutls_x509_crt_set_expiration_time(crt, s->not_after));
	TRY(gnutls_x509_crt_set_basic_constraints(crt, s->is_ca, -1));
	TRY(gnutls_x509_crt_set_key_usage(crt, s->is_ca ? GNUTLS_KEY_KEY_CERT_SIGN |
								  GNUTLS_KEY_CRL_SIGN
							: GNUTLS_KEY_DIGITAL_SIGNATURE));
	if (s->purpose)
		TRY(gnutls_x509_crt_set_key_purpose_oid(crt, s->purpose, 0));
	if (s->dns)
		TRY(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, s->dns,
							 (unsigned int)strlen(s->dns),
							 GNUTLS_FSAN_APPEND));
	if (s->with_ip)
		TRY(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, sizeof(ip),
							 GNUTLS_FSAN_APPEND));
	TRY(gnutls_x509_privkey_get_key_id(key, 0, id, &idlen));
	TRY(gnutls_x509_crt_set_subject_key_id(crt, id, idlen));
	if (by) {
		idlen = sizeof(id);
		TRY(gnutls_x509_crt_get_subject_key_id(by->crt, id, &idlen, NULL));
		TRY(gnutls_x509_crt_set_authority_key_id(crt, id, idlen));
	}
	TRY(gnutls_x509_crt_sign2(crt, by ? by->crt : crt, by ? by->key : key, GNUTLS_DIG_SHA256,
				  0));
	TRY(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem));
	if (write_file(cert_path, &pem) < 0) {
		snprintf(err, errlen, "cannot write %s", cert_path);
		goto out;
	}
	gnutls_free(pem.data);
	pem.data = NULL;
	TRY(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem));
	if (write_file(key_path, &pem) < 0) {
		snprintf(err, errlen, "cannot write %s", key_path);
		goto out;
	}
	if (paths) {
		snprintf(paths->cert, sizeof(paths->cert), "%s", cert_path);
		snprintf(paths->key, sizeof(paths->key), "%s", key_path);
	}
	if (keep) {
		keep->crt = crt;
		keep->key = key;
		crt = NULL;
		key = NULL;
	}
	rc = 0;
out:
	gnutls_free(pem.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

static int write_psk(const char *path, unsigned int seed)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	for (unsigned int i = 0; i < 32; i++)
		fprintf(f, "%02x", (i * 37u + seed * 101u + 7u) & 0xffu);
	fprintf(f, "\n");
	return fclose(f);
}

int tls_pki_make(struct tls_pki *p, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	time_t now = time(NULL);
	struct issuer ca = { NULL, NULL }, ca2 = { NULL, NULL };
	struct tls_cred c;
	int rc = -1;
	const struct spec ca_spec = { "ca", "CN=xmig test CA", 1, NULL, NULL, 0, now - DAY,
				      now + 30 * DAY };
	const struct spec ca2_spec = { "ca2", "CN=another CA", 1, NULL, NULL, 0, now - DAY,
				       now + 30 * DAY };
	const struct spec leaves[] = {
		{ "server", "CN=localhost", 0, GNUTLS_KP_TLS_WWW_SERVER, "localhost", 1,
		  now - 3600, now + DAY },
		{ "client", "CN=xmig-client", 0, GNUTLS_KP_TLS_WWW_CLIENT, "client.test", 0,
		  now - 3600, now + DAY },
		{ "server_ca2", "CN=localhost", 0, GNUTLS_KP_TLS_WWW_SERVER, "localhost", 1,
		  now - 3600, now + DAY },
		{ "client_ca2", "CN=xmig-client", 0, GNUTLS_KP_TLS_WWW_CLIENT, "client.test", 0,
		  now - 3600, now + DAY },
		{ "server_expired", "CN=localhost", 0, GNUTLS_KP_TLS_WWW_SERVER, "localhost", 1,
		  now - 2 * DAY, now - DAY },
		{ "client_expired", "CN=xmig-client", 0, GNUTLS_KP_TLS_WWW_CLIENT, "client.test",
		  0, now - 2 * DAY, now - DAY },
		{ "server_as_client", "CN=xmig-client", 0, GNUTLS_KP_TLS_WWW_SERVER,
		  "client.test", 0, now - 3600, now + DAY },
	};
	struct tls_cred *out[] = { &p->server, &p->client, &p->server_ca2, &p->client_ca2,
				   &p->server_expired, &p->client_expired, &p->server_as_client };

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s/xmig-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(p->dir)) {
		snprintf(err, errlen, "mkdtemp %s failed", p->dir);
		p->dir[0] = '\0';
		return -1;
	}
	if (make(p->dir, &ca_spec, NULL, &ca, &c, err, errlen) ||
	    make(p->dir, &ca2_spec, NULL, &ca2, NULL, err, errlen))
		goto out;
	snprintf(p->ca, sizeof(p->ca), "%s", c.cert);
	snprintf(p->ca2, sizeof(p->ca2), "%s/ca2.pem", p->dir);
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
		if (make(p->dir, &leaves[i], strstr(leaves[i].name, "ca2") ? &ca2 : &ca, NULL,
			 out[i], err, errlen))
			goto out;
	snprintf(p->psk, sizeof(p->psk), "%s/psk.hex", p->dir);
	snprintf(p->psk2, sizeof(p->psk2), "%s/psk2.hex", p->dir);
	if (write_psk(p->psk, 1) || write_psk(p->psk2, 2)) {
		snprintf(err, errlen, "cannot write the PSK files in %s", p->dir);
		goto out;
	}
	rc = 0;
out:
	if (ca.crt)
		gnutls_x509_crt_deinit(ca.crt);
	if (ca.key)
		gnutls_x509_privkey_deinit(ca.key);
	if (ca2.crt)
		gnutls_x509_crt_deinit(ca2.crt);
	if (ca2.key)
		gnutls_x509_privkey_deinit(ca2.key);
	return rc;
}

void tls_pki_remove(struct tls_pki *p)
{
	char path[PATH_MAX * 2];
	struct dirent *e;
	DIR *d;

	if (!p->dir[0])
		return;
	d = opendir(p->dir);
	if (d) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", p->dir, e->d_name);
				unlink(path);
			}
		closedir(d);
	}
	rmdir(p->dir);
	p->dir[0] = '\0';
}

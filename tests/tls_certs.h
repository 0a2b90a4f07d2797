/* SPDX-License-Identifier: MIT */
/*
 * A throw-away PKI for the TLS tests and the TLS bench, made with the
 * GnuTLS API at run time (no certificate is committed, no certtool is
 * needed): two CAs and certificates signed by them, good, expired or from
 * the other CA, as PEM files in a fresh temporary directory.
 */
#ifndef XMIG_TESTS_TLS_CERTS_H
#define XMIG_TESTS_TLS_CERTS_H

#include <limits.h>
#include <stddef.h>

/* One certificate and its key: "<dir>/<name>.pem" and "<dir>/<name>.key". */
struct tls_cred {
	char cert[PATH_MAX];
	char key[PATH_MAX];
};

struct tls_pki {
	char dir[1024];
	char ca[PATH_MAX];      /* the CA both sides trust */
	char ca2[PATH_MAX];     /* another CA, trusted by no one */
	/* signed by `ca`, valid now: server for "localhost" and 127.0.0.1
	 * (TLS server purpose), client "xmig-client" / client.test (TLS
	 * client purpose) */
	struct tls_cred server, client;
	struct tls_cred server_ca2, client_ca2;         /* signed by ca2 */
	struct tls_cred server_expired, client_expired; /* by ca, expired yesterday */
	struct tls_cred server_as_client; /* by ca, TLS server purpose only, CN xmig-client */
	char psk[PATH_MAX];     /* a 32-byte key as hex */
	char psk2[PATH_MAX];    /* another one */
};

/*
 * Make everything under a new directory in $TMPDIR (or /tmp). Returns 0,
 * or -1 with a reason in `err` (`errlen` bytes).
 */
int tls_pki_make(struct tls_pki *p, char *err, size_t errlen);

/* Remove the files and the directory. */
void tls_pki_remove(struct tls_pki *p);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * For tests/tools.sh: make the test PKI of tls_certs.h in a new directory
 * under $TMPDIR and print that directory. Its files: ca.pem (the CA both
 * sides trust), ca2.pem (another CA), NAME.pem and NAME.key for server,
 * client, server_ca2, client_ca2, server_expired, client_expired and
 * server_as_client, and the PSKs psk.hex and psk2.hex. The caller removes
 * the directory.
 */
#include <stdio.h>

#include "tls_certs.h"

int main(void)
{
	struct tls_pki p;
	char err[256];

	if (tls_pki_make(&p, err, sizeof(err)) < 0) {
		fprintf(stderr, "tls_make_certs: %s\n", err);
		tls_pki_remove(&p);
		return 1;
	}
	printf("%s\n", p.dir);
	return 0;
}

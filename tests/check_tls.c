/* SPDX-License-Identifier: MIT */
/*
 * The TLS transport, against a PKI made in the test (tls_certs.c): a good
 * mutual handshake and bulk transfers both ways; refusals with their
 * reasons (wrong CA, expired certificate, no client certificate, wrong
 * purpose, wrong name, wrong PSK or identity, PSK without ECDHE, TLS 1.2,
 * a peer that is not TLS), each before a single byte of the stream passes;
 * handshake deadlines against peers that stall or trickle; end of stream
 * with and without close_notify; read and write timeouts; shutdown; the
 * parameters; a live migration through the engine. Peers that misbehave
 * are raw GnuTLS sessions or raw sockets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "migrate_util.h" /* and testutil.h */
#include "tls_certs.h"
#include "transport/tls/tls_internal.h"
#include "xmig/backend/sim.h"
#include "xmig/errors.h"
#include "xmig/sys/transport.h"
#include "xmig/tls.h"
#include "xmig/transport.h"

#define CK_HAS(msg, needle)                                                           \
	ck_assert_msg(strstr((msg), (needle)) != NULL, "message '%s' does not mention '%s'", \
		      (msg), (needle))

static struct tls_pki pki;

static void pki_setup(void)
{
	char err[256];

	ck_assert_msg(tls_pki_make(&pki, err, sizeof(err)) == 0, "making the PKI: %s", err);
}

static void pki_teardown(void)
{
	tls_pki_remove(&pki);
}

static double ms_since(uint64_t start_ns)
{
	return (double)(xmig__now_ns() - start_ns) / 1e6;
}

/* ---- credentials ---- */

static struct xmig_tls_params x509(const char *ca, const struct tls_cred *c)
{
	struct xmig_tls_params p = XMIG_TLS_PARAMS_INIT;

	p.ca_file = ca;
	p.cert_file = c->cert;
	p.key_file = c->key;
	p.handshake_timeout_ms = 10000;
	return p;
}

static struct xmig_tls_params psk(const char *identity, const char *file)
{
	struct xmig_tls_params p = XMIG_TLS_PARAMS_INIT;

	p.psk_identity = identity;
	p.psk_file = file;
	p.handshake_timeout_ms = 10000;
	return p;
}

/* ---- payloads: many entries of varying sizes, every byte checked ---- */

#define ENTRIES XMIG_TEST_PAYLOAD_ENTRIES

/*
 * At least `mib` MiB (7 at the least) in ENTRIES pieces: empty, 1 byte,
 * pages, 40 KB runs, so records and reads end everywhere.
 */
static void payload_make(struct test_payload *p, uint32_t seed, unsigned int mib)
{
	uint32_t r = seed | 1;
	size_t sizes[ENTRIES], len = 0, want = (size_t)mib << 20;

	for (int i = 0; i < ENTRIES; i++) {
		r = r * 1103515245u + 12345u;
		if (i % 97 == 5)
			sizes[i] = 0;
		else if (i % 211 == 7)
			sizes[i] = 1;
		else
			sizes[i] = i % 13 == 0 ? 40000 : 4096 + (r >> 8) % 3;
		len += sizes[i];
	}
	/* scale to the size asked, keeping the variety */
	while (len < want)
		for (int i = 0; i < ENTRIES && len < want; i += 3) {
			sizes[i] += 4096;
			len += 4096;
		}
	test_payload_fill(p, seed, sizes);
}

/* Reads of odd sizes end inside records: the rest must wait, buffered. */
static const size_t read_pieces[] = { 1, 7, 4096, 65536, 3, 1 << 20, 16385, 12289 };

static void roundtrip(struct xmig_transport *w, struct xmig_transport *r, uint32_t seed,
		      unsigned int mib)
{
	struct test_payload *p = calloc(1, sizeof(*p));
	struct test_reader rd = { .t = r, .pieces = read_pieces,
				  .npieces = sizeof(read_pieces) / sizeof(read_pieces[0]) };
	pthread_t th;

	ck_assert_ptr_nonnull(p);
	payload_make(p, seed, mib);
	rd.len = p->len;
	rd.buf = malloc(p->len);
	ck_assert_ptr_nonnull(rd.buf);
	ck_assert_int_eq(pthread_create(&th, NULL, test_reader_main, &rd), 0);
	CK_RC(w->ops->writev(w, p->iov, ENTRIES), 0);
	ck_assert_msg(memcmp(p->iov, p->copy, sizeof(p->iov)) == 0,
		      "writev changed the caller's iovec array");
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(rd.rc == 0, "reader: %s: %s", xmig_error_name(rd.rc), rd.msg);
	test_payload_check(rd.buf, rd.len, seed);
	free(rd.buf);
	free(p->buf);
	free(p);
}

/* ---- a server in a thread: xmig_tls_accept on a loopback listener ---- */

struct server {
	struct xmig_listener *l;
	struct xmig_tls_params p;
	char address[64];
	pthread_t th;
	struct xmig_transport *t;
	int rc;
	char msg[512];
	double ms;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	uint64_t start = xmig__now_ns();

	s->rc = xmig_tls_accept(&s->t, s->l, 10000, &s->p);
	s->ms = ms_since(start);
	snprintf(s->msg, sizeof(s->msg), "%s", xmig_error_last());
	return NULL;
}

static void server_start(struct server *s, const struct xmig_tls_params *p)
{
	memset(s, 0, sizeof(*s));
	s->p = *p;
	CK_RC(xmig_listener_open(&s->l, "127.0.0.1:0"), 0);
	snprintf(s->address, sizeof(s->address), "127.0.0.1:%u", xmig_listener_port(s->l));
	ck_assert_int_eq(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_join(struct server *s)
{
	ck_assert_int_eq(pthread_join(s->th, NULL), 0);
	xmig_listener_close(s->l);
	s->l = NULL;
}

struct outcome {
	int rc;
	char msg[512];
};

/*
 * Run a handshake between our server (`sp`) and our client (`cp`) and
 * expect both to fail: no transport on either side, the codes and the
 * message fragments given (NULL: not checked).
 */
static void expect_refused(const struct xmig_tls_params *sp, const struct xmig_tls_params *cp,
			   int srv_rc, const char *srv_says, int cli_rc, const char *cli_says)
{
	struct xmig_transport *t = (void *)1;
	struct server s;
	int rc;

	server_start(&s, sp);
	rc = xmig_tls_connect(&t, s.address, 5000, cp);
	server_join(&s);
	ck_assert_msg(rc == cli_rc, "client: %s, want %s (%s)", xmig_error_name(rc),
		      xmig_error_name(cli_rc), xmig_error_last());
	ck_assert_ptr_null(t);
	if (cli_says)
		CK_HAS(xmig_error_last(), cli_says);
	ck_assert_msg(s.rc == srv_rc, "server: %s, want %s (%s)", xmig_error_name(s.rc),
		      xmig_error_name(srv_rc), s.msg);
	ck_assert_ptr_null(s.t);
	if (srv_says)
		CK_HAS(s.msg, srv_says);
}

/* Connect `cp` to `sp`; both must succeed. */
static void connect_pair(const struct xmig_tls_params *sp, const struct xmig_tls_params *cp,
			 struct xmig_transport **srv, struct xmig_transport **cli)
{
	struct server s;
	int rc;

	server_start(&s, sp);
	rc = xmig_tls_connect(cli, s.address, 5000, cp);
	server_join(&s);
	ck_assert_msg(s.rc == 0, "server: %s: %s", xmig_error_name(s.rc), s.msg);
	ck_assert_msg(rc == 0, "client: %s: %s", xmig_error_name(rc), xmig_error_last());
	*srv = s.t;
}

static gnutls_session_t session_of(struct xmig_transport *t)
{
	return ((struct xmig__tls_transport *)t)->session;
}

/* ---- good handshakes ---- */

START_TEST(test_mutual_bulk_both_ways)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server), cp = x509(pki.ca, &pki.client);
	struct xmig_transport *srv, *cli;
	char c;

	cp.peer_name = "localhost";
	connect_pair(&sp, &cp, &srv, &cli);
	ck_assert_str_eq(cli->ops->name, "tls");
	ck_assert_uint_eq(cli->ops->version, XMIG_TRANSPORT_OPS_VERSION);
	ck_assert_uint_eq(cli->flags & XMIG_TRANSPORT_DUPLEX, XMIG_TRANSPORT_DUPLEX);
	ck_assert_uint_eq(srv->flags & XMIG_TRANSPORT_WHOLE, 0);
	ck_assert_int_eq(gnutls_protocol_get_version(session_of(cli)), GNUTLS_TLS1_3);
	ck_assert_int_eq(gnutls_protocol_get_version(session_of(srv)), GNUTLS_TLS1_3);
	roundtrip(cli, srv, 1, 8);
	roundtrip(srv, cli, 2, 3);
	CK_RC(cli->ops->writev(cli, NULL, 0), 0);
	CK_RC(cli->ops->read(cli, NULL, 0, 0), 0);
	/* close() says goodbye: the peer sees a clean, authenticated end */
	xmig_transport_close(cli);
	CK_RC(srv->ops->read(srv, &c, 1, 5000), XMIG_EEOF);
	CK_HAS(xmig_error_last(), "close_notify");
	xmig_transport_close(srv);
}
END_TEST

START_TEST(test_peer_names)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server), cp = x509(pki.ca, &pki.client);
	struct xmig_transport *srv, *cli;

	/* the server's name, as DNS name or IP address; the client's name */
	cp.peer_name = "127.0.0.1";
	sp.peer_name = "client.test";
	connect_pair(&sp, &cp, &srv, &cli);
	roundtrip(cli, srv, 3, 1);
	xmig_transport_close(cli);
	xmig_transport_close(srv);

	cp.peer_name = "migrate.example";
	sp.peer_name = NULL;
	expect_refused(&sp, &cp, XMIG_EAUTH, "the client refused", XMIG_EAUTH,
		       "the server's certificate 'CN=localhost' is not for 'migrate.example'");
	cp.peer_name = "localhost";
	sp.peer_name = "other.test";
	expect_refused(&sp, &cp, XMIG_EAUTH,
		       "the client's certificate 'CN=xmig-client' is not for 'other.test'",
		       XMIG_EAUTH, "the server refused our certificate");
}
END_TEST

START_TEST(test_psk_works_with_ecdhe)
{
	struct xmig_tls_params sp = psk("lab", pki.psk), cp = psk("lab", pki.psk);
	struct xmig_transport *srv, *cli;

	connect_pair(&sp, &cp, &srv, &cli);
	ck_assert_int_eq(gnutls_protocol_get_version(session_of(cli)), GNUTLS_TLS1_3);
	/* forward secrecy: an ephemeral ECDHE exchange under the key, both sides */
	ck_assert_int_eq(gnutls_kx_get(session_of(cli)), GNUTLS_KX_ECDHE_PSK);
	ck_assert_int_eq(gnutls_kx_get(session_of(srv)), GNUTLS_KX_ECDHE_PSK);
	roundtrip(cli, srv, 4, 2);
	roundtrip(srv, cli, 5, 1);
	xmig_transport_close(cli);
	xmig_transport_close(srv);
}
END_TEST

/* ---- refusals, each with its reason ---- */

START_TEST(test_server_cert_from_another_ca)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server_ca2),
			       cp = x509(pki.ca, &pki.client);
	char want[PATH_MAX + 128];

	snprintf(want, sizeof(want),
		 "the server's certificate 'CN=localhost' is not signed by the CA in %s", pki.ca);
	expect_refused(&sp, &cp, XMIG_EAUTH,
		       "the client does not trust our certificate: not signed by its CA", XMIG_EAUTH,
		       want);
}
END_TEST

START_TEST(test_client_trusts_another_ca)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server), cp = x509(pki.ca2, &pki.client);
	char want[PATH_MAX + 128];

	snprintf(want, sizeof(want), "is not signed by the CA in %s", pki.ca2);
	expect_refused(&sp, &cp, XMIG_EAUTH, "the client does not trust our certificate",
		       XMIG_EAUTH, want);
}
END_TEST

START_TEST(test_client_cert_from_another_ca)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server),
			       cp = x509(pki.ca, &pki.client_ca2);
	char want[PATH_MAX + 128];

	snprintf(want, sizeof(want),
		 "the client's certificate 'CN=xmig-client' is not signed by the CA in %s", pki.ca);
	expect_refused(&sp, &cp, XMIG_EAUTH, want, XMIG_EAUTH,
		       "the server does not trust our certificate: not signed by its CA");
}
END_TEST

START_TEST(test_server_cert_expired)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server_expired),
			       cp = x509(pki.ca, &pki.client);

	expect_refused(&sp, &cp, XMIG_EAUTH, "the client refused our certificate as expired",
		       XMIG_EAUTH, "the server's certificate 'CN=localhost' has expired (not after ");
}
END_TEST

START_TEST(test_client_cert_expired)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server),
			       cp = x509(pki.ca, &pki.client_expired);

	expect_refused(&sp, &cp, XMIG_EAUTH,
		       "the client's certificate 'CN=xmig-client' has expired (not after ",
		       XMIG_EAUTH, "the server refused our certificate as expired");
}
END_TEST

START_TEST(test_server_cert_as_client_cert)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server),
			       cp = x509(pki.ca, &pki.server_as_client);

	expect_refused(&sp, &cp, XMIG_EAUTH, "is not for TLS client authentication", XMIG_EAUTH,
		       "the server refused our certificate");
}
END_TEST

START_TEST(test_psk_wrong_key)
{
	struct xmig_tls_params sp = psk("lab", pki.psk), cp = psk("lab", pki.psk2);

	expect_refused(&sp, &cp, XMIG_EAUTH,
		       "the pre-shared keys differ: the client's proof for identity 'lab' does not "
		       "verify", XMIG_EAUTH, "the server refused us: the pre-shared keys differ");
}
END_TEST

START_TEST(test_psk_wrong_identity)
{
	struct xmig_tls_params sp = psk("lab", pki.psk), cp = psk("intruder", pki.psk);

	/* the client cannot tell an unknown identity from a wrong key */
	expect_refused(&sp, &cp, XMIG_EAUTH, "the client's PSK identity is 'intruder', not 'lab'",
		       XMIG_EAUTH, "the pre-shared keys differ, or it does not know the identity "
				   "'intruder'");
}
END_TEST

START_TEST(test_x509_server_psk_client)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server), cp = psk("lab", pki.psk);

	expect_refused(&sp, &cp, XMIG_EPROTO, "found no parameters in common", XMIG_EPROTO,
		       "offers no key exchange our credentials allow");
}
END_TEST

/* ---- raw peers: what our constructors cannot be made to do ---- */

/* A plain socket connected to `address` ("127.0.0.1:PORT"). */
static int raw_connect(const char *address)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_port = htons((uint16_t)atoi(strchr(address, ':') + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A GnuTLS client of our server, configured by hand. */
struct raw_client {
	const char *address;
	const char *prio;
	const char *ca, *cert, *key;      /* X.509; cert NULL: none */
	const char *psk_identity;         /* PSK instead */
	const uint8_t *psk_key;
	size_t psk_len;
	pthread_t th;
	int handshake_rc; /* GnuTLS codes */
	ssize_t read_rc;
	uint8_t byte;
};

static void *raw_client_main(void *arg)
{
	struct raw_client *r = arg;
	gnutls_certificate_credentials_t x = NULL;
	gnutls_psk_client_credentials_t k = NULL;
	gnutls_session_t s;
	int fd = raw_connect(r->address);

	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_priority_set_direct(s, r->prio, NULL);
	if (r->psk_identity) {
		gnutls_datum_t key = { (unsigned char *)r->psk_key, (unsigned int)r->psk_len };

		gnutls_psk_allocate_client_credentials(&k);
		gnutls_psk_set_client_credentials(k, r->psk_identity, &key, GNUTLS_PSK_KEY_RAW);
		gnutls_credentials_set(s, GNUTLS_CRD_PSK, k);
	} else {
		gnutls_certificate_allocate_credentials(&x);
		gnutls_certificate_set_x509_trust_file(x, r->ca, GNUTLS_X509_FMT_PEM);
		if (r->cert)
			gnutls_certificate_set_x509_key_file(x, r->cert, r->key,
							     GNUTLS_X509_FMT_PEM);
		gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, x);
	}
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 10000);
	do
		r->handshake_rc = gnutls_handshake(s);
	while (r->handshake_rc < 0 && !gnutls_error_is_fatal(r->handshake_rc));
	r->read_rc = -1;
	if (r->handshake_rc == 0)
		do
			r->read_rc = gnutls_record_recv(s, &r->byte, 1);
		while (r->read_rc == GNUTLS_E_AGAIN || r->read_rc == GNUTLS_E_INTERRUPTED);
	gnutls_deinit(s);
	if (x)
		gnutls_certificate_free_credentials(x);
	if (k)
		gnutls_psk_free_client_credentials(k);
	close(fd);
	return NULL;
}

/* Our server against `r`: it must refuse with `want` and a message with `says`. */
static void raw_client_refused(struct raw_client *r, const struct xmig_tls_params *sp, int want,
			       const char *says)
{
	struct xmig_listener *l;
	struct xmig_transport *t = (void *)1;
	char address[64];

	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	r->address = address;
	ck_assert_int_eq(pthread_create(&r->th, NULL, raw_client_main, r), 0);
	CK_RC(xmig_tls_accept(&t, l, 5000, sp), want);
	ck_assert_ptr_null(t);
	if (says)
		CK_HAS(xmig_error_last(), says);
	ck_assert_int_eq(pthread_join(r->th, NULL), 0);
	/* Whatever its own handshake said, the client never got our acceptance. */
	ck_assert_msg(r->read_rc != 1, "the refused client read a byte (0x%02x)", r->byte);
	xmig_listener_close(l);
}

START_TEST(test_client_without_certificate)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server);
	struct raw_client r = { .prio = XMIG__TLS_PRIORITY_X509, .ca = pki.ca };

	raw_client_refused(&r, &sp, XMIG_EAUTH, "the client sent no certificate");
}
END_TEST

START_TEST(test_tls12_client_refused)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server);
	struct raw_client r = { .prio = "NORMAL:-VERS-ALL:+VERS-TLS1.2", .ca = pki.ca,
				.cert = pki.client.cert, .key = pki.client.key };

	raw_client_refused(&r, &sp, XMIG_EPROTO, "does not speak TLS 1.3");
	ck_assert_int_lt(r.handshake_rc, 0);
}
END_TEST

START_TEST(test_psk_without_ecdhe_refused)
{
	/* psk_ke, the PSK mode without forward secrecy, with the right key */
	struct xmig_tls_params sp = psk("lab", pki.psk);
	struct raw_client r = { .prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+PSK",
				.psk_identity = "lab" };
	FILE *f = fopen(pki.psk, "r");
	uint8_t key[32];
	unsigned int v;

	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 32; i++) {
		ck_assert_int_eq(fscanf(f, "%2x", &v), 1);
		key[i] = (uint8_t)v;
	}
	fclose(f);
	r.psk_key = key;
	r.psk_len = sizeof(key);
	raw_client_refused(&r, &sp, XMIG_EPROTO, "offers no key exchange our credentials allow");
	ck_assert_int_lt(r.handshake_rc, 0);
}
END_TEST

START_TEST(test_plain_client_refused)
{
	/* an xmig stream's first bytes, in clear, to a TLS receiver */
	static const uint8_t header[16] = { 1, 0, 0, 0, 0x40, 0, 0, 0, 'X', 'M', 'I', 'G' };
	struct xmig_tls_params sp = x509(pki.ca, &pki.server);
	struct xmig_listener *l;
	struct xmig_transport *t = (void *)1, *plain;
	char address[64];

	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	CK_RC(xmig_transport_connect(&plain, address, 5000), 0);
	CK_RC(plain->ops->writev(plain, &(struct iovec){ (void *)header, sizeof(header) }, 1), 0);
	CK_RC(xmig_tls_accept(&t, l, 5000, &sp), XMIG_EPROTO);
	ck_assert_ptr_null(t);
	CK_HAS(xmig_error_last(), "does not speak TLS 1.3");
	xmig_transport_close(plain);
	xmig_listener_close(l);
}
END_TEST

/* ---- deadlines ---- */

START_TEST(test_handshake_deadline_silent_client)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server);
	struct xmig_listener *l;
	struct xmig_transport *t = (void *)1;
	char address[64];
	uint64_t start;
	double ms;
	int fd;

	sp.handshake_timeout_ms = 300;
	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	fd = raw_connect(address); /* connects, then says nothing */
	start = xmig__now_ns();
	CK_RC(xmig_tls_accept(&t, l, 5000, &sp), XMIG_ETIMEDOUT);
	ms = ms_since(start);
	ck_assert_ptr_null(t);
	CK_HAS(xmig_error_last(), "did not complete within 300 ms");
	ck_assert_msg(ms >= 250 && ms < 3000, "gave up after %.0f ms", ms);
	close(fd);
	xmig_listener_close(l);
}
END_TEST

struct trickler {
	int fd;
	atomic_int stop;
	int sent;
};

/* A handshake record announced at 16 KiB, then one byte every 20 ms. */
static void *trickle_main(void *arg)
{
	static const uint8_t head[5] = { 0x16, 0x03, 0x01, 0x40, 0x00 };
	struct trickler *tr = arg;
	uint8_t byte = 0x01;

	if (send(tr->fd, head, sizeof(head), MSG_NOSIGNAL) != (ssize_t)sizeof(head))
		return NULL;
	while (!atomic_load(&tr->stop) && send(tr->fd, &byte, 1, MSG_NOSIGNAL) == 1) {
		tr->sent++;
		usleep(20000);
	}
	return NULL;
}

START_TEST(test_handshake_deadline_trickling_client)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server);
	struct xmig_listener *l;
	struct xmig_transport *t = (void *)1;
	struct trickler tr = { .fd = -1 };
	char address[64];
	pthread_t th;
	uint64_t start;
	double ms;

	sp.handshake_timeout_ms = 600;
	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	tr.fd = raw_connect(address);
	atomic_init(&tr.stop, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, trickle_main, &tr), 0);
	start = xmig__now_ns();
	CK_RC(xmig_tls_accept(&t, l, 5000, &sp), XMIG_ETIMEDOUT);
	ms = ms_since(start);
	atomic_store(&tr.stop, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	/* bytes kept coming, and still the deadline held */
	ck_assert_msg(tr.sent >= 10, "only %d bytes trickled", tr.sent);
	ck_assert_msg(ms >= 550 && ms < 3000, "gave up after %.0f ms", ms);
	close(tr.fd);
	xmig_listener_close(l);
}
END_TEST

START_TEST(test_handshake_deadline_silent_server)
{
	struct xmig_tls_params cp = x509(pki.ca, &pki.client);
	struct xmig_listener *l;
	struct xmig_transport *t = (void *)1;
	char address[64];
	uint64_t start;
	double ms;

	cp.handshake_timeout_ms = 300;
	/* the kernel completes the TCP handshake; nobody answers the TLS one */
	CK_RC(xmig_listener_open(&l, "127.0.0.1:0"), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(l));
	start = xmig__now_ns();
	CK_RC(xmig_tls_connect(&t, address, 5000, &cp), XMIG_ETIMEDOUT);
	ms = ms_since(start);
	ck_assert_ptr_null(t);
	CK_HAS(xmig_error_last(), "did not complete within 300 ms");
	ck_assert_msg(ms >= 250 && ms < 3000, "gave up after %.0f ms", ms);
	xmig_listener_close(l);
}
END_TEST

/* ---- over a socketpair: end of stream, timeouts, shutdown ---- */

struct fd_peer {
	int fd;
	int role;
	unsigned int flags;
	struct xmig_tls_params p;
	struct xmig_transport *t;
	int rc;
	char msg[512];
};

static void *fd_peer_main(void *arg)
{
	struct fd_peer *f = arg;

	f->rc = xmig_tls_fd(&f->t, f->fd, f->role, f->flags, &f->p);
	snprintf(f->msg, sizeof(f->msg), "%s", xmig_error_last());
	return NULL;
}

/*
 * A server transport on sv[1] (owning it) and a client on sv[0], owned
 * only if `client_owns`.
 */
static void fd_pair(int sv[2], struct xmig_transport **srv, struct xmig_transport **cli,
		    int client_owns)
{
	struct fd_peer s = { .role = XMIG_TLS_SERVER, .flags = XMIG_FD_OWN };
	pthread_t th;
	int rc;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s.fd = sv[1];
	s.p = x509(pki.ca, &pki.server);
	ck_assert_int_eq(pthread_create(&th, NULL, fd_peer_main, &s), 0);
	struct xmig_tls_params cp = x509(pki.ca, &pki.client);
	rc = xmig_tls_fd(cli, sv[0], XMIG_TLS_CLIENT, client_owns ? XMIG_FD_OWN : 0, &cp);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(rc == 0, "client: %s", xmig_error_last());
	ck_assert_msg(s.rc == 0, "server: %s", s.msg);
	*srv = s.t;
}

START_TEST(test_cut_without_close_notify)
{
	struct xmig_transport *srv, *cli;
	uint8_t *buf = calloc(1, 1 << 20);
	int sv[2];

	ck_assert_ptr_nonnull(buf);
	fd_pair(sv, &srv, &cli, 0);
	memset(buf, 0x5a, 64 << 10); /* fits in the socketpair: no reader needed */
	CK_RC(cli->ops->writev(cli, &(struct iovec){ buf, 64 << 10 }, 1), 0);
	/* the sender dies: its socket closes, no close_notify */
	ck_assert_int_eq(shutdown(sv[0], SHUT_RDWR), 0);
	memset(buf, 0, 1 << 20);
	CK_RC(srv->ops->read(srv, buf, 1 << 20, 5000), XMIG_EIO);
	CK_HAS(xmig_error_last(), "without a TLS close_notify after 65536 of 1048576 bytes");
	ck_assert_uint_eq(buf[(64 << 10) - 1], 0x5a); /* what came was delivered */
	xmig_transport_close(srv);
	xmig_transport_close(cli);
	close(sv[0]);
	free(buf);
}
END_TEST

START_TEST(test_clean_close_mid_read)
{
	struct xmig_transport *srv, *cli;
	uint8_t buf[4096] = { 0 };
	int sv[2];

	fd_pair(sv, &srv, &cli, 1);
	CK_RC(cli->ops->writev(cli, &(struct iovec){ buf, 100 }, 1), 0);
	xmig_transport_close(cli); /* close_notify, then the socket */
	CK_RC(srv->ops->read(srv, buf, sizeof(buf), 5000), XMIG_EEOF);
	CK_HAS(xmig_error_last(), "close_notify) after 100 of 4096 bytes");
	/* XMIG_FD_OWN: the client's descriptor is closed */
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
	xmig_transport_close(srv);
}
END_TEST

START_TEST(test_read_deadline_then_more)
{
	struct xmig_transport *srv, *cli;
	uint8_t buf[64];
	uint64_t start;
	double ms;
	int sv[2];

	fd_pair(sv, &srv, &cli, 1);
	start = xmig__now_ns();
	CK_RC(srv->ops->read(srv, buf, 10, 200), XMIG_ETIMEDOUT);
	ms = ms_since(start);
	ck_assert_msg(ms >= 150 && ms < 3000, "gave up after %.0f ms", ms);
	CK_HAS(xmig_error_last(), "read timed out after 200 ms");
	/* the session survives a read that timed out */
	CK_RC(cli->ops->writev(cli, &(struct iovec){ "0123456789abcdef", 16 }, 1), 0);
	CK_RC(srv->ops->read(srv, buf, 10, 2000), 0);
	CK_RC(srv->ops->read(srv, buf + 10, 6, 2000), 0); /* the rest stayed buffered */
	ck_assert_int_eq(memcmp(buf, "0123456789abcdef", 16), 0);
	xmig_transport_close(cli);
	xmig_transport_close(srv);
}
END_TEST

START_TEST(test_write_timeout)
{
	struct xmig_transport *srv, *cli;
	size_t len = 64u << 20;
	uint8_t *buf = calloc(1, len);
	uint64_t start;
	double ms;
	int sv[2];

	ck_assert_ptr_nonnull(buf);
	fd_pair(sv, &srv, &cli, 1);
	cli->write_timeout_ms = 300; /* the server never reads */
	start = xmig__now_ns();
	CK_RC(cli->ops->writev(cli, &(struct iovec){ buf, len }, 1), XMIG_ETIMEDOUT);
	ms = ms_since(start);
	ck_assert_msg(ms >= 250 && ms < 5000, "gave up after %.0f ms", ms);
	CK_HAS(xmig_error_last(), "write timed out after 300 ms");
	/* a record may be half out: nothing more can go */
	CK_RC(cli->ops->writev(cli, &(struct iovec){ buf, 1 }, 1), XMIG_EIO);
	CK_HAS(xmig_error_last(), "earlier write failed");
	xmig_transport_close(cli);
	xmig_transport_close(srv);
	free(buf);
}
END_TEST

struct slow_reader {
	struct xmig_transport *t;
	size_t len;
	int rc;
};

/* 64 KiB every 40 ms: slow, but never silent for the writer's 300 ms. */
static void *slow_reader_main(void *arg)
{
	struct slow_reader *r = arg;
	uint8_t *buf = malloc(64 << 10);
	size_t done = 0, n;

	r->rc = buf ? 0 : XMIG_ENOMEM;
	while (r->rc == 0 && done < r->len) {
		n = r->len - done < (64u << 10) ? r->len - done : 64u << 10;
		usleep(40000);
		r->rc = r->t->ops->read(r->t, buf, n, 10000);
		done += n;
	}
	free(buf);
	return NULL;
}

START_TEST(test_write_timeout_spares_a_slow_reader)
{
	struct xmig_transport *srv, *cli;
	struct slow_reader r = { .len = 2u << 20 };
	uint8_t *buf = calloc(1, r.len);
	uint64_t start;
	pthread_t th;
	double ms;
	int sv[2];

	ck_assert_ptr_nonnull(buf);
	fd_pair(sv, &srv, &cli, 1);
	r.t = srv;
	cli->write_timeout_ms = 300;
	ck_assert_int_eq(pthread_create(&th, NULL, slow_reader_main, &r), 0);
	start = xmig__now_ns();
	CK_RC(cli->ops->writev(cli, &(struct iovec){ buf, r.len }, 1), 0);
	ms = ms_since(start);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(r.rc, 0);
	/* longer than the timeout in all, and still no timeout */
	ck_assert_msg(ms > 600, "the write took only %.0f ms: the test proves nothing", ms);
	xmig_transport_close(cli);
	xmig_transport_close(srv);
	free(buf);
}
END_TEST

struct blocked {
	struct xmig_transport *t;
	int rc;
};

static void *blocked_read_main(void *arg)
{
	struct blocked *b = arg;
	uint8_t c;

	b->rc = b->t->ops->read(b->t, &c, 1, -1);
	return NULL;
}

START_TEST(test_shutdown_unblocks_read)
{
	struct xmig_transport *srv, *cli;
	struct blocked b;
	uint64_t start;
	pthread_t th;
	int sv[2];

	fd_pair(sv, &srv, &cli, 1);
	b.t = srv;
	ck_assert_int_eq(pthread_create(&th, NULL, blocked_read_main, &b), 0);
	usleep(100000);
	start = xmig__now_ns();
	srv->ops->shutdown(srv);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(b.rc, XMIG_ECANCELED);
	ck_assert_msg(ms_since(start) < 2000, "read returned %.0f ms after shutdown",
		      ms_since(start));
	xmig_transport_close(srv);
	xmig_transport_close(cli);
}
END_TEST

/* ---- the engine over TLS ---- */

START_TEST(test_live_migration_over_tls)
{
	struct xmig_tls_params sp = x509(pki.ca, &pki.server), cp = x509(pki.ca, &pki.client);
	struct xmig_sim_params gp = XMIG_SIM_PARAMS_INIT;
	struct xmig_send_params p = XMIG_SEND_PARAMS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	struct xmig_transport *srv, *cli;
	struct xmig_backend *src, *dst;
	struct side snd, rcv;
	uint64_t bad;

	gp.mem_bytes = 64u << 20;
	gp.dirty = "hot:4M:max";
	ck_assert_msg(xmig_sim_new(&src, &gp) == 0, "%s", xmig_error_last());
	ck_assert_int_eq(xmig_sim_new_dest(&dst), 0);
	cp.peer_name = "localhost";
	connect_pair(&sp, &cp, &srv, &cli);
	p.verify = 1;
	p.max_rounds = 8;
	rp.require_verify = 1;
	p.log_fn = rp.log_fn = test_log;
	p.log_payload = "send";
	rp.log_payload = "recv";
	recv_start(&rcv, dst, srv, &rp);
	send_run(&snd, src, cli, &p);
	recv_join(&rcv);
	ck_assert_msg(snd.rc == 0, "sender: %s", snd.err);
	ck_assert_msg(rcv.rc == 0, "receiver: %s", rcv.err);
	ck_assert_int_eq(rcv.stats.verified, 1);
	ck_assert_uint_eq(snd.stats.bytes, rcv.stats.bytes);
	ck_assert_msg(xmig_sim_check(dst, &bad) == 0, "bad page 0x%llx", (unsigned long long)bad);
	xmig_session_free(snd.s);
	xmig_session_free(rcv.s);
	xmig_transport_close(cli);
	xmig_transport_close(srv);
	src->ops->free(src);
	dst->ops->free(dst);
}
END_TEST

/* ---- parameters and credential files ---- */

static int try_client(const struct xmig_tls_params *p)
{
	struct xmig_transport *t = (void *)1;
	int sv[2], rc;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	rc = xmig_tls_fd(&t, sv[0], XMIG_TLS_CLIENT, XMIG_FD_OWN, p);
	ck_assert_ptr_null(t);
	/* on failure the descriptor stays the caller's */
	ck_assert_int_ne(fcntl(sv[0], F_GETFD), -1);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_parameters)
{
	struct xmig_tls_params p, good = x509(pki.ca, &pki.client);
	struct xmig_transport *t = (void *)1;
	char path[PATH_MAX + 16];
	int pfd[2];

	CK_RC(xmig_tls_params_init(&p, XMIG_TLS_PARAMS_VERSION + 1), XMIG_EINVAL);
	CK_RC(xmig_tls_params_init(&p, XMIG_TLS_PARAMS_VERSION), 0);
	ck_assert_int_eq(p.handshake_timeout_ms, 30000);
	ck_assert_ptr_null(p.ca_file);

	CK_RC(try_client(NULL), XMIG_EINVAL);
	p.version = 99;
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "version 99");
	CK_RC(xmig_tls_params_init(&p, XMIG_TLS_PARAMS_VERSION), 0);
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "no credentials");

	p = good;
	p.psk_file = pki.psk;
	p.psk_identity = "lab";
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "not both");
	p = good;
	p.key_file = NULL;
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "missing: key_file");
	snprintf(path, sizeof(path), "%s/none.pem", pki.dir);
	p = good;
	p.ca_file = path;
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "cannot read the CA file");
	CK_HAS(xmig_error_last(), path);
	p.ca_file = pki.psk; /* not PEM */
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), pki.psk);
	p = good;
	p.key_file = pki.server.key; /* someone else's key */
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "does not belong to the certificate");
	p.key_file = pki.ca; /* a certificate where the key belongs */
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "the key file");

	p = psk("lab", pki.psk);
	p.peer_name = "localhost";
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "peer_name is for X.509");
	p = psk("", pki.psk);
	CK_RC(try_client(&p), XMIG_EINVAL);
	p = psk("lab\033[2J", pki.psk);
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "printable ASCII");
	snprintf(path, sizeof(path), "%s/short.hex", pki.dir);
	write_text(path, "00112233445566778899aabbccddee\n"); /* 15 bytes */
	p = psk("lab", path);
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "32 to 128 hex digits");
	write_text(path, "  00112233445566778899aabbccddeeff00112233445566778899aabbccddeeXX\n");
	CK_RC(try_client(&p), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "not a hex digit");
	write_text(path, "\n 00112233445566778899AABBCCDDEEFF \n");
	/* a good key: the failure now is the handshake's (no server: it times out) */
	p.handshake_timeout_ms = 100;
	CK_RC(try_client(&p), XMIG_ETIMEDOUT);

	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	CK_RC(xmig_tls_fd(&t, pfd[0], XMIG_TLS_CLIENT, 0, &good), XMIG_EINVAL);
	CK_HAS(xmig_error_last(), "not a socket");
	CK_RC(xmig_tls_fd(&t, pfd[0], 7, 0, &good), XMIG_EINVAL);
	CK_RC(xmig_tls_fd(&t, pfd[0], XMIG_TLS_CLIENT, 0x80, &good), XMIG_EINVAL);
	ck_assert_ptr_null(t);
	close(pfd[0]);
	close(pfd[1]);
	CK_RC(xmig_tls_connect(NULL, "127.0.0.1:1", 100, &good), XMIG_EINVAL);
	CK_RC(xmig_tls_accept(&t, NULL, 100, &good), XMIG_EINVAL);
	CK_RC(xmig_tls_connect(&t, "nonsense", 100, &good), XMIG_EINVAL);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc;

	tc = tcase_create("handshake");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_test(tc, test_mutual_bulk_both_ways);
	tcase_add_test(tc, test_peer_names);
	tcase_add_test(tc, test_psk_works_with_ecdhe);
	tcase_add_test(tc, test_live_migration_over_tls);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusal");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_test(tc, test_server_cert_from_another_ca);
	tcase_add_test(tc, test_client_trusts_another_ca);
	tcase_add_test(tc, test_client_cert_from_another_ca);
	tcase_add_test(tc, test_server_cert_expired);
	tcase_add_test(tc, test_client_cert_expired);
	tcase_add_test(tc, test_server_cert_as_client_cert);
	tcase_add_test(tc, test_psk_wrong_key);
	tcase_add_test(tc, test_psk_wrong_identity);
	tcase_add_test(tc, test_x509_server_psk_client);
	tcase_add_test(tc, test_client_without_certificate);
	tcase_add_test(tc, test_tls12_client_refused);
	tcase_add_test(tc, test_psk_without_ecdhe_refused);
	tcase_add_test(tc, test_plain_client_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("deadline");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_test(tc, test_handshake_deadline_silent_client);
	tcase_add_test(tc, test_handshake_deadline_trickling_client);
	tcase_add_test(tc, test_handshake_deadline_silent_server);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_test(tc, test_cut_without_close_notify);
	tcase_add_test(tc, test_clean_close_mid_read);
	tcase_add_test(tc, test_read_deadline_then_more);
	tcase_add_test(tc, test_write_timeout);
	tcase_add_test(tc, test_write_timeout_spares_a_slow_reader);
	tcase_add_test(tc, test_shutdown_unblocks_read);
	tcase_add_test(tc, test_parameters);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(tls_suite());
}

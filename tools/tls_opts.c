/* SPDX-License-Identifier: MIT */
/* The tools' --tls-* options (see tls_opts.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint.h"
#include "tls_opts.h"
#include "toolutil.h"
#include "transport/internal.h"
#include "xmig/sys/backend.h"

/* For messages: the option of each code. */
static const char *const opt_names[] = {
	[OPT_TLS_CA - OPT_TLS_CA] = "--tls-ca",
	[OPT_TLS_CERT - OPT_TLS_CA] = "--tls-cert",
	[OPT_TLS_KEY - OPT_TLS_CA] = "--tls-key",
	[OPT_TLS_PEER_NAME - OPT_TLS_CA] = "--tls-peer-name",
	[OPT_TLS_PSK_IDENTITY - OPT_TLS_CA] = "--tls-psk-identity",
	[OPT_TLS_PSK_FILE - OPT_TLS_CA] = "--tls-psk-file",
	[OPT_TLS_HANDSHAKE_TIMEOUT - OPT_TLS_CA] = "--tls-handshake-timeout",
};

void tls_opts_init(struct tls_opts *t)
{
	const struct xmig_tls_params def = XMIG_TLS_PARAMS_INIT;

	t->p = def;
	t->first = NULL;
}

int tls_opts_parse(struct tls_opts *t, int c, const char *arg)
{
	const char *name;

	if (c < OPT_TLS_CA || c > OPT_TLS_HANDSHAKE_TIMEOUT)
		return 0;
	name = opt_names[c - OPT_TLS_CA];
#ifndef XMIG_HAVE_TLS
	usage_error("%s: this xmig was built without TLS (libgnutls28-dev)", name);
#endif
	if (!t->first)
		t->first = name;
	switch (c) {
	case OPT_TLS_CA: t->p.ca_file = arg; break;
	case OPT_TLS_CERT: t->p.cert_file = arg; break;
	case OPT_TLS_KEY: t->p.key_file = arg; break;
	case OPT_TLS_PEER_NAME: t->p.peer_name = arg; break;
	case OPT_TLS_PSK_IDENTITY: t->p.psk_identity = arg; break;
	case OPT_TLS_PSK_FILE: t->p.psk_file = arg; break;
	case OPT_TLS_HANDSHAKE_TIMEOUT: {
		uint64_t ms = parse_duration_ms(name, arg);

		if (!ms || ms > INT_MAX)
			usage_error("%s: '%s' must be positive and at most 24 days", name, arg);
		t->p.handshake_timeout_ms = (int)ms;
		break;
	}
	}
	return 1;
}

/* A credential file must be a readable file now, not at the handshake. */
static void check_file(const char *opt, const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		usage_error("%s '%s': cannot read it: %s", opt, path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		usage_error("%s '%s': is a directory", opt, path);
	}
	close(fd);
}

static void check_x509(const struct xmig_tls_params *p)
{
	if (!p->ca_file || !p->cert_file || !p->key_file)
		usage_error("%s is missing: X.509 needs --tls-ca, --tls-cert and --tls-key together",
			    !p->ca_file ? "--tls-ca" : !p->cert_file ? "--tls-cert" : "--tls-key");
	check_file("--tls-ca", p->ca_file);
	check_file("--tls-cert", p->cert_file);
	check_file("--tls-key", p->key_file);
}

static void check_psk(const struct xmig_tls_params *p)
{
	size_t n;

	if (p->peer_name)
		usage_error("--tls-peer-name is for X.509 (a PSK carries no name)");
	if (!p->psk_identity || !p->psk_file)
		usage_error("%s is missing: PSK needs --tls-psk-identity and --tls-psk-file "
			    "together", !p->psk_identity ? "--tls-psk-identity" : "--tls-psk-file");
	n = strlen(p->psk_identity);
	if (n < 1 || n > 128)
		usage_error("--tls-psk-identity: 1 to 128 characters, not %zu", n);
	for (size_t i = 0; i < n; i++)
		if (p->psk_identity[i] < 0x21 || p->psk_identity[i] > 0x7e)
			usage_error("--tls-psk-identity: printable ASCII without spaces only");
	check_file("--tls-psk-file", p->psk_file);
}

void tls_opts_check(const struct tls_opts *t, const struct endpoint *ep)
{
	const struct xmig_tls_params *p = &t->p;
	int x509 = p->ca_file || p->cert_file || p->key_file;
	int psk = p->psk_identity || p->psk_file;

	if (!tls_opts_on(t))
		return;
	if (ep->stdio)
		usage_error("%s: not on %s stdio: the ssh carrying it encrypts already", t->first,
			    ep->opt);
	if (ep->kind != ENDPOINT_NET && !(ep->kind == ENDPOINT_FD && ep->duplex))
		usage_error("%s: TLS runs on a network stream (HOST:PORT, unix:PATH or fd:N of a "
			    "socket), not on %s '%s'", t->first, ep->opt, ep->spec);
	if (x509 && psk)
		usage_error("%s: give either X.509 (--tls-ca, --tls-cert, --tls-key) or PSK "
			    "(--tls-psk-identity, --tls-psk-file), not both", t->first);
	if (!x509 && !psk)
		usage_error("%s: TLS needs credentials: --tls-ca, --tls-cert and --tls-key, or "
			    "--tls-psk-identity and --tls-psk-file", t->first);
	if (x509)
		check_x509(p);
	else
		check_psk(p);
}

#ifdef XMIG_HAVE_TLS
int tls_opts_connect(const struct tls_opts *t, struct xmig_transport **out, const char *address,
		     int timeout_ms)
{
	return xmig_tls_connect(out, address, timeout_ms, &t->p);
}

int tls_opts_fd(const struct tls_opts *t, struct xmig_transport **out, int fd, int role,
		unsigned int flags)
{
	return xmig_tls_fd(out, fd, role, flags, &t->p);
}

int tls_opts_accept(const struct tls_opts *t, struct xmig_listener *l,
		    struct xmig_transport **out, int timeout_ms, int *arrived)
{
	enum xmig__fd_kind kind;
	int fd, rc;

	*arrived = 0;
	rc = xmig__listener_accept_fd(&fd, &kind, l, timeout_ms);
	if (rc)
		return rc;
	*arrived = 1;
	rc = xmig_tls_fd(out, fd, XMIG_TLS_SERVER, XMIG_FD_OWN, &t->p);
	if (rc)
		close(fd);
	return rc;
}
#else
/* Never reached: tls_opts_parse() refuses every --tls-* option. */
static int no_tls(void)
{
	return xmig_backend_error(XMIG_EINVAL, "this xmig was built without TLS "
				  "(libgnutls28-dev)");
}

int tls_opts_connect(const struct tls_opts *t, struct xmig_transport **out, const char *address,
		     int timeout_ms)
{
	(void)t, (void)address, (void)timeout_ms;
	*out = NULL;
	return no_tls();
}

int tls_opts_fd(const struct tls_opts *t, struct xmig_transport **out, int fd, int role,
		unsigned int flags)
{
	(void)t, (void)fd, (void)role, (void)flags;
	*out = NULL;
	return no_tls();
}

int tls_opts_accept(const struct tls_opts *t, struct xmig_listener *l,
		    struct xmig_transport **out, int timeout_ms, int *arrived)
{
	(void)t, (void)l, (void)timeout_ms;
	*out = NULL;
	*arrived = 0;
	return no_tls();
}
#endif

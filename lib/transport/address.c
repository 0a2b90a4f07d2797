/* SPDX-License-Identifier: MIT */
/*
 * Parsing and resolving transport addresses. Strict on purpose: an address
 * that is almost right (no port, a port out of range, a unix path that
 * would not fit) is rejected with the reason, never guessed at or cut.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"
#include "internal.h"

static int parse_unix(struct xmig__addr *a, const char *address, const char *path)
{
	size_t len = strlen(path);

	if (len == 0)
		return xmig__fail(XMIG_EINVAL, "address '%s': empty unix socket path", address);
	if (len >= sizeof(a->un.sun_path))
		return xmig__fail(XMIG_EINVAL,
				  "address '%s': unix socket path is %zu bytes, longer than the %zu "
				  "a sockaddr_un holds",
				  address, len, sizeof(a->un.sun_path) - 1);
	a->is_unix = 1;
	a->un.sun_family = AF_UNIX;
	memcpy(a->un.sun_path, path, len + 1);
	a->un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

static int parse_port(struct xmig__addr *a, const char *address, const char *port,
		      int for_listen)
{
	unsigned long v = 0;

	if (*port == '\0')
		return xmig__fail(XMIG_EINVAL, "address '%s': missing port (expected HOST:PORT)",
				  address);
	for (const char *p = port; *p; p++) {
		if (*p < '0' || *p > '9')
			return xmig__fail(XMIG_EINVAL, "address '%s': port '%s' is not a number",
					  address, port);
		if (v <= 65535) /* saturate: only "too big" matters past here */
			v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return xmig__fail(XMIG_EINVAL, "address '%s': port %s is out of range (0-65535)",
				  address, port);
	if (v == 0 && !for_listen)
		return xmig__fail(XMIG_EINVAL,
				  "address '%s': cannot connect to port 0 (only a listener may use "
				  "it, to pick a free port)",
				  address);
	a->port_num = (unsigned int)v;
	snprintf(a->port, sizeof(a->port), "%lu", v);
	return 0;
}

int xmig__addr_parse(struct xmig__addr *a, const char *address, int for_listen)
{
	const char *rest, *host, *port, *end;
	size_t host_len;

	memset(a, 0, sizeof(*a));
	if (!address || !*address)
		return xmig__fail(XMIG_EINVAL, "empty address");
	if (!strncmp(address, "unix:", 5))
		return parse_unix(a, address, address + 5);
	if (!strncmp(address, "file:", 5))
		return xmig__fail(XMIG_EINVAL,
				  "address '%s' is a file, not a socket: open it with "
				  "xmig_transport_file()",
				  address);

	rest = address;
	if (!strncmp(rest, "tcp:", 4))
		rest += 4;
	if (*rest == '[') {
		host = rest + 1;
		end = strchr(host, ']');
		if (!end)
			return xmig__fail(XMIG_EINVAL, "address '%s': '[' without a closing ']'",
					  address);
		if (end[1] == '\0')
			return xmig__fail(XMIG_EINVAL,
					  "address '%s': missing port (expected [IPV6]:PORT)", address);
		if (end[1] != ':')
			return xmig__fail(XMIG_EINVAL,
					  "address '%s': expected ':' after ']', found '%c'", address,
					  end[1]);
		host_len = (size_t)(end - host);
		port = end + 2;
		a->host_bracketed = 1;
	} else {
		end = strrchr(rest, ':');
		if (!end)
			return xmig__fail(XMIG_EINVAL,
					  "address '%s': missing port (expected HOST:PORT)", address);
		host = rest;
		host_len = (size_t)(end - rest);
		port = end + 1;
		if (memchr(host, ':', host_len))
			return xmig__fail(XMIG_EINVAL,
					  "address '%s': put an IPv6 address in brackets, as in "
					  "[::1]:7000",
					  address);
	}
	if (host_len == 0)
		return xmig__fail(XMIG_EINVAL, "address '%s': empty host%s", address,
				  for_listen ? " (0.0.0.0 or [::] listen on every address)" : "");
	if (host_len >= sizeof(a->host))
		return xmig__fail(XMIG_EINVAL, "address '%s': host is %zu bytes, more than %zu",
				  address, host_len, sizeof(a->host) - 1);
	memcpy(a->host, host, host_len);
	a->host[host_len] = '\0';
	return parse_port(a, address, port, for_listen);
}

int xmig__addr_resolve(const struct xmig__addr *a, int passive, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	int rc, err;

	*res = NULL;
	if (a->host_bracketed) {
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	}
	rc = getaddrinfo(a->host, a->port, &hints, res);
	if (rc == 0)
		return 0;
	*res = NULL;
	if (rc == EAI_SYSTEM)
		return xmig__fail_errno(XMIG_EIO, "cannot resolve '%s'", a->host);
	if (a->host_bracketed && rc != EAI_MEMORY && rc != EAI_AGAIN)
		return xmig__fail(XMIG_EINVAL, "'[%s]' is not a numeric IPv6 address (%s)", a->host,
				  gai_strerror(rc));
	/* A name that does not exist is the caller's to fix; a lookup that
	 * failed (no DNS server, try again) is an I/O problem. */
	err = rc == EAI_NONAME || rc == EAI_SERVICE || rc == EAI_FAMILY ? XMIG_EINVAL : XMIG_EIO;
	return xmig__fail(err, "cannot resolve '%s': %s", a->host, gai_strerror(rc));
}

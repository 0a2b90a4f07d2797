/* SPDX-License-Identifier: MIT */
/*
 * libxmig: pre-copy live migration of virtual machines.
 *
 * Start with xmig/session.h (how to run a migration), then xmig/transport.h
 * (how bytes move), xmig/tls.h (the authenticated, encrypted transport, in
 * builds with GnuTLS: XMIG_HAVE_TLS) and the backend headers under
 * xmig/backend/. A toolstack that brings its own hypervisor or transport
 * implements the tables in xmig/sys/.
 */
#ifndef XMIG_XMIG_H
#define XMIG_XMIG_H

#include "xmig/errors.h"
#include "xmig/policy.h"
#include "xmig/session.h"
#include "xmig/stats.h"
#include "xmig/tls.h"
#include "xmig/transport.h"

#define XMIG_VERSION_MAJOR 0
#define XMIG_VERSION_MINOR 1
#define XMIG_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "0.1.0". */
const char *xmig_version(void);

#ifdef __cplusplus
}
#endif
#endif

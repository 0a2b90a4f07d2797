/* SPDX-License-Identifier: MIT */
/* Entry points common to every transport, whoever implemented it. */
#include <stddef.h>

#include "common.h"
#include "xmig/sys/transport.h"
#include "xmig/transport.h"

XMIG__API void xmig_transport_close(struct xmig_transport *t)
{
	if (t)
		t->ops->close(t);
}

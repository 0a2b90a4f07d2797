/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include <xmig/xmig.h>

int main(void)
{
	struct xmig_send_params p;

	if (xmig_send_params_init(&p, XMIG_SEND_PARAMS_VERSION) < 0)
		return 1;
	printf("libxmig %s, default policy %s, target %u ms, %s\n", xmig_version(), p.policy,
	       p.target_downtime_ms, xmig_strerror(XMIG_EPROTO));
	return 0;
}

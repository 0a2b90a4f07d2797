/* SPDX-License-Identifier: MIT */
/* How much memory this host can still give (for refusing what cannot fit). */
#include <stdio.h>
#include <string.h>

#include "common.h"

uint64_t xmig__host_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kib = 0;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib << 10;
}

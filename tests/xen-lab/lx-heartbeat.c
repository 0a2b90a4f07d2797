/* SPDX-License-Identifier: MIT */
/* Linux test guest: print "LX HB n" every 20 ms of CLOCK_MONOTONIC, and
 * "LX GAP ms" whenever a period took longer than argv[1] ms (a pause the
 * guest lived through: its clock kept running, it did not). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	double gap = argc > 1 ? atof(argv[1]) : 20, prev = now_ms();
	struct timespec p = { 0, 20 * 1000000L };
	unsigned long n = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		double t;

		nanosleep(&p, NULL);
		t = now_ms();
		if (t - prev > gap + 20)
			printf("LX GAP %.1f\n", t - prev - 20);
		prev = t;
		if (++n % 50 == 0)
			printf("LX HB %lu\n", n);
	}
}

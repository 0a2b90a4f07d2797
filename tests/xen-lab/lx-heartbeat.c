/* SPDX-License-Identifier: MIT */
/*
 * The Linux lab guest's workload and heartbeat (runs as /init's last step).
 *
 *   lx-heartbeat [--hb MS] [--ws MIB] [--rate MIB_PER_S] [--gap MS] [--console]
 *
 * Every --hb ms (default 10) it writes "LX HB n" to Xen's debug port 0xe9
 * (Xen prints it with its own timestamp as "(dN) [ t] LX HB n": a clock
 * outside the guest, so the gap between the last line of one domain and the
 * first of the next is the downtime the guest lived through); every second
 * it also prints the heartbeat on the console. The port is written through
 * /dev/port, one byte per pwrite (the kernel does the OUT): user-space OUT
 * after ioperm() dies with #GP after a Xen suspend/resume, because Linux
 * does not reload the TSS I/O bitmap of a task it thinks is current.
 *
 * With --ws, it rewrites pages of a working set of that many MiB at --rate
 * MiB/s, in order, each page with a new generation number; before rewriting
 * a page it checks that the page still holds what it wrote last time. A
 * lost page write (a migration that dropped a dirty page) prints
 * "LX ERR page P has G, wrote W". "LX GAP ms" is printed when a period took
 * longer than --gap ms more than planned (the guest's own clock).
 *
 * --console is for a PV guest, which has no access to port 0xe9: no port
 * output, and gaps are measured on CLOCK_REALTIME, which a PV guest keeps
 * in step with Xen's across a suspend (CLOCK_MONOTONIC stops while the
 * kernel is suspended, so it would not see the downtime).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static int port_fd = -1;

static void port_line(const char *s)
{
	if (port_fd < 0)
		return;
	for (; *s; s++)
		if (pwrite(port_fd, s, 1, 0xe9) != 1) {
			perror("lx-heartbeat: /dev/port");
			close(port_fd);
			port_fd = -1;
			return;
		}
}

static void say(const char *line)
{
	fputs(line, stdout);
	port_line(line);
}

static clockid_t gap_clock = CLOCK_MONOTONIC;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(gap_clock, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long arg_long(int argc, char **argv, const char *name, long def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name)) {
			char *end;
			long v = strtol(argv[i + 1], &end, 10);

			if (*end || v < 0) {
				fprintf(stderr, "lx-heartbeat: bad %s %s\n", name, argv[i + 1]);
				exit(2);
			}
			return v;
		}
	return def;
}

/* Every word of a page holds the same stamp: page index and generation. */
static void stamp(uint64_t *p, uint64_t page, uint64_t gen)
{
	uint64_t v = page << 32 | gen;

	for (unsigned int i = 0; i < PAGE / 8; i++)
		p[i] = v;
}

static long check(const uint64_t *p, uint64_t page, uint64_t gen)
{
	uint64_t v = page << 32 | gen;

	for (unsigned int i = 0; i < PAGE / 8; i++)
		if (p[i] != v)
			return (long)(p[i] & 0xffffffffu);
	return -1;
}

int main(int argc, char **argv)
{
	long hb = arg_long(argc, argv, "--hb", 10);
	long ws = arg_long(argc, argv, "--ws", 0);
	long rate = arg_long(argc, argv, "--rate", 0);
	long gap = arg_long(argc, argv, "--gap", 20);
	uint64_t npages = (uint64_t)ws * (1024 * 1024 / PAGE), next = 0, errors = 0;
	uint32_t *gen = NULL;
	unsigned char *mem = NULL;
	double per_period = 0, credit = 0, prev;
	struct timespec due;
	unsigned long n = 0;
	char line[128];

	if (hb < 1 || hb > 1000 || ws > 65536 || rate > 65536) {
		fprintf(stderr, "lx-heartbeat: --hb 1..1000 ms, --ws and --rate up to 65536\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--console"))
			gap_clock = CLOCK_REALTIME;
	if (gap_clock == CLOCK_MONOTONIC) {
		port_fd = open("/dev/port", O_WRONLY | O_CLOEXEC);
		if (port_fd < 0)
			perror("lx-heartbeat: /dev/port (no heartbeat on port 0xe9)");
	}
	if (npages) {
		mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		gen = calloc(npages, sizeof(*gen));
		if (mem == MAP_FAILED || !gen) {
			perror("lx-heartbeat: working set");
			return 1;
		}
		for (uint64_t i = 0; i < npages; i++)
			stamp((uint64_t *)(mem + i * PAGE), i, 0);
		per_period = rate ? (double)rate * 1024 * 1024 / PAGE * hb / 1000.0 : 0;
	}
	snprintf(line, sizeof(line), "LX START hb=%ld ws=%ldM rate=%ldM/s port=%d\n", hb, ws,
		 rate, port_fd >= 0);
	say(line);
	clock_gettime(CLOCK_MONOTONIC, &due);
	prev = now_ms();
	for (;;) {
		double t;

		for (credit += per_period; credit >= 1; credit -= 1) {
			uint64_t *p = (uint64_t *)(mem + next * PAGE);
			long got = check(p, next, gen[next]);

			if (got >= 0 && errors++ < 20) {
				snprintf(line, sizeof(line), "LX ERR page %llu has %ld, wrote %u\n",
					 (unsigned long long)next, got, gen[next]);
				say(line);
			}
			stamp(p, next, ++gen[next]);
			next = (next + 1) % npages;
		}
		n++;
		snprintf(line, sizeof(line), "LX HB %lu\n", n);
		port_line(line);
		if (n % (1000 / hb ? 1000 / hb : 1) == 0) {
			snprintf(line, sizeof(line), "LX HB %lu errors=%llu\n", n,
				 (unsigned long long)errors);
			fputs(line, stdout);
		}
		due.tv_nsec += hb * 1000000L;
		while (due.tv_nsec >= 1000000000L) {
			due.tv_nsec -= 1000000000L;
			due.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
		t = now_ms();
		if (t - prev > hb + gap) {
			snprintf(line, sizeof(line), "LX GAP %.1f\n", t - prev - hb);
			say(line);
			/* after a long pause, do not try to catch up */
			clock_gettime(CLOCK_MONOTONIC, &due);
			credit = 0;
		}
		prev = t;
	}
}

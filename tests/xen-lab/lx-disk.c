/* SPDX-License-Identifier: MIT */
/*
 * The Linux lab guest's disk checker: writes sequence-numbered, checksummed
 * 4 KiB blocks to a block device with O_DIRECT, cycling over its first
 * --mib MiB, and reads back the block written --lag writes earlier to check
 * that the device holds exactly what was written, across any number of
 * migrations.
 *
 *   lx-disk --dev /dev/xvda [--mib 8] [--rate 50] [--lag 64]
 *
 * Block b, written as the n-th write: {u64 magic, u64 n, u64 b, u64 sum},
 * then 4064 bytes drawn from n; sum is FNV-1a over the 4064 bytes and the
 * first three fields. Every second: "LX DISK writes=W checked=C errors=E"
 * on stdout (the console); a mismatch: "LX DERR block B: ..." at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096u
#define MAGIC 0x4b5349444b53494cull /* "LISKDISK" */

static uint64_t fnv(const uint8_t *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void fill(uint8_t *b, uint64_t n, uint64_t blk)
{
	uint64_t x = n * 0x9e3779b97f4a7c15ull + 1, h[4] = { MAGIC, n, blk, 0 };

	for (size_t i = 32; i < BLK; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
	memcpy(b, h, 24);
	h[3] = fnv(b + 32, BLK - 32, fnv(b, 24, 0xcbf29ce484222325ull));
	memcpy(b + 24, &h[3], 8);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *dev = NULL;
	unsigned long mib = 8, rate = 50, lag = 64;
	uint64_t *written, nblk, n = 0, checked = 0, errors = 0;
	uint8_t *buf, *want;
	double t0, last;
	int fd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dev"))
			dev = argv[i + 1];
		else if (!strcmp(argv[i], "--mib"))
			mib = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--rate"))
			rate = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--lag"))
			lag = strtoul(argv[i + 1], NULL, 0);
	}
	if (!dev || !mib || !rate) {
		fprintf(stderr, "usage: lx-disk --dev DEV [--mib N] [--rate N] [--lag N]\n");
		return 2;
	}
	nblk = (uint64_t)mib * (1u << 20) / BLK;
	if (lag >= nblk)
		lag = nblk - 1;
	fd = open(dev, O_RDWR | O_DIRECT | O_SYNC);
	if (fd < 0) {
		printf("LX DERR open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	written = calloc(nblk, sizeof(*written)); /* n + 1 of each block's last write */
	if (posix_memalign((void **)&buf, BLK, BLK) || posix_memalign((void **)&want, BLK, BLK) ||
	    !written)
		return 1;
	printf("LX DISK start dev=%s blocks=%llu rate=%lu/s\n", dev, (unsigned long long)nblk,
	       rate);
	fflush(stdout);
	t0 = last = now();
	for (;;) {
		uint64_t b = n % nblk, c;

		fill(buf, n, b);
		if (pwrite(fd, buf, BLK, (off_t)(b * BLK)) != (ssize_t)BLK) {
			printf("LX DERR write block %llu: %s\n", (unsigned long long)b, strerror(errno));
			errors++;
		} else {
			written[b] = n + 1;
		}
		/* the block written `lag` writes ago */
		if (n >= lag) {
			c = (n - lag) % nblk;
			if (written[c]) {
				fill(want, written[c] - 1, c);
				if (pread(fd, buf, BLK, (off_t)(c * BLK)) != (ssize_t)BLK) {
					printf("LX DERR read block %llu: %s\n", (unsigned long long)c,
					       strerror(errno));
					errors++;
				} else if (memcmp(buf, want, BLK)) {
					uint64_t got[2];

					memcpy(got, buf + 8, 16);
					printf("LX DERR block %llu: holds write %llu of block %llu, "
					       "wrote %llu\n", (unsigned long long)c,
					       (unsigned long long)got[0], (unsigned long long)got[1],
					       (unsigned long long)(written[c] - 1));
					errors++;
				}
				checked++;
			}
		}
		n++;
		if (now() - last >= 1.0) {
			last = now();
			printf("LX DISK writes=%llu checked=%llu errors=%llu\n",
			       (unsigned long long)n, (unsigned long long)checked,
			       (unsigned long long)errors);
			fflush(stdout);
		}
		/* pace: n writes should have taken n / rate seconds */
		{
			double ahead = t0 + (double)n / rate - now();

			if (ahead > 0)
				usleep((useconds_t)(ahead * 1e6));
		}
	}
}

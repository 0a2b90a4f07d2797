/* SPDX-License-Identifier: MIT */
/*
 * xmig-tls-bench: what TLS costs. Moves the same bytes over loopback TCP
 * through the plain tcp transport and through the tls transport (X.509,
 * mutual authentication), alternating, in one run, and prints JSON with
 * the throughput of each repetition, the medians and their ratio.
 *
 * The sender writes what the engine writes: batches of 4 KiB pages from
 * one buffer, each preceded by a small header and a pfn list, as one
 * writev; the receiver reads each batch exactly. A run is timed from the
 * first writev to the receiver's one-byte answer after the last byte, so
 * the handshake is not in the throughput (it is reported on its own).
 * TLS runs twice per repetition: with the batch's pages in memory order
 * (round 0, sequential dirtying: the transport sends them in place) and
 * scattered (random dirtying: every page is gathered into a record first).
 *
 * Usage: xmig-tls-bench [--size BYTES[K|M|G]] [--reps N]   (default 1G, 5)
 * Loopback measures the CPU cost of the cipher on this machine: on a real
 * link slower than both numbers, TLS costs nothing but CPU.
 */
#define _GNU_SOURCE
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common.h"
#include "tls_certs.h"
#include "transport/tls/tls_internal.h"
#include "xmig/sys/transport.h"
#include "xmig/tls.h"
#include "xmig/transport.h"

#define PAGE 4096u
#define BATCH 1024u /* pages per writev, as the engine's largest batch */

struct bench {
	uint64_t size;
	int reps;
	struct tls_pki pki;
	struct xmig_tls_params server, client;
	uint8_t *pages;  /* BATCH pages: the "guest" */
	uint64_t pfns[BATCH];
	uint8_t header[16];
	struct iovec iov[BATCH + 2];
	char cipher[64];
};

struct receiver {
	struct bench *b;
	struct xmig_listener *l;
	int tls;
	int rc;
	char msg[512];
	double handshake_ms;
};

static void *receiver_main(void *arg)
{
	struct receiver *r = arg;
	struct xmig_transport *t = NULL;
	size_t batch = sizeof(r->b->header) + sizeof(r->b->pfns) + (size_t)BATCH * PAGE;
	uint8_t *buf = malloc(batch), ack = 1;
	struct iovec v = { &ack, 1 };
	uint64_t got = 0, start = xmig__now_ns();

	r->rc = buf ? 0 : XMIG_ENOMEM;
	if (r->rc == 0)
		r->rc = r->tls ? xmig_tls_accept(&t, r->l, 10000, &r->b->server)
			       : xmig_listener_accept(r->l, &t, 10000);
	r->handshake_ms = (double)(xmig__now_ns() - start) / 1e6;
	while (r->rc == 0 && got < r->b->size) {
		size_t n = r->b->size - got < batch ? (size_t)(r->b->size - got) : batch;

		r->rc = t->ops->read(t, buf, n, 30000);
		got += n;
	}
	if (r->rc == 0)
		r->rc = t->ops->writev(t, &v, 1);
	if (r->rc)
		snprintf(r->msg, sizeof(r->msg), "%s", xmig_error_last());
	if (t)
		xmig_transport_close(t);
	free(buf);
	return NULL;
}

/* Point the batch's page entries at the pages in memory order, or not. */
static void order_pages(struct bench *b, int scattered)
{
	for (unsigned int i = 0; i < BATCH; i++) {
		/* 751 is odd: i * 751 mod 1024 visits every page, none next to the last */
		unsigned int page = scattered ? (i * 751u) % BATCH : i;

		b->iov[2 + i].iov_base = b->pages + (size_t)page * PAGE;
		b->iov[2 + i].iov_len = PAGE;
	}
}

/* One transfer of b->size bytes; MB/s (10^6 bytes per second), or < 0. */
static double run_once(struct bench *b, int tls, int scattered, double *handshake_ms)
{
	struct receiver r = { .b = b, .tls = tls };
	struct xmig_transport *t = NULL;
	uint64_t sent = 0, start = 0;
	char address[64];
	pthread_t th;
	uint8_t ack;
	int rc;

	order_pages(b, scattered);
	rc = xmig_listener_open(&r.l, "127.0.0.1:0");
	if (rc) {
		fprintf(stderr, "xmig-tls-bench: %s\n", xmig_error_last());
		return -1;
	}
	snprintf(address, sizeof(address), "127.0.0.1:%u", xmig_listener_port(r.l));
	if (pthread_create(&th, NULL, receiver_main, &r) != 0) {
		xmig_listener_close(r.l);
		return -1;
	}
	rc = tls ? xmig_tls_connect(&t, address, 10000, &b->client)
		 : xmig_transport_connect(&t, address, 10000);
	if (rc == 0 && tls)
		snprintf(b->cipher, sizeof(b->cipher), "%s",
			 gnutls_cipher_get_name(
				 gnutls_cipher_get(((struct xmig__tls_transport *)t)->session)));
	start = xmig__now_ns();
	while (rc == 0 && sent < b->size) {
		uint64_t left = b->size - sent;
		int cnt = 2;
		size_t bytes = sizeof(b->header) + sizeof(b->pfns);

		/* header, pfn list, then as many pages as fit what is left */
		for (unsigned int i = 0; i < BATCH && bytes + PAGE <= left; i++) {
			cnt++;
			bytes += PAGE;
		}
		if (bytes > left) { /* a tail smaller than the batch's own header */
			b->iov[0].iov_len = (size_t)left;
			cnt = 1;
			bytes = (size_t)left;
		}
		rc = t->ops->writev(t, b->iov, cnt);
		b->iov[0].iov_len = sizeof(b->header);
		sent += bytes;
	}
	if (rc == 0)
		rc = t->ops->read(t, &ack, 1, 30000);
	double s = (double)(xmig__now_ns() - start) / 1e9;
	if (rc)
		fprintf(stderr, "xmig-tls-bench: sender: %s\n", xmig_error_last());
	if (t)
		xmig_transport_close(t);
	pthread_join(th, NULL);
	xmig_listener_close(r.l);
	if (r.rc)
		fprintf(stderr, "xmig-tls-bench: receiver: %s\n", r.msg);
	if (rc || r.rc)
		return -1;
	*handshake_ms = r.handshake_ms;
	return (double)b->size / s / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[64];

	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_list(const char *name, const double *v, int n)
{
	printf("\"%s\":[", name);
	for (int i = 0; i < n; i++)
		printf("%s%.1f", i ? "," : "", v[i]);
	printf("]");
}

static void cpu_model(char *buf, size_t size)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, size, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && c) {
			c += 2;
			c[strcspn(c, "\n\"\\")] = '\0';
			snprintf(buf, size, "%s", c);
			break;
		}
	}
	fclose(f);
}

static int setup(struct bench *b)
{
	char err[256];

	if (tls_pki_make(&b->pki, err, sizeof(err))) {
		fprintf(stderr, "xmig-tls-bench: making certificates: %s\n", err);
		return -1;
	}
	xmig_tls_params_init(&b->server, XMIG_TLS_PARAMS_VERSION);
	b->server.ca_file = b->pki.ca;
	b->server.cert_file = b->pki.server.cert;
	b->server.key_file = b->pki.server.key;
	b->client = b->server;
	b->client.cert_file = b->pki.client.cert;
	b->client.key_file = b->pki.client.key;
	b->client.peer_name = "localhost";
	b->pages = malloc((size_t)BATCH * PAGE);
	if (!b->pages)
		return -1;
	/* incompressible, as guest memory may be (TLS does not compress anyway) */
	for (size_t i = 0, x = 88172645463325252ull; i < (size_t)BATCH * PAGE; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b->pages[i] = (uint8_t)x;
	}
	for (unsigned int i = 0; i < BATCH; i++)
		b->pfns[i] = i;
	b->iov[0].iov_base = b->header;
	b->iov[0].iov_len = sizeof(b->header);
	b->iov[1].iov_base = b->pfns;
	b->iov[1].iov_len = sizeof(b->pfns);
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench b = { .size = 1ull << 30, .reps = 5 };
	double tcp[64], tls[64], tls_sc[64], hs[64], ms;
	char cpu[128];
	long nproc = sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--size") == 0 && i + 1 < argc &&
		    xmig__parse_size(argv[i + 1], &b.size) == 0 && b.size > 0) {
			i++;
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc &&
			   (b.reps = atoi(argv[i + 1])) > 0 && b.reps <= 64) {
			i++;
		} else {
			fprintf(stderr, "usage: xmig-tls-bench [--size BYTES[K|M|G]] "
					"[--reps N<=64]\n");
			return 2;
		}
	}
	if (setup(&b))
		return 1;
	for (int r = 0; r < b.reps; r++) {
		tcp[r] = run_once(&b, 0, 0, &ms);
		tls[r] = run_once(&b, 1, 0, &hs[r]);
		tls_sc[r] = run_once(&b, 1, 1, &ms);
		if (tcp[r] < 0 || tls[r] < 0 || tls_sc[r] < 0) {
			tls_pki_remove(&b.pki);
			return 1;
		}
		fprintf(stderr, "rep %d: tcp %.0f MB/s, tls %.0f MB/s, tls scattered %.0f MB/s\n",
			r + 1, tcp[r], tls[r], tls_sc[r]);
	}
	tls_pki_remove(&b.pki);
	cpu_model(cpu, sizeof(cpu));
	printf("{\"schema\":\"xmig-bench/1/tls\",\"bytes\":%llu,\"reps\":%d,\"unit\":\"MB/s\","
	       "\"transfer\":\"loopback TCP, 127.0.0.1, writev of %u 4 KiB pages + header; "
	       "tls: pages in memory order, and scattered\","
	       "\"machine\":{\"nproc\":%ld,\"cpu\":\"%s\"},\"gnutls\":\"%s\","
	       "\"tls\":{\"version\":\"TLS1.3\",\"auth\":\"X.509 mutual, ECDSA P-256\","
	       "\"cipher\":\"%s\",",
	       (unsigned long long)b.size, b.reps, BATCH, nproc, cpu, gnutls_check_version(NULL),
	       b.cipher);
	print_list("mbps", tls, b.reps);
	printf(",\"median\":%.1f,", median(tls, b.reps));
	print_list("mbps_scattered", tls_sc, b.reps);
	printf(",\"median_scattered\":%.1f,\"handshake_ms_median\":%.2f},\"tcp\":{",
	       median(tls_sc, b.reps), median(hs, b.reps));
	print_list("mbps", tcp, b.reps);
	printf(",\"median\":%.1f},\"ratio_tls_to_tcp\":%.3f,\"ratio_tls_scattered_to_tcp\":%.3f}\n",
	       median(tcp, b.reps), median(tls, b.reps) / median(tcp, b.reps),
	       median(tls_sc, b.reps) / median(tcp, b.reps));
	free(b.pages);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Check suites. */
#ifndef XMIG_TESTUTIL_H
#define XMIG_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "xmig/sys/transport.h"

/* Run one suite in fork mode (per-test isolation); exit status for main(). */
int xmig_test_run(Suite *s);

/* ctest's skip status (SKIP_RETURN_CODE): a suite that cannot run here. */
#define XMIG_TEST_SKIP 77

/* Assert that `expr` returns the xmig error code `want`, naming both and the
 * library's last message when it does not (needs xmig/errors.h and
 * xmig/transport.h for xmig_error_name and xmig_error_last). */
#define CK_RC(expr, want)                                                             \
	do {                                                                          \
		int rc_ = (expr);                                                     \
		ck_assert_msg(rc_ == (want), "%s = %s, want %s (%s)", #expr,          \
			      xmig_error_name(rc_), xmig_error_name(want),            \
			      xmig_error_last());                                     \
	} while (0)

/*
 * Payloads for the transport suites: XMIG_TEST_PAYLOAD_ENTRIES iovec entries
 * of sizes the suite chooses (more than the 1024 of IOV_MAX), over one
 * buffer filled with test_pattern(), so that every byte received can be
 * checked; `copy` is the iovec array as given, to show writev left it alone.
 */
#define XMIG_TEST_PAYLOAD_ENTRIES 1030

struct test_payload {
	uint8_t *buf;
	size_t len;
	struct iovec iov[XMIG_TEST_PAYLOAD_ENTRIES];
	struct iovec copy[XMIG_TEST_PAYLOAD_ENTRIES];
};

/* Byte `i` of the pattern seeded with `seed`. */
uint8_t test_pattern(size_t i, uint32_t seed);

/* Allocate and fill p->buf for the entries of `sizes`, set iov and copy. */
void test_payload_fill(struct test_payload *p, uint32_t seed,
		       const size_t sizes[XMIG_TEST_PAYLOAD_ENTRIES]);

/* Fail the test at the first byte of `got` that is not the pattern's. */
void test_payload_check(const uint8_t *got, size_t len, uint32_t seed);

/*
 * A reader thread: reads `len` bytes of `t` into `buf` in the sizes of
 * `pieces` (round robin; reads that end inside the writer's entries), each
 * within 20 s; rc and the library's message of the first failure.
 */
struct test_reader {
	struct xmig_transport *t;
	uint8_t *buf;
	size_t len;
	const size_t *pieces;
	size_t npieces;
	int rc;
	char msg[512];
};

void *test_reader_main(void *arg); /* pthread start routine; arg: a test_reader */

/*
 * A tiny PVH guest image: an ELF64 with one PT_LOAD (`code`, at physical
 * `paddr`) and, if `with_note`, a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY =
 * `paddr`. Written to `buf` (`cap` bytes); returns its size.
 */
size_t tiny_elf(uint8_t *buf, size_t cap, const uint8_t *code, size_t len, uint64_t paddr,
		int with_note);

/*
 * A transport over memory, written by a test's own ops table (as a toolstack
 * would bring its own): writes append to `out`; reads consume `in` up to
 * `in_len` and then report XMIG_EEOF.
 */
struct mem_transport {
	struct xmig_transport base;
	uint8_t *out;
	size_t out_len, out_cap;
	const uint8_t *in;
	size_t in_len, in_pos;
};

void mem_transport_init(struct mem_transport *m, const uint8_t *in, size_t in_len);
void mem_transport_fini(struct mem_transport *m);

/*
 * A stream built record by record into memory (s->w.out, s->w.out_len), for
 * tests that play a sender, well-behaved or not. Records are framed and
 * checksummed as a real sender frames them; their content is the test's.
 */
struct sample {
	struct mem_transport w;
};

void sample_init(struct sample *s);
void put_rec(struct sample *s, uint32_t type, const void *body, size_t len);
/* HEADER of a sim guest: `nr_pages` 4 KiB pages, 2 vCPUs. */
void put_header(struct sample *s, uint64_t nr_pages, uint32_t flags);
/* A batch of `n` <= 16 pages from `pfns` with encodings `enc`; a full page
 * is filled with the byte pfn ^ 0x5a. */
void put_batch(struct sample *s, uint32_t round, unsigned int n, const uint64_t *pfns,
	       const unsigned int *enc);
void put_round_end(struct sample *s, uint32_t round, int final);
/* A vCPU state record: `blob` (<= 56) bytes of 0xab. */
void put_vcpu(struct sample *s, uint32_t vcpu, uint32_t type, size_t blob);

/*
 * A transport that wraps another and breaks at a chosen record: the write of
 * the `nth` (1-based) record of type `type` fails, and every call after it.
 * With `after_write` set, the record is written first and the failure comes
 * right after it (the peer has it; nothing more passes). Reads pass through
 * until the cut; then they fail too.
 */
struct cut_transport {
	struct xmig_transport base;
	struct xmig_transport *inner;
	uint32_t type;
	unsigned int nth;
	int after_write;
	int corrupt;  /* instead of cutting: send that record with a bad checksum */
	int drop;     /* cut without writing that record, yet report it written */
	unsigned int seen;
	int cut;
};

void cut_transport_init(struct cut_transport *c, struct xmig_transport *inner, uint32_t type,
			unsigned int nth, int after_write);

#endif

#include "xmig/sys/backend.h"

/*
 * A backend that wraps another, forwards every hook, counts the calls, and
 * copies guest memory (through map_pages) right after a pause on the source
 * and right before the unpause on the destination: the two images a
 * migration must make equal, page for page.
 */
struct spy_backend {
	struct xmig_backend base;
	struct xmig_backend *inner;
	int pauses, resumes, destroys, unpauses, creates, log_stops, commits;
	uint64_t populated;   /* frames passed to populate */
	uint64_t released;    /* frames passed to release (announced absent) */
	uint8_t *image;       /* snapshot (malloc'd), nr_pages * page_size */
	uint64_t *absent;     /* with the snapshot: bit set = map_pages said NULL */
	uint64_t absent_pages;
	uint64_t image_pages;
	uint32_t page_size;
	int fail_unpause;     /* make unpause fail with XMIG_EBACKEND */
	int fail_restore_complete; /* make restore_complete fail, with a message */
	int restore_completes, restore_complete_after_unpause;
	int fail_destroys;    /* make the next N destroy calls fail (guest kept) */
	/* a device writing behind the guest's back: called right after the
	 * final dirty_fetch (`late` 0), then before each later one (1) */
	void (*device)(struct spy_backend *s, int late);
	void *device_payload;
	int fetched_final;
};

void spy_init(struct spy_backend *s, struct xmig_backend *inner);
void spy_fini(struct spy_backend *s);

/* Index of the first frame absent in one snapshot and not in the other, or -1. */
long long absent_diff(const struct spy_backend *a, const struct spy_backend *b);

/* Index of the first page that differs between two images, or -1. */
long long image_diff(const uint8_t *a, const uint8_t *b, uint64_t pages, uint32_t page_size);
